"""The installed distribution: its name on the package index, its version, and how to install an extra.

The distribution is ``accumulate-rt`` (``accumulate`` on the index is an unrelated project); the
import name and the command stay ``accumulate``. The version is read from the installed
metadata, so there is one place that states it: ``pyproject.toml``.
"""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "accumulate-rt"


def _installed_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # a source tree on sys.path, never installed
        return "0+unknown"


__version__ = _installed_version()


def install_hint(extra: str | None = None) -> str:
    """The pip command that installs this package (with ``extra``): ``pip install 'accumulate-rt[cohort]'``."""
    return f"pip install '{DISTRIBUTION}[{extra}]'" if extra else f"pip install {DISTRIBUTION}"
