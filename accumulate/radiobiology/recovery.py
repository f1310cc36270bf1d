"""Tissue recovery between courses: the fraction r(t) of a prior course's EQD2 forgiven after t months.

The residual of a prior course is ``(1 - r(t)) * EQD2``, t being the interval from the end of
that course to the start of the newest one. Every model is a frozen dataclass with
``recovered(months) -> float`` in [0, 1], non-decreasing in time, and ``describe()`` for reports.

Models
------
* :class:`NoRecovery` -- r = 0 (the conservative default).
* :class:`ConstantRecovery` -- r = c for any interval.
* :class:`TableRecovery` -- piecewise-linear (months -> recovered), flat beyond the last point.
* :class:`ExponentialRecovery` -- r = r_max (1 - exp(-(t - t_lag) / tau)) for t > t_lag, else 0:
  the saturating, delayed form of the CNS re-treatment models of Jones B, Grant W, "Retreatment of
  central nervous system tumours", Clin Oncol 2014;26:407-418, doi:10.1016/j.clon.2014.04.027, and
  Woolley TE et al., Int J Radiat Biol 2018;94:515-531 (recovery starts 70 days after the course).

Presets (:data:`PRESETS`, also by name in run configurations)
-------------------------------------------------------------
* ``"none"``.
* ``"cord-conservative"``: 25 % after 6 months, 50 % after 12 months and never more, a common
  conservative clinical convention for spinal cord and brainstem.
* ``"ang2001-primate-cord"``: the recovery measured in rhesus monkey spinal cord after 44 Gy,
  re-irradiated after 1, 2 and 3 years: 76 %, 85 % and 101 % (capped at 100 %); Ang KK et al.,
  Int J Radiat Oncol Biol Phys 2001;50:1013-1020, doi:10.1016/S0360-3016(01)01599-1.
  Experimental data: clinical practice usually assumes less.
* ``"jones-grant-cns"``: :class:`ExponentialRecovery` with the 70-day lag of Jones/Woolley and
  r_max = 0.961, tau = 6.65 months, our least-squares fit of that form to Ang 2001's three points
  (residuals at most 0.075).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import numpy as np

from ..errors import InputError

DAYS_PER_MONTH = 365.25 / 12


def months_between(earlier: date, later: date) -> float:
    """Interval in months (of 365.25/12 days) from ``earlier`` to ``later``.

    Parameters
    ----------
    earlier, later : datetime.date
        E.g. the last fraction of the prior course and the start of the new one.

    Returns
    -------
    float
        Months, >= 0.

    Raises
    ------
    InputError
        When ``later`` comes before ``earlier``.

    Examples
    --------
    >>> from datetime import date
    >>> round(months_between(date(2024, 1, 1), date(2025, 1, 1)), 3)  # 366 days
    12.025
    """
    days = (later - earlier).days
    if days < 0:
        raise InputError(f"course dates out of order: {earlier.isoformat()} is after {later.isoformat()}")
    return days / DAYS_PER_MONTH


def _fraction(value: Any, name: str) -> float:
    number = float(value)
    if not (0.0 <= number <= 1.0):
        raise InputError(f"{name} must be a fraction in [0, 1], got {value!r}")
    return number


def _interval(months: float) -> float:
    months = float(months)
    if not math.isfinite(months) or months < 0:
        raise InputError(f"the interval since a prior course must be finite and >= 0 months, got {months!r}")
    return months


class RecoveryModel(Protocol):
    def recovered(self, months: float) -> float: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class NoRecovery:
    """Nothing recovers: the prior course counts in full."""

    def recovered(self, months: float) -> float:
        _interval(months)
        return 0.0

    def describe(self) -> str:
        return "no recovery"


@dataclass(frozen=True)
class ConstantRecovery:
    """A fixed fraction recovered, whatever the interval."""

    fraction: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "fraction", _fraction(self.fraction, "recovered fraction"))

    def recovered(self, months: float) -> float:
        _interval(months)
        return self.fraction

    def describe(self) -> str:
        return f"constant {100 * self.fraction:g} % recovered"


@dataclass(frozen=True)
class TableRecovery:
    """Piecewise-linear recovery table: ``recovered[i]`` after ``months[i]``.

    Months strictly increasing and >= 0; fractions in [0, 1] and non-decreasing. Before the first
    point the table rises linearly from (0 months, 0); beyond the last it stays flat.
    """

    months: tuple[float, ...]
    recovered_fractions: tuple[float, ...]

    def __post_init__(self) -> None:
        months = tuple(float(m) for m in self.months)
        fractions = tuple(_fraction(r, "recovered fraction in a recovery table") for r in self.recovered_fractions)
        if len(months) == 0 or len(months) != len(fractions):
            raise InputError(f"a recovery table needs as many months as fractions (got {len(months)} and {len(fractions)})")
        if months[0] < 0 or any(b <= a for a, b in zip(months, months[1:], strict=False)):
            raise InputError(f"recovery table months must be >= 0 and strictly increasing, got {list(months)}")
        if any(b < a for a, b in zip(fractions, fractions[1:], strict=False)):
            raise InputError(f"recovered fractions must not decrease with time, got {list(fractions)}")
        if months[0] > 0:
            months, fractions = (0.0, *months), (0.0, *fractions)
        object.__setattr__(self, "months", months)
        object.__setattr__(self, "recovered_fractions", fractions)

    def recovered(self, months: float) -> float:
        return float(np.interp(_interval(months), self.months, self.recovered_fractions))

    def describe(self) -> str:
        points = ", ".join(f"{m:g} mo: {100 * r:g} %" for m, r in zip(self.months, self.recovered_fractions, strict=True))
        return f"table ({points})"


@dataclass(frozen=True)
class ExponentialRecovery:
    """Saturating recovery after a lag: r = r_max (1 - exp(-(t - lag) / tau)), 0 before the lag."""

    r_max: float
    tau_months: float
    lag_months: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "r_max", _fraction(self.r_max, "r_max"))
        if not (math.isfinite(self.tau_months) and self.tau_months > 0):
            raise InputError(f"tau_months must be finite and > 0, got {self.tau_months!r}")
        object.__setattr__(self, "lag_months", _interval(self.lag_months))

    def recovered(self, months: float) -> float:
        elapsed = _interval(months) - self.lag_months
        return 0.0 if elapsed <= 0 else self.r_max * (1.0 - math.exp(-elapsed / self.tau_months))

    def describe(self) -> str:
        return f"exponential r_max={100 * self.r_max:g} %, tau={self.tau_months:g} mo, lag={self.lag_months:g} mo"


PRESETS: dict[str, RecoveryModel] = {
    "none": NoRecovery(),
    "cord-conservative": TableRecovery((0.0, 6.0, 12.0), (0.0, 0.25, 0.5)),
    "ang2001-primate-cord": TableRecovery((0.0, 12.0, 24.0, 36.0), (0.0, 0.76, 0.85, 1.0)),
    "jones-grant-cns": ExponentialRecovery(r_max=0.961, tau_months=6.65, lag_months=70 / DAYS_PER_MONTH),
}


def recovery_model(spec: Any) -> RecoveryModel:
    """A model from a preset name or a config table (``{"model": "table", "months": [...], ...}``).

    Accepted tables: ``{"model": "none"}``, ``{"model": "constant", "recovered": 0.3}``,
    ``{"model": "table", "months": [...], "recovered": [...]}``,
    ``{"model": "exponential", "r_max": 0.5, "tau_months": 6, "lag_months": 2.3}``,
    ``{"model": "<preset name>"}``.

    Parameters
    ----------
    spec : str or dict
        A preset name (see :data:`PRESETS`) or one of the tables above.

    Returns
    -------
    RecoveryModel
        Its ``recovered(months)`` is the fraction of a prior course's EQD2 recovered, in [0, 1].

    Raises
    ------
    InputError
        An unknown model, a missing or unexpected parameter, a value out of range.

    Examples
    --------
    >>> recovery_model({"model": "constant", "recovered": 0.3}).recovered(12.0)
    0.3
    >>> recovery_model("cord-conservative").recovered(6.0)  # the table's middle row
    0.25
    """
    if isinstance(spec, str):
        spec = {"model": spec}
    if not isinstance(spec, dict) or "model" not in spec:
        raise InputError(
            f"a recovery model needs a 'model' key (one of table, constant, exponential, {', '.join(PRESETS)}), got {spec!r}"
        )
    kind, params = spec["model"], {k: v for k, v in spec.items() if k != "model"}
    builders = {
        "table": lambda p: TableRecovery(tuple(p.pop("months")), tuple(p.pop("recovered"))),
        "constant": lambda p: ConstantRecovery(p.pop("recovered")),
        "exponential": lambda p: ExponentialRecovery(
            float(p.pop("r_max")), float(p.pop("tau_months")), float(p.pop("lag_months", 0.0))
        ),
    }
    if kind in builders:
        try:
            model = builders[kind](params)
        except KeyError as exc:
            raise InputError(f"recovery model {kind!r} needs the parameter {exc.args[0]!r}, got {spec!r}") from None
    elif kind in PRESETS:
        model = PRESETS[kind]
    else:
        raise InputError(
            f"unknown recovery model {kind!r}; choose table, constant, exponential or a preset: {', '.join(PRESETS)}"
        )
    if params:
        raise InputError(f"recovery model {kind!r} does not take the parameters {sorted(params)}")
    return model
