"""Cumulative DVHs, dose-volume metrics, constraint sets with their published semantics, and verdicts."""

from ._points import support_voxels, values_at_points
from .constraints import (
    Constraint,
    ConstraintSet,
    Interval,
    RiskClass,
    Tier,
    compose_constraints,
    constraint_set_names,
    load_constraint_set,
    parse_constraint_set,
)
from .doses import CaseDoses, CoursePart, StructureDoses, headroom, quantity_name
from .dvh import DVH, dvh, dvh_from_points, dvh_from_samples, metric_unit, volume_metric_unit
from .sampling import StructureSamples, choose_resolution, sample_structure, sample_structures
from .verdicts import DoseTable, Verdict, evaluate

__all__ = [
    "DVH",
    "CaseDoses",
    "CoursePart",
    "Constraint",
    "ConstraintSet",
    "DoseTable",
    "Interval",
    "RiskClass",
    "StructureDoses",
    "Tier",
    "Verdict",
    "compose_constraints",
    "StructureSamples",
    "Verdict",
    "choose_resolution",
    "constraint_set_names",
    "dvh",
    "dvh_from_points",
    "dvh_from_samples",
    "evaluate",
    "headroom",
    "load_constraint_set",
    "metric_unit",
    "parse_constraint_set",
    "quantity_name",
    "sample_structure",
    "sample_structures",
    "support_voxels",
    "values_at_points",
    "volume_metric_unit",
]
