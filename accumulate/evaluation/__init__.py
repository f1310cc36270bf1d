"""Cumulative DVHs, dose-volume metrics, constraint sets with their published semantics, and verdicts."""

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
from .dvh import DVH, dvh
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
    "constraint_set_names",
    "dvh",
    "evaluate",
    "headroom",
    "load_constraint_set",
    "parse_constraint_set",
    "quantity_name",
]
