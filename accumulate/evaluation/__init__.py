"""Cumulative DVHs (grid-voxel or structure-sampled), dose-volume metrics and constraint verdicts."""

from ._points import values_at_points
from .constraints import (
    Constraint,
    ConstraintSet,
    Verdict,
    constraint_set_names,
    evaluate,
    load_constraint_set,
    parse_constraint_set,
)
from .dvh import DVH, dvh, dvh_from_points, dvh_from_samples
from .sampling import StructureSamples, choose_resolution, sample_structure, sample_structures

__all__ = [
    "DVH",
    "Constraint",
    "ConstraintSet",
    "StructureSamples",
    "Verdict",
    "choose_resolution",
    "constraint_set_names",
    "dvh",
    "dvh_from_points",
    "dvh_from_samples",
    "evaluate",
    "load_constraint_set",
    "parse_constraint_set",
    "sample_structure",
    "sample_structures",
    "values_at_points",
]
