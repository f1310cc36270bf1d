"""Plausibility of every number that carries a unit, with explicit, listed overrides.

A re-irradiation verdict is only as good as its inputs: an alpha/beta of 300 (cGy habit), a
reference dose per fraction of 200, an interval of 760 "months" that are days, a limit of
6000 or a dose grid scaled by 1e8 all give a green verdict silently if nobody looks. Every such
value is checked here against a plausible clinical range (:data:`RANGES`, each with its
reasoning and source). A value outside its range is *refused*, with a message naming the file,
the key, the value and the likely slip (cGy for Gy, days for months, percent for fraction),
unless the configuration says that exactly this value is intended::

    [accept]
    "radiobiology.reference_dose_per_fraction" = 1.2   # key = the unusual value that is intended
    "course.prior.interval_months" = 700

An accepted value is kept, marked *overridden*, and listed in the summary and the report. An
``[accept]`` entry whose value differs from the one checked does not apply (the value is
refused and the message says so); one that matches nothing is a warning. Besides values,
``[accept]`` holds three flags: ``absent_structures`` (a list, or ``"all"``), ``patient_ids`` and
``unverified_identity`` (see :mod:`accumulate.config`).

The keys (``[accept]`` uses the same ones):

============================================  ======================================================
key                                           what
============================================  ======================================================
``radiobiology.alpha_beta_default``           alpha/beta outside every named structure, Gy
``radiobiology.alpha_beta.<structure>``       a structure's alpha/beta, Gy
``radiobiology.reference_dose_per_fraction``  x of EQDx, Gy per fraction (0 means BED)
``constraint.<n>.limit`` (``.tolerance``...)  the n-th constraint of the set (1-based)
``course.<name>.fractions``                   number of fractions of a course
``course.<name>.dose_per_fraction_gy``        prescription (else dose maximum) / fractions, Gy
``course.<name>.dose_max_gy``                 the course's dose maximum, Gy
``course.<name>.dose_max_over_prescription``  that maximum / the plan's prescription
``course.<name>.interval_months``             months from the course to the reference course
``course.<name>.rbe``                         constant RBE factor of a physical dose
============================================  ======================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import AccumulateError, ConfigError

#: Finding states, from harmless to blocking.
OK, WARNING, OVERRIDDEN, REFUSED = "ok", "warning", "overridden", "refused"


@dataclass(frozen=True)
class Slip:
    """A likely unit slip: the value divided by ``factor`` would be plausible, ``what`` says which slip."""

    factor: float
    what: str


CGY = Slip(100.0, "cGy typed for Gy")
DAYS = Slip(365.25 / 12, "days typed for months")
WEEKS = Slip(52.18 / 12, "weeks typed for months")
YEARS = Slip(1 / 12, "years typed for months")
PERCENT = Slip(100.0, "a percentage typed for a factor")


@dataclass(frozen=True)
class Range:
    """A plausible closed range ``[low, high]`` of one kind of value, with its unit, reasoning and likely slips."""

    what: str
    unit: str
    low: float
    high: float
    source: str
    slips: tuple[Slip, ...] = ()

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.low:g}-{self.high:g}{unit}"


#: The ranges, each with where it comes from. The README and the closing note list them.
RANGES: dict[str, Range] = {
    "alpha_beta": Range(
        "alpha/beta",
        "Gy",
        0.5,
        25.0,
        "published LQ estimates: late-reacting normal tissues about 0.5-6 Gy, early-reacting tissues and most tumours "
        "about 5-20 Gy (Joiner & van der Kogel, Basic Clinical Radiobiology, 5th ed., ch. 9; van Leeuwen et al., "
        "Radiat Oncol 2018;13:96)",
        (CGY,),
    ),
    "reference_dose_per_fraction": Range(
        "reference dose per fraction x of EQDx",
        "Gy",
        1.0,
        3.0,
        "EQDx is reported at conventional fractionation: EQD2 (ICRU/Bentzen 2012), EQD1.8 in some head-and-neck "
        "series; 0 is accepted as BED",
        (CGY,),
    ),
    "limit_gy": Range(
        "dose limit",
        "Gy",
        0.0,
        200.0,
        "the highest published cumulative re-irradiation limits are about 110-130 Gy EQD2 (carotid, mandible: Dale 2017, "
        "Bots 2017); nothing clinical is scored above 200 Gy",
        (CGY,),
    ),
    "volume_percent": Range("volume", "%", 0.0, 100.0, "a percentage of a structure's volume", ()),
    "tolerance_levels": Range(
        "tolerance level",
        "%",
        50.0,
        300.0,
        "re-irradiation tiers are stated as 100-150 % of a single-course tolerance (Ng 2021: 130 % / 150 %)",
        (),
    ),
    "interval_months": Range(
        "interval since a prior course",
        "months",
        0.0,
        600.0,
        "re-irradiation intervals of days to decades: up to 50 years",
        (DAYS, WEEKS),
    ),
    "fractions": Range(
        "number of fractions",
        "",
        1.0,
        80.0,
        "single-fraction radiosurgery up to hyperfractionation (RTOG 90-03: 68 fractions of 1.2 Gy twice daily)",
        (),
    ),
    "dose_per_fraction_gy": Range(
        "dose per fraction",
        "Gy",
        0.5,
        30.0,
        "from low-dose palliation and hyperfractionation (about 1 Gy) to single-fraction radiosurgery (24 Gy) and HDR "
        "brachytherapy",
        (CGY,),
    ),
    "dose_max_gy": Range(
        "dose maximum of a course",
        "Gy",
        0.5,
        150.0,
        "external-beam courses stay below about 90 Gy prescribed, with hot spots up to about 150 Gy; a maximum far above "
        "is a scaling slip (e.g. a missing DoseGridScaling) or a brachytherapy dose, which needs an explicit accept",
        (CGY,),
    ),
    "dose_max_over_prescription": Range(
        "dose maximum / prescription",
        "",
        0.8,
        2.6,
        "plans reach 100-130 % of their prescription, radiosurgery prescribed to the 40-50 % isodose up to 250 %; "
        "below 80 % the dose is usually one fraction's, or another plan's",
        (),
    ),
    "rbe": Range(
        "constant RBE factor",
        "",
        1.0,
        5.0,
        "1 for photons, 1.1 for protons (ICRU 78), about 2-4 for carbon ions (LEM/MKM), never below 1",
        (PERCENT,),
    ),
}


@dataclass(frozen=True)
class Finding:
    """The outcome of one check: ``state`` ok | warning | overridden | refused, and what it says."""

    key: str
    value: Any
    state: str
    message: str
    where: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "state": self.state, "message": self.message, "where": self.where}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _likely_slip(value: float, limits: Range) -> str:
    for slip in limits.slips:
        if limits.contains(value / slip.factor):
            return f"; {value:g} looks like {slip.what} ({value / slip.factor:.4g} {limits.unit})".rstrip()
    return ""


@dataclass
class Checks:
    """Collects :class:`Finding` objects; values outside their range are refused unless ``accept`` says otherwise.

    Parameters
    ----------
    accept : {key: value}
        The ``[accept]`` table: unusual values that are intended.
    where : str
        The file the values come from (for messages).
    """

    accept: Mapping[str, Any] = field(default_factory=dict)
    where: str = ""
    findings: list[Finding] = field(default_factory=list)

    def add(self, key: str, value: Any, state: str, message: str, where: str | None = None) -> Finding:
        finding = Finding(key, value, state, message, self.where if where is None else where)
        self.findings.append(finding)
        return finding

    def unusual(self, key: str, value: Any, message: str, where: str | None = None) -> Finding:
        """A value that is refused unless ``[accept]`` names exactly it (then overridden)."""
        if key in self.accept:
            if _same(self.accept[key], value):
                return self.add(key, value, OVERRIDDEN, f"{message} (accepted in [accept])", where)
            message += f'; [accept] "{key}" = {self.accept[key]!r} does not match the value {value!r}'
        fix = f'if it is intended, add [accept] "{key}" = {_toml(value)}'
        return self.add(key, value, REFUSED, f"{message}; {fix}", where)

    def number(self, key: str, value: float | None, kind: str, where: str | None = None, what: str | None = None) -> None:
        """Check ``value`` against ``RANGES[kind]`` (``None`` is not checked)."""
        if value is None:
            return
        limits = RANGES[kind]
        label = what or limits.what
        unit = f" {limits.unit}" if limits.unit else ""
        if not math.isfinite(float(value)):
            self.add(key, value, REFUSED, f"{key}: {label} must be a finite number, got {value!r}", where)
            return
        if limits.contains(float(value)):
            self.add(key, value, OK, f"{key} = {value:g}{unit}: within {limits.describe()}", where)
            return
        self.unusual(
            key, value,
            f"{key} = {value:g}{unit} is outside the plausible {label} range {limits.describe()} ({limits.source})"
            + _likely_slip(float(value), limits),
            where,
        )  # fmt: skip

    def warn(self, key: str, value: Any, message: str, where: str | None = None) -> None:
        self.add(key, value, WARNING, message, where)

    @property
    def refused(self) -> list[Finding]:
        return [f for f in self.findings if f.state == REFUSED]

    def raise_if_refused(self, error: type[AccumulateError] = ConfigError) -> None:
        """Raise ``error`` listing every refused value (all of them, not only the first)."""
        refused = self.refused
        if not refused:
            return
        where = {f.where for f in refused if f.where}
        head = f"{', '.join(sorted(where))}: " if len(where) == 1 else ""
        lines = "\n  ".join(f"{f.where}: {f.message}" if len(where) > 1 and f.where else f.message for f in refused)
        raise error(f"{head}{len(refused)} implausible value(s) refused:\n  {lines}")


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return repr(value)
