"""accumulate: re-irradiation dose accumulation."""

from .errors import AccumulateError, BackendUnavailable, ConfigError, GeometryError, InputError
from .geometry import DisplacementField, Grid, Volume

__version__ = "0.1.0"

__all__ = [
    "AccumulateError",
    "BackendUnavailable",
    "ConfigError",
    "DisplacementField",
    "GeometryError",
    "Grid",
    "InputError",
    "Volume",
]
