"""Cumulative DVHs, dose-volume metrics and constraint verdicts."""

from .constraints import (
    Constraint,
    ConstraintSet,
    Verdict,
    constraint_set_names,
    evaluate,
    load_constraint_set,
    parse_constraint_set,
)
from .dvh import DVH, dvh

__all__ = [
    "DVH",
    "Constraint",
    "ConstraintSet",
    "Verdict",
    "constraint_set_names",
    "dvh",
    "evaluate",
    "load_constraint_set",
    "parse_constraint_set",
]
