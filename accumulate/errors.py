"""One small hierarchy of errors, so callers can catch what they can handle.

Every message names the argument or file, the value found and what would fix it.
"""

from __future__ import annotations


class AccumulateError(Exception):
    """Base class of every error this package raises on purpose."""


class InputError(AccumulateError, ValueError):
    """Bad input values: negative or NaN dose, zero fractions, unknown structure, corrupt file."""


class GeometryError(AccumulateError, ValueError):
    """Grids that do not match, an orientation that cannot be handled, data outside a grid."""


class ConfigError(AccumulateError, ValueError):
    """A run configuration with a missing, unknown or invalid key."""


class BackendUnavailable(AccumulateError, RuntimeError):
    """A compute backend was asked for explicitly but cannot run here."""


class RegistrationError(AccumulateError, RuntimeError):
    """Image registration failed: images that do not overlap, empty masks, a failed optimisation."""


class OutputError(AccumulateError):
    """Outputs that cannot be written: a folder that is a file or holds other files, no permission, a full disk."""
