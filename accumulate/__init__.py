"""accumulate: re-irradiation dose accumulation.

Register the prior-course CT to the re-irradiation CT, warp the prior dose mass-consistently,
convert every course to EQD2 with per-structure alpha/beta and recovery, sum, and report what
each voxel can still take. Coordinates are DICOM patient coordinates (LPS, mm); arrays are
(z, y, x); doses in Gy. See the README for the conventions in full.
"""

from .accumulation import AccumulationResult, CourseDose, cumulative_eqd2
from .backends import available_backends
from .errors import AccumulateError, BackendUnavailable, ConfigError, GeometryError, InputError, RegistrationError
from .geometry import DisplacementField, Grid, Volume
from .radiobiology import (
    ConstantRecovery,
    ExponentialRecovery,
    NoRecovery,
    TableRecovery,
    alpha_beta_map,
    bed,
    eqd2,
    limit_map,
    max_additional_dose,
    months_between,
    recovery_model,
    residual_map,
)

__version__ = "0.1.0"

__all__ = [
    "AccumulateError",
    "AccumulationResult",
    "BackendUnavailable",
    "ConfigError",
    "ConstantRecovery",
    "CourseDose",
    "DisplacementField",
    "ExponentialRecovery",
    "GeometryError",
    "Grid",
    "InputError",
    "NoRecovery",
    "RegistrationError",
    "TableRecovery",
    "Volume",
    "alpha_beta_map",
    "available_backends",
    "bed",
    "cumulative_eqd2",
    "eqd2",
    "limit_map",
    "max_additional_dose",
    "months_between",
    "recovery_model",
    "residual_map",
]
