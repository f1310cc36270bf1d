"""accumulate: re-irradiation dose accumulation.

Register the prior-course CT to the re-irradiation CT, warp the prior dose mass-consistently,
convert every course to EQD2 with per-structure alpha/beta and recovery, sum, and report what
each voxel can still take. Coordinates are DICOM patient coordinates (LPS, mm); arrays are
(z, y, x); doses in Gy. See the README for the conventions in full.

``accumulate.run(config)`` runs a whole configuration (:func:`accumulate.pipeline.run`); it and
``RunResult`` are imported on first use, so ``import accumulate`` stays light.
"""

from .accumulation import AccumulationResult, CourseDose, cumulative_eqd2
from .backends import available_backends
from .density import density_from_ct
from .distribution import __version__ as __version__
from .errors import AccumulateError, BackendUnavailable, ConfigError, GeometryError, InputError, RegistrationError
from .geometry import DisplacementField, Grid, Volume
from .io import (
    CourseFiles,
    Plan,
    discover_courses,
    find_structure,
    read_ct,
    read_deformable_registration,
    read_dose,
    read_plan,
    read_registration,
    read_structures,
    write_deformable_registration,
    write_dose,
    write_spatial_registration,
)
from .names import AmbiguousStructure
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
from .registration import read_field, register, write_field
from .warp import WarpResult, warp_dose

__all__ = [
    "AccumulateError",
    "AccumulationResult",
    "AmbiguousStructure",
    "BackendUnavailable",
    "ConfigError",
    "ConstantRecovery",
    "CourseDose",
    "CourseFiles",
    "DisplacementField",
    "ExponentialRecovery",
    "GeometryError",
    "Grid",
    "InputError",
    "NoRecovery",
    "Plan",
    "RegistrationError",
    "RunResult",
    "TableRecovery",
    "Volume",
    "WarpResult",
    "alpha_beta_map",
    "available_backends",
    "bed",
    "cumulative_eqd2",
    "density_from_ct",
    "discover_courses",
    "eqd2",
    "find_structure",
    "limit_map",
    "max_additional_dose",
    "months_between",
    "read_ct",
    "read_deformable_registration",
    "read_dose",
    "read_field",
    "read_plan",
    "read_registration",
    "read_structures",
    "recovery_model",
    "register",
    "residual_map",
    "run",
    "warp_dose",
    "write_deformable_registration",
    "write_dose",
    "write_field",
    "write_spatial_registration",
]


_LAZY = {"run": "run", "RunResult": "RunResult"}  # names of accumulate.pipeline, imported on first use


def __getattr__(name: str):
    if name in _LAZY:
        from . import pipeline

        return getattr(pipeline, _LAZY[name])
    raise AttributeError(f"module 'accumulate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
