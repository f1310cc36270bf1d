"""Constraint sets: organ limits on DVH metrics with their published semantics, and how a department composes them.

A constraint set is a TOML file (``configs/constraints/<name>.toml``) or an inline table::

    name = "ng2021-npc"
    description = "..."
    source = "Ng WT et al., IJROBP 2021;110:682-695"   # the set's citation (each constraint may add its own)

    [[constraint]]
    id = "brainstem"             # unique within the set: [constraints] overrides and excludes name it
    structure = "Brainstem"      # canonical name; matched through the structure synonyms
    metric = "D0.03cc"           # Dmax, Dmin, Dmean, D<v>cc, D<p>%, V<x>Gy (cc), V<x>Gy% (%)
    region = "whole"             # whole | surface | core (the central 3 mm diameter structure of the organ)
    scope = "cumulative"         # cumulative (every course) | new_course (the re-irradiation alone)
    quantity = "eqd2"            # eqd2 (or eqd<x>) | physical (the course doses as stored: Gy, or Gy(RBE))
    alpha_beta = 2.0             # evaluate with this alpha/beta, whatever the run's map says (EQDx only)
    assumes_recovery = true      # the limit already credits recovery: compared with the cumulative EQDx
                                 # WITHOUT the run's recovery discount (recovery is counted once)
    kind = "limit"               # limit (scored) | guidance (reported, not scored) | observation (context) | risk
    limit = 45.0                 # one upper limit ...
    strict = false               # true: "<" as published (value == limit fails); default "<="
    published = "55-60"          # the limit as published, shown beside it (a range: the lower end is the limit)
    tiers = [{ name = "desirable", limit = 70.2 }, { name = "acceptable", limit = 81.0, strict = true }]
                                 # ... or tiers, strictest first: the first one met names the verdict;
                                 # beyond the last the constraint is not met
    tolerance = 54.0             # ... or tiers as percentages of a single-course tolerance (strict: the last)
    levels = { desirable = 130, acceptable = 150 }
    steps = [{ min_months = 24, limit = 72.0 }]   # a limit that steps up with the interval
    interval = "<24"             # the constraint applies only when the interval (months) since the prior
    group = "brainstem-carbon"   # course that set the prior dose holds it; constraints of one group are the
                                 # interval alternatives of one limit: where none applies (a published
                                 # boundary such as "<2 y" / ">2 y" at exactly 24 months) the lowest applies
    laterality = "OpticNerve"    # the left/right pair it belongs to ([constraints] one_side_may_exceed)
    pair = "msk-brainstem"       # "whichever is met first": every member must hold; the binding one is named
    observed = "2 carotid blowouts above 100 Gy EQD2"   # for observations: what was observed at the dose
    risk = [{ class = "low", interval = ">24", below = 95.0, toxicity = "9 %" }, ...]   # for kind = "risk"
    otherwise = { class = "intermediate", toxicity = "19 %" }
    source = "..."
    note = "..."

A run's ``[constraints]`` names a set (``set = "ng2021-npc"``), several (``include = [...]``), or
inline ``[[constraints.constraint]]`` tables, and may adapt them: ``exclude = ["<set>.<id>"]``,
``[[constraints.override]]`` (``id = "<set>.<id>"`` and the fields to replace, e.g. a limit) and
``[[constraints.constraint]]`` tables of its own; ``one_side_may_exceed = ["OpticNerve"]`` turns a
left/right pair into one requirement (met when one side is), for a patient whose other side is
functional. Every constraint's full id is ``<set name>.<id>``.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .._resources import resource_dir
from ..errors import ConfigError
from ..plausibility import Checks
from .dvh import METRIC_HELP, METRIC_PATTERN

SCOPES = ("cumulative", "new_course")
REGIONS = ("whole", "surface", "core")
KINDS = ("limit", "guidance", "observation", "risk")
#: Kinds that are scored: only these decide whether a run passes.
SCORED = ("limit",)
_QUANTITY = re.compile(r"^(physical|bed|eqd\d+(\.\d+)?)$")
_INTERVAL = re.compile(r"^\s*(<=|>=|<|>)\s*(\d+(?:\.\d+)?)\s*(months?|mo|y|years?)?\s*$")
_RANGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$")


def equivalent_x(quantity: str) -> float | None:
    """The x (Gy per fraction) of an EQDx quantity name (``"eqd2"`` -> 2.0, ``"bed"`` -> 0.0); None for physical dose."""
    if quantity == "physical":
        return None
    if quantity == "bed":
        return 0.0
    return float(quantity[3:])


@dataclass(frozen=True)
class Interval:
    """A condition on the interval since the prior course, as published: ``"<24"``, ``">=24 months"``, ``">2 y"``."""

    op: str
    months: float
    text: str

    @classmethod
    def parse(cls, text: str, where: str) -> Interval:
        match = _INTERVAL.match(str(text))
        if not match:
            raise ConfigError(f"{where}: interval must be like '<24', '>=24 months' or '>2 y', got {text!r}")
        op, number, unit = match.groups()
        months = float(number) * (12.0 if unit and unit.startswith("y") else 1.0)
        return cls(op, months, str(text).strip())

    def holds(self, months: float) -> bool:
        return {"<": months < self.months, "<=": months <= self.months, ">": months > self.months,
                ">=": months >= self.months}[self.op]  # fmt: skip


@dataclass(frozen=True)
class Tier:
    """One tier of a limit: the verdict ``name`` holds while the value is below ``limit`` (``strict``: ``<``)."""

    name: str
    limit: float
    strict: bool = False

    def holds(self, value: float) -> bool:
        return value < self.limit if self.strict else value <= self.limit

    def describe(self) -> str:
        return f"{self.name} {'<' if self.strict else '<='} {self.limit:g}"


@dataclass(frozen=True)
class RiskClass:
    """A risk class: the interval condition and the side of ``threshold`` (``below`` or ``above``) that give it."""

    name: str
    toxicity: str = ""
    interval: Interval | None = None
    below: float | None = None
    above: float | None = None

    def holds(self, value: float, months: float | None) -> bool:
        if self.interval is not None and (months is None or not self.interval.holds(months)):
            return False
        if self.below is not None and not value < self.below:
            return False
        return self.above is None or value > self.above


@dataclass(frozen=True)
class Constraint:
    """One limit (or guidance, observation, risk classification) on one structure's DVH metric.

    See the module docstring for the fields. ``tiers`` always holds the scored tiers (a single
    ``limit`` is one tier named ``pass``); ``set_name`` is the set it came from.
    """

    structure: str
    metric: str
    tiers: tuple[Tier, ...] = ()
    scope: str = "cumulative"
    quantity: str = "eqd2"
    region: str = "whole"
    alpha_beta: float | None = None
    assumes_recovery: bool = False
    kind: str = "limit"
    steps: tuple[tuple[float, float], ...] = ()
    tolerance: float | None = None
    interval: Interval | None = None
    group: str | None = None
    laterality: str | None = None
    pair: str | None = None
    published: str = ""
    observed: str = ""
    risk: tuple[RiskClass, ...] = ()
    otherwise: RiskClass | None = None
    id: str = ""
    set_name: str = ""
    source: str = ""
    note: str = ""

    @property
    def full_id(self) -> str:
        return f"{self.set_name}.{self.id}" if self.set_name else self.id

    @property
    def limit(self) -> float | None:
        """The scored limit: the last tier's (beyond it the constraint is not met); None for risk classes."""
        return self.tiers[-1].limit if self.tiers else None

    @property
    def scored(self) -> bool:
        return self.kind in SCORED

    @property
    def max_type(self) -> bool:
        """Whether the limit bounds every point of the structure (maximum and near-maximum metrics)."""
        name = self.metric.lower().split()[-1]
        if self.region != "whole" or len(self.metric.split()) > 1:
            return False  # a surface or core maximum bounds a part of the structure only
        return name == "dmax" or (name.startswith("d") and name.endswith("cc") and float(name[1:-2]) <= 0.1)

    def limit_for(self, interval_months: float | None) -> float | None:
        """The scored limit after ``interval_months`` (the highest step reached)."""
        limit = self.limit
        if limit is not None and interval_months is not None:
            for min_months, stepped in self.steps:
                if interval_months >= min_months:
                    limit = stepped
        return limit

    def tiers_for(self, interval_months: float | None) -> tuple[Tier, ...]:
        """The tiers after ``interval_months``: a stepped limit replaces the last tier's limit."""
        limit = self.limit_for(interval_months)
        if not self.tiers or limit == self.limit:
            return self.tiers
        return (*self.tiers[:-1], replace(self.tiers[-1], limit=limit))

    def describe(self) -> str:
        """One line: structure, metric, region, scope, the limit or tiers, interval condition."""
        region = "" if self.region == "whole" else f" ({self.region})"
        scope = "" if self.scope == "cumulative" else f" ({self.scope.replace('_', ' ')})"
        head = f"{self.structure} {self.metric}{region}{scope}"
        when = f" if interval {self.interval.text}" if self.interval else ""
        if self.kind == "risk":
            return f"{head}: risk class{when}"
        if self.tolerance is not None:
            levels = ", ".join(f"{t.name} <= {100 * t.limit / self.tolerance:g} %" for t in self.tiers)
            return f"{head}: {levels} of {self.tolerance:g} Gy{when}"
        if len(self.tiers) > 1:
            return f"{head}: {', '.join(t.describe() for t in self.tiers)}{when}"
        comparator = "<" if self.tiers[0].strict else "<="
        shown = f" ({self.published})" if self.published and self.published != f"{self.limit:g}" else ""
        steps = "".join(f"; {limit:g} after {months:g} mo" for months, limit in self.steps)
        kind = "" if self.kind == "limit" else f" [{self.kind}]"
        return f"{head} {comparator} {self.limit:g}{shown}{steps}{when}{kind}"


@dataclass(frozen=True)
class ConstraintSet:
    """Named constraints, with where they came from and the run's options for them."""

    name: str
    constraints: tuple[Constraint, ...]
    description: str = ""
    origin: str = field(default="inline")
    source: str = ""
    one_side_may_exceed: tuple[str, ...] = ()


# -- parsing ---------------------------------------------------------------------------------------
KEYS = ("id", "structure", "metric", "region", "scope", "quantity", "alpha_beta", "assumes_recovery", "kind", "limit",
        "strict", "published", "tiers", "tolerance", "levels", "steps", "interval", "group", "laterality", "pair",
        "observed", "risk", "otherwise", "source", "note")  # fmt: skip


def _number(table: Mapping[str, Any], key: str, where: str) -> float:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: '{key}' must be a number, got {value!r}")
    return float(value)


def _text(table: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: '{key}' must be a string, got {value!r}")
    return value


def _choice(table: Mapping[str, Any], key: str, choices: Sequence[str], default: str, where: str) -> str:
    value = table.get(key, default)
    if value not in choices:
        raise ConfigError(f"{where}: {key} must be one of {tuple(choices)}, got {value!r}")
    return value


def _tiers(table: Mapping[str, Any], where: str) -> tuple[tuple[Tier, ...], float | None, str]:
    """The tiers from ``limit``, ``tiers`` or ``tolerance`` + ``levels`` (exactly one).

    Also returns the tolerance (or None) and the limit as published.
    """
    given = [key for key in ("limit", "tiers", "tolerance") if key in table]
    if len(given) != 1:
        raise ConfigError(f"{where}: give exactly one of 'limit', 'tiers' or 'tolerance' with 'levels' (got {given or 'none'})")
    published = _text(table, "published", where)
    if "limit" in table:
        value = table["limit"]
        if isinstance(value, str):  # a published range: the lower end is the limit
            match = _RANGE.match(value)
            if not match:
                raise ConfigError(f"{where}: 'limit' must be a number or a published range such as '55-60', got {value!r}")
            low, high = float(match.group(1)), float(match.group(2))
            if high < low:
                raise ConfigError(f"{where}: the range {value!r} must be low-high")
            return (Tier("pass", low, bool(table.get("strict", False))),), None, published or value
        strict = table.get("strict", False)
        if not isinstance(strict, bool):
            raise ConfigError(f"{where}: 'strict' must be true or false, got {strict!r}")
        return (Tier("pass", _number(table, "limit", where), strict),), None, published
    if "tiers" in table:
        raw = table["tiers"]
        if not isinstance(raw, list) or not raw:
            raise ConfigError(f"{where}: 'tiers' must be a list of {{ name = ..., limit = ... }} tables, strictest first")
        tiers = []
        for i, item in enumerate(raw, start=1):
            if not isinstance(item, Mapping) or set(item) - {"name", "limit", "strict"} or "limit" not in item:
                raise ConfigError(f'{where}: tier {i} must be {{ name = "...", limit = <Gy>, strict = false }}, got {item!r}')
            tiers.append(Tier(_text(item, "name", where, f"tier {i}"), _number(item, "limit", f"{where} tier {i}"),
                              bool(item.get("strict", False))))  # fmt: skip
    else:
        tolerance = _number(table, "tolerance", where)
        raw = table.get("levels")
        if not isinstance(raw, Mapping) or not raw:
            raise ConfigError(f"{where}: a 'tolerance' needs 'levels', e.g. {{ desirable = 130, acceptable = 150 }}")
        tiers = [Tier(str(name), tolerance * _number(raw, name, where) / 100) for name in raw]
        tiers[-1] = replace(tiers[-1], strict=bool(table.get("strict", False)))  # "strict" applies to the last tier
    if [t.limit for t in tiers] != sorted(t.limit for t in tiers):
        raise ConfigError(f"{where}: levels must be given from the strictest (lowest limit) up")
    return tuple(tiers), (_number(table, "tolerance", where) if "tolerance" in table else None), published


def _risk_class(item: Any, where: str) -> RiskClass:
    if not isinstance(item, Mapping) or "class" not in item or set(item) - {"class", "toxicity", "interval", "below", "above"}:
        raise ConfigError(
            f"{where}: a risk class is {{ class = ..., interval = '<24', below = <Gy> | above = <Gy>, toxicity = ... }}"
        )
    return RiskClass(
        name=_text(item, "class", where),
        toxicity=_text(item, "toxicity", where),
        interval=Interval.parse(item["interval"], where) if "interval" in item else None,
        below=_number(item, "below", where) if "below" in item else None,
        above=_number(item, "above", where) if "above" in item else None,
    )


def _constraint(table: Mapping[str, Any], where: str, set_name: str, index: int) -> Constraint:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: a constraint must be a table, got {table!r}")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(KEYS)}")
    for key in ("structure", "metric"):
        if not isinstance(table.get(key), str) or not table[key]:
            raise ConfigError(f"{where}: '{key}' is required and must be a string")
    if not METRIC_PATTERN.match(table["metric"]):
        raise ConfigError(f"{where}: unknown metric {table['metric']!r}; use {METRIC_HELP}")
    scope = _choice(table, "scope", SCOPES, "cumulative", where)
    quantity = table.get("quantity", "eqd2")
    if not isinstance(quantity, str) or not _QUANTITY.match(quantity):
        raise ConfigError(f"{where}: quantity must be eqd2 (or eqd<x>, bed) or physical, got {quantity!r}")
    kind = _choice(table, "kind", KINDS, "limit", where)
    risk, otherwise = (), None
    if kind == "risk":
        if "risk" not in table or not isinstance(table["risk"], list) or not table["risk"]:
            raise ConfigError(f"{where}: a risk classification needs 'risk' = [ {{ class = ..., ... }}, ... ]")
        risk = tuple(_risk_class(item, where) for item in table["risk"])
        otherwise = _risk_class(table["otherwise"], where) if "otherwise" in table else None
        tiers, tolerance, published = (), None, _text(table, "published", where)
    else:
        tiers, tolerance, published = _tiers(table, where)
    steps: list[tuple[float, float]] = []
    for i, step in enumerate(table.get("steps", [])):
        steps.append((_number(step, "min_months", f"{where} step {i + 1}"), _number(step, "limit", f"{where} step {i + 1}")))
    if [s[0] for s in steps] != sorted(s[0] for s in steps):
        raise ConfigError(f"{where}: steps must be in increasing min_months")
    alpha_beta = _number(table, "alpha_beta", where) if "alpha_beta" in table else None
    if alpha_beta is not None and quantity == "physical":
        raise ConfigError(f"{where}: an alpha_beta applies to EQDx limits, not to quantity = 'physical'")
    region = _choice(table, "region", REGIONS, "whole", where)
    return Constraint(
        structure=table["structure"], metric=table["metric"], tiers=tiers, scope=scope, quantity=quantity, region=region,
        alpha_beta=alpha_beta, assumes_recovery=bool(table.get("assumes_recovery", False)), kind=kind, steps=tuple(steps),
        tolerance=tolerance, interval=Interval.parse(table["interval"], where) if "interval" in table else None,
        group=table.get("group"), laterality=table.get("laterality"), pair=table.get("pair"), published=published,
        observed=_text(table, "observed", where), risk=risk, otherwise=otherwise,
        id=_text(table, "id", where, f"{index}"), set_name=set_name, source=_text(table, "source", where),
        note=_text(table, "note", where),
    )  # fmt: skip


def parse_constraint_set(table: Mapping[str, Any], origin: str = "inline") -> ConstraintSet:
    """A ConstraintSet from a parsed TOML table; errors name ``origin`` and the constraint.

    Parameters
    ----------
    table : mapping
        A constraint set's TOML as parsed: ``name``, ``description``, ``source`` and its
        ``[[constraint]]`` tables (see the module docstring for their keys).
    origin : str
        Where the table came from, for the messages.

    Returns
    -------
    ConstraintSet

    Raises
    ------
    ConfigError
        No constraint, repeated ids, or a constraint with unknown keys or bad values.

    Examples
    --------
    >>> constraint = {"id": "cord", "structure": "SpinalCord", "metric": "D0.03cc", "limit": 50.0, "alpha_beta": 2.0}
    >>> rules = parse_constraint_set({"name": "local", "constraint": [constraint]})
    >>> rules.name, [c.id for c in rules.constraints]
    ('local', ['cord'])
    """
    entries = table.get("constraint", [])
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{origin}: a constraint set needs at least one [[constraint]] table")
    name = str(table.get("name", Path(origin).stem))
    constraints = tuple(_constraint(entry, f"{origin}: constraint {i + 1}", name, i + 1) for i, entry in enumerate(entries))
    ids = [c.id for c in constraints]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"{origin}: constraint ids must be unique within a set; repeated: {duplicates}")
    return ConstraintSet(name, constraints, str(table.get("description", "")), origin, str(table.get("source", "")))


def constraint_set_names() -> list[str]:
    """Names of the constraint sets shipped in ``configs/constraints``.

    Returns
    -------
    list of str
        Sorted; each loads with :func:`load_constraint_set`.

    Examples
    --------
    >>> "hn-reirradiation" in constraint_set_names()
    True
    """
    return sorted(p.stem for p in (resource_dir("configs") / "constraints").glob("*.toml"))


def load_constraint_set(name_or_path: str | Path) -> ConstraintSet:
    """A shipped set by name (``"hn-reirradiation"``) or a TOML file by path.

    Parameters
    ----------
    name_or_path : str or Path
        A name from :func:`constraint_set_names`, or a path ending in ``.toml``.

    Returns
    -------
    rules : ConstraintSet
        Its constraints in the file's order, ``origin`` the file.

    Raises
    ------
    ConfigError
        An unknown name (the shipped ones are listed), an unreadable file, a bad set.

    Examples
    --------
    >>> rules = load_constraint_set("hn-reirradiation")
    >>> rules.name, rules.constraints[0].id
    ('hn-reirradiation', 'spinal-cord')
    """
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = resource_dir("configs") / "constraints" / f"{name_or_path}.toml"
        if not path.exists():
            raise ConfigError(f"unknown constraint set {name_or_path!r}; shipped sets: {', '.join(constraint_set_names())}")
    try:
        table = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read constraint set {path}: {exc}") from None
    return parse_constraint_set(table, str(path))


# -- composition -----------------------------------------------------------------------------------
COMPOSE_KEYS = ("set", "include", "exclude", "override", "constraint", "one_side_may_exceed", "name", "description")


def compose_constraints(table: Mapping[str, Any], where: str, base: Path) -> ConstraintSet:
    """A run's ``[constraints]``: shipped sets or files (``set`` / ``include``), minus ``exclude``, with ``override``
    tables applied, plus inline ``[[constraints.constraint]]`` tables (see the module docstring).

    Parameters
    ----------
    table : mapping
        The ``[constraints]`` table as parsed (keys :data:`COMPOSE_KEYS`).
    where : str
        Where it came from, for the messages.
    base : Path
        Folder that relative ``.toml`` paths are taken from (the configuration's).

    Returns
    -------
    ConstraintSet
        The included sets' constraints in order, then the inline ones; ids are ``<set>.<id>``.

    Raises
    ------
    ConfigError
        Unknown keys, unknown sets, an exclude or override naming no constraint, repeated ids.

    Examples
    --------
    >>> table = {"set": "hn-reirradiation", "exclude": ["hn-reirradiation.spinal-cord"]}
    >>> rules = compose_constraints(table, "example", Path("."))
    >>> len(rules.constraints), "hn-reirradiation.spinal-cord" in [c.id for c in rules.constraints]
    (9, False)
    """
    unknown = sorted(set(table) - set(COMPOSE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {list(COMPOSE_KEYS)}")
    names = table.get("include", [])
    if "set" in table:
        names = [table["set"], *names]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{where}: 'include' must be a list of set names or .toml paths")
    sets = [load_constraint_set(base / n if n.endswith(".toml") else n) for n in names]
    if "constraint" in table:
        sets.append(parse_constraint_set({"name": str(table.get("name", "local")), "constraint": table["constraint"]}, where))
    if not sets:
        raise ConfigError(f"{where}: name a constraint set ('set' or 'include') or give [[constraints.constraint]] tables")
    constraints = {c.full_id: c for s in sets for c in s.constraints}
    if len(constraints) != sum(len(s.constraints) for s in sets):
        raise ConfigError(f"{where}: two included sets have the same name; each set may be included once")
    for full_id in table.get("exclude", []):
        if full_id not in constraints:
            raise ConfigError(f"{where}: exclude names {full_id!r}, which is not in {sorted(constraints)}")
        del constraints[full_id]
    for i, override in enumerate(table.get("override", []), start=1):
        spot = f"{where} override {i}"
        if not isinstance(override, Mapping) or not isinstance(override.get("id"), str):
            raise ConfigError(f"{spot}: an override needs the 'id' (<set>.<id>) of the constraint it changes")
        target = constraints.get(override["id"])
        if target is None:
            raise ConfigError(f"{spot}: no constraint {override['id']!r}; the constraints are {sorted(constraints)}")
        changes = {k: v for k, v in override.items() if k != "id"}
        if not changes.get("source"):
            raise ConfigError(f"{spot}: say where the changed value comes from ('source'), e.g. the department's protocol")
        merged = {**_as_table(target), **changes}
        for key in ("limit", "tiers", "tolerance"):  # a new limit replaces the old one's form
            if key in changes:
                for other in {"limit", "tiers", "tolerance", "levels"} - {key, "levels" if key == "tolerance" else ""}:
                    merged.pop(other, None)
        constraints[override["id"]] = _constraint(merged, spot, target.set_name, 0)
    lateral = table.get("one_side_may_exceed", [])
    if not isinstance(lateral, list) or not all(isinstance(n, str) for n in lateral):
        raise ConfigError(f'{where}: one_side_may_exceed must be a list of laterality names, e.g. ["OpticNerve"]')
    name = str(table.get("name", "+".join(s.name for s in sets)))
    origin = ", ".join(s.origin for s in sets)
    return ConstraintSet(name, tuple(constraints.values()), str(table.get("description", "")), origin,
                         "; ".join(s.source for s in sets if s.source), tuple(lateral))  # fmt: skip


def _as_table(c: Constraint) -> dict[str, Any]:
    """The TOML table that parses back into ``c`` (for overrides)."""
    out: dict[str, Any] = {"id": c.id, "structure": c.structure, "metric": c.metric, "region": c.region, "scope": c.scope,
                           "quantity": c.quantity, "assumes_recovery": c.assumes_recovery, "kind": c.kind, "source": c.source,
                           "note": c.note, "published": c.published, "observed": c.observed}  # fmt: skip
    if c.kind == "risk":
        out["risk"] = [_risk_table(r) for r in c.risk]
        if c.otherwise is not None:
            out["otherwise"] = _risk_table(c.otherwise)
    elif c.tolerance is not None:
        out["tolerance"] = c.tolerance
        out["levels"] = {t.name: 100 * t.limit / c.tolerance for t in c.tiers}
    else:
        out["tiers"] = [{"name": t.name, "limit": t.limit, "strict": t.strict} for t in c.tiers]
    optional = {"alpha_beta": c.alpha_beta, "interval": c.interval.text if c.interval else None, "group": c.group,
                "laterality": c.laterality, "pair": c.pair}  # fmt: skip
    out.update({k: v for k, v in optional.items() if v is not None})
    if c.steps:
        out["steps"] = [{"min_months": m, "limit": v} for m, v in c.steps]
    return out


def _risk_table(r: RiskClass) -> dict[str, Any]:
    out: dict[str, Any] = {"class": r.name, "toxicity": r.toxicity}
    if r.interval is not None:
        out["interval"] = r.interval.text
    out.update({k: v for k, v in (("below", r.below), ("above", r.above)) if v is not None})
    return out


# -- plausibility ----------------------------------------------------------------------------------
def check_limits(constraints: ConstraintSet, checks: Checks) -> None:
    """Plausibility of every limit of ``constraints`` (keys ``constraint.<n>.<field>``, n from 1).

    See :mod:`accumulate.plausibility` for the ranges and how ``[accept]`` overrides them.
    """
    for n, c in enumerate(constraints.constraints, start=1):
        key = f"constraint.{n}"
        what = f"limit of {c.structure} {c.metric}"
        match = METRIC_PATTERN.match(c.metric)
        volume_metric = match is not None and match.group(5) is not None
        if volume_metric:
            if match.group(6).lower() != "%rx":
                checks.number(
                    f"{key}.metric", float(match.group(5)), "limit_gy", what=f"dose threshold of {c.structure} {c.metric}"
                )
            for tier in c.tiers:
                if match.group(6).endswith("%") or match.group(6).lower() == "%rx":
                    checks.number(f"{key}.limit", tier.limit, "volume_percent", what=what)
        else:
            for tier in c.tiers:
                checks.number(f"{key}.limit" if len(c.tiers) == 1 else f"{key}.tiers.{tier.name}", tier.limit, "limit_gy",
                              what=what)  # fmt: skip
        if c.tolerance is not None:
            checks.number(f"{key}.tolerance", c.tolerance, "limit_gy", what=f"tolerance of {c.structure} {c.metric}")
            for tier in c.tiers:
                checks.number(f"{key}.levels.{tier.name}", round(100 * tier.limit / c.tolerance, 6), "tolerance_levels")
        if c.alpha_beta is not None:
            checks.number(f"{key}.alpha_beta", c.alpha_beta, "alpha_beta", what=f"alpha/beta of {c.structure} {c.metric}")
        for i, (months, limit) in enumerate(c.steps, start=1):
            checks.number(f"{key}.steps.{i}.min_months", months, "interval_months")
            if not volume_metric:
                checks.number(f"{key}.steps.{i}.limit", limit, "limit_gy", what=f"stepped {what}")
        if c.interval is not None:
            checks.number(f"{key}.interval", c.interval.months, "interval_months")
