"""Constraint sets: organ limits on DVH metrics, and their verdicts.

A constraint set is a TOML file (``configs/constraints/<name>.toml``) or an inline table::

    name = "hn-reirradiation"
    [[constraint]]
    structure = "SpinalCord"     # canonical name; matched through the structure synonyms
    metric = "D0.03cc"           # Dmax, Dmin, Dmean, D<v>cc, D<p>%, V<x>Gy (cc), V<x>Gy% (%), V<p>%Rx (%); "core Dmax"
    scope = "cumulative"         # cumulative (default) | new_course (the re-irradiation alone)
    quantity = "eqd2"            # eqd2 (default) | physical
    limit = 45.0                 # upper limit on the metric (Gy for D-metrics, cc or % for V-metrics)
    source = "..."
    # limits that step up with the interval since the last prior course:
    steps = [{ min_months = 24, limit = 72.0 }]
    # or a limit as percentages of a single-course tolerance (levels checked in order):
    # tolerance = 50.0
    # levels = { desirable = 130, acceptable = 150 }

Every limit is an upper bound: the verdict is ``pass`` when value <= limit (``desirable`` /
``acceptable`` / ``exceeded`` for percentage levels), and the margin is limit - value.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._resources import resource_dir
from ..errors import ConfigError
from .dvh import _METRIC, _METRIC_HELP, DVH

SCOPES = ("cumulative", "new_course")
QUANTITIES = ("eqd2", "physical")


@dataclass(frozen=True)
class Constraint:
    """One limit on one structure's DVH metric (see the module docstring for the fields)."""

    structure: str
    metric: str
    limit: float | None = None
    scope: str = "cumulative"
    quantity: str = "eqd2"
    steps: tuple[tuple[float, float], ...] = ()
    tolerance: float | None = None
    levels: tuple[tuple[str, float], ...] = ()
    source: str = ""

    def limit_for(self, interval_months: float | None) -> float:
        """The limit that applies after ``interval_months`` (the highest step reached; base limit otherwise)."""
        if self.tolerance is not None:
            return self.tolerance * self.levels[-1][1] / 100
        limit = float(self.limit)
        if interval_months is not None:
            for min_months, stepped in self.steps:
                if interval_months >= min_months:
                    limit = stepped
        return limit

    def describe(self) -> str:
        scope = "" if self.scope == "cumulative" else f" ({self.scope.replace('_', ' ')})"
        if self.tolerance is not None:
            levels = ", ".join(f"{name} <= {pct:g} %" for name, pct in self.levels)
            return f"{self.structure} {self.metric}{scope}: {levels} of {self.tolerance:g} Gy"
        steps = "".join(f"; {limit:g} after {months:g} mo" for months, limit in self.steps)
        return f"{self.structure} {self.metric}{scope} <= {self.limit:g}{steps}"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one constraint: value, limit, margin (limit - value) and verdict."""

    constraint: Constraint
    structure_found: str | None
    value: float | None
    limit: float
    margin: float | None
    verdict: str  # pass | fail | desirable | acceptable | exceeded | not evaluated
    note: str = ""

    @property
    def passed(self) -> bool | None:
        if self.value is None:
            return None
        return self.verdict in ("pass", "desirable", "acceptable")


@dataclass(frozen=True)
class ConstraintSet:
    name: str
    constraints: tuple[Constraint, ...]
    description: str = ""
    origin: str = field(default="inline")


def _number(table: Mapping[str, Any], key: str, where: str) -> float:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: '{key}' must be a number, got {value!r}")
    return float(value)


def _constraint(table: Mapping[str, Any], where: str) -> Constraint:
    known = {"structure", "metric", "limit", "scope", "quantity", "steps", "tolerance", "levels", "source", "alpha_beta"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(known)}")
    for key in ("structure", "metric"):
        if not isinstance(table.get(key), str) or not table[key]:
            raise ConfigError(f"{where}: '{key}' is required and must be a string")
    if not _METRIC.match(table["metric"]):
        raise ConfigError(f"{where}: unknown metric {table['metric']!r}; use {_METRIC_HELP}")
    scope, quantity = table.get("scope", "cumulative"), table.get("quantity", "eqd2")
    if scope not in SCOPES:
        raise ConfigError(f"{where}: scope must be one of {SCOPES}, got {scope!r}")
    if quantity not in QUANTITIES:
        raise ConfigError(f"{where}: quantity must be one of {QUANTITIES}, got {quantity!r}")
    has_limit, has_tolerance = "limit" in table, "tolerance" in table
    if has_limit == has_tolerance:
        raise ConfigError(f"{where}: give either 'limit' or 'tolerance' with 'levels'")
    steps: list[tuple[float, float]] = []
    for i, step in enumerate(table.get("steps", [])):
        steps.append((_number(step, "min_months", f"{where} step {i + 1}"), _number(step, "limit", f"{where} step {i + 1}")))
    if [s[0] for s in steps] != sorted(s[0] for s in steps):
        raise ConfigError(f"{where}: steps must be in increasing min_months")
    levels: tuple[tuple[str, float], ...] = ()
    if has_tolerance:
        raw = table.get("levels")
        if not isinstance(raw, Mapping) or not raw:
            raise ConfigError(f"{where}: a 'tolerance' needs 'levels', e.g. {{ desirable = 130, acceptable = 150 }}")
        levels = tuple((str(name), _number(raw, name, where)) for name in raw)
        if [p for _, p in levels] != sorted(p for _, p in levels):
            raise ConfigError(f"{where}: levels must be given from the strictest (lowest percentage) up")
    return Constraint(
        structure=table["structure"],
        metric=table["metric"],
        limit=_number(table, "limit", where) if has_limit else None,
        scope=scope,
        quantity=quantity,
        steps=tuple(steps),
        tolerance=_number(table, "tolerance", where) if has_tolerance else None,
        levels=levels,
        source=str(table.get("source", "")),
    )


def parse_constraint_set(table: Mapping[str, Any], origin: str = "inline") -> ConstraintSet:
    """A ConstraintSet from a parsed TOML table; errors name ``origin`` and the constraint."""
    entries = table.get("constraint", [])
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{origin}: a constraint set needs at least one [[constraint]] table")
    constraints = tuple(_constraint(entry, f"{origin}: constraint {i + 1}") for i, entry in enumerate(entries))
    return ConstraintSet(str(table.get("name", Path(origin).stem)), constraints, str(table.get("description", "")), origin)


def constraint_set_names() -> list[str]:
    """Names of the constraint sets shipped in ``configs/constraints``."""
    return sorted(p.stem for p in (resource_dir("configs") / "constraints").glob("*.toml"))


def load_constraint_set(name_or_path: str | Path) -> ConstraintSet:
    """A shipped set by name (``"hn-reirradiation"``) or a TOML file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = resource_dir("configs") / "constraints" / f"{name_or_path}.toml"
        if not path.exists():
            raise ConfigError(f"unknown constraint set {name_or_path!r}; shipped sets: {', '.join(constraint_set_names())}")
    try:
        table = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read constraint set {path}: {exc}") from None
    return parse_constraint_set(table, str(path))


def evaluate(
    constraints: ConstraintSet,
    dvhs: Mapping[tuple[str, str], Mapping[str, DVH]],
    find_structure: Callable[[str], str | None],
    interval_months: float | None = None,
) -> list[Verdict]:
    """Verdicts for every constraint.

    Parameters
    ----------
    dvhs : {(scope, quantity): {structure name in the case: DVH}}
        E.g. ``("cumulative", "eqd2")`` for the cumulative EQD2 and ``("new_course", "physical")``.
    find_structure : callable
        Maps a constraint's canonical structure name to the case's name (synonyms), or None.
    interval_months : float, optional
        Time since the last prior course, for limits that step up with the interval.
    """
    verdicts = []
    for constraint in constraints.constraints:
        limit = constraint.limit_for(interval_months)
        found = find_structure(constraint.structure)
        table = dvhs.get((constraint.scope, constraint.quantity), {})
        if found is None or found not in table:
            note = "structure not in this case" if found is None else f"no {constraint.scope} {constraint.quantity} DVH"
            verdicts.append(Verdict(constraint, found, None, limit, None, "not evaluated", note))
            continue
        value = table[found].metric(constraint.metric)
        verdicts.append(Verdict(constraint, found, value, limit, limit - value, _verdict(constraint, value, limit)))
    return verdicts


def _verdict(constraint: Constraint, value: float, limit: float) -> str:
    if constraint.tolerance is None:
        return "pass" if value <= limit else "fail"
    for name, percent in constraint.levels:
        if value <= constraint.tolerance * percent / 100:
            return name
    return "exceeded"
