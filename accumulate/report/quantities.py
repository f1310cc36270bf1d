"""The dose quantities a report shows: each course physical and EQDx, each prior after recovery, the sums, the remaining dose.

Every quantity lives on the reference dose grid (LPS, mm) and is the same one the verdicts used:
the DVH scope and quantity name of :class:`accumulate.evaluation.CaseDoses` (``"course:prior"``,
``"residual:prior"``, ``"cumulative"``) and, for the pictures, its volume. Physical doses are as
prescribed (Gy, or Gy(RBE) for an RBE-weighted course); EQDx uses the run's alpha/beta map and
reference dose per fraction x; "after recovery" multiplies a prior course's EQDx by the residual
fraction (1 - recovered) of the run's recovery models at that course's interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..geometry import Volume
from ..radiobiology import eqd2, residual_map

if TYPE_CHECKING:
    from ..pipeline import RunResult


@dataclass(frozen=True)
class Quantity:
    """One dose quantity of a run.

    ``key``: a short identifier for pages and files (letters, digits, ``-``); ``label``: words for
    a reader, ``short`` a few of them (legends, table headers); ``scope``/``quantity``: the DVH of it (``CaseDoses.dvh(structure, scope, quantity)``),
    ``scope`` None for a quantity without DVHs (the remaining dose); ``unit``: ``"Gy"`` or
    ``"Gy(RBE)"``; ``volume``: values on the reference dose grid (NaN where undefined);
    ``course``: the course it belongs to (None for sums); ``kind``: ``"physical"``, ``"eqdx"``,
    ``"residual"`` (EQDx after recovery) or ``"remaining"``.
    """

    key: str
    label: str
    short: str
    scope: str | None
    quantity: str
    unit: str
    volume: Volume
    course: str | None
    kind: str

    @property
    def unit_label(self) -> str:
        """The unit with the quantity for axes and headers: ``Gy``, ``Gy EQD2``, ``Gy(RBE) EQD2``."""
        return self.unit if self.quantity == "physical" else f"{self.unit} {self.quantity.upper()}"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _unit(*volumes: Volume) -> str:
    return "Gy(RBE)" if any(v.unit == "Gy(RBE)" for v in volumes) else "Gy"


def run_quantities(result: RunResult) -> list[Quantity]:
    """Every quantity of ``result`` in reading order: per course (oldest first) physical, EQDx and, for a prior, EQDx
    after recovery; then the cumulative physical dose, the cumulative EQDx and the remaining dose."""
    prepared, evaluation = result.prepared, result.evaluation
    reference, q, x = prepared.reference, evaluation.quantity, result.config.reference_dose_per_fraction
    grid, masks, maps = reference.dose.grid, prepared.masks, prepared.maps
    out = []
    for course in prepared.courses:
        is_reference = course is reference
        dose = course.dose if is_reference else prepared.warped[course.name]
        rbe = course.config.rbe
        physical = dose.with_array(np.asarray(dose.array, float) * rbe, unit="Gy(RBE)" if rbe != 1.0 else dose.unit)
        where = "reference course" if is_reference else "prior course, warped to the reference"
        name, slug = course.name, _slug(course.name)
        out.append(Quantity(f"{slug}-physical", f"{name} ({where}): physical dose", f"{name} physical", f"course:{name}", "physical",
                            _unit(physical), physical, name, "physical"))  # fmt: skip
        if is_reference:
            equivalent = evaluation.new_course
        else:
            equivalent = eqd2(dose, course.fractions, maps.alpha_beta, ref_dose=x, rbe=rbe, backend="numpy")
        out.append(Quantity(f"{slug}-{q}", f"{name} ({where}): {q.upper()}", f"{name} {q.upper()}", f"course:{name}", q, _unit(equivalent),
                            equivalent, name, "eqdx"))  # fmt: skip
        if not is_reference:
            months = prepared.intervals[name]
            residual = residual_map(grid, masks, maps.recovery, months)
            after = equivalent.with_array(np.asarray(equivalent.array, float) * np.asarray(residual.array, float))
            out.append(Quantity(f"{slug}-{q}-recovered", f"{name}: {q.upper()} after recovery ({months:.1f} months)",
                                f"{name} {q.upper()} after recovery", f"residual:{name}", q, _unit(after), after, name, "residual"))  # fmt: skip
    physicals = [o.volume for o in out if o.kind == "physical"]
    total = reference.dose.with_array(sum(np.asarray(v.array, float) for v in physicals), unit=_unit(*physicals))
    out.append(Quantity("cumulative-physical", "cumulative physical dose (sum of the courses)", "cumulative physical",
                        "cumulative", "physical",
                        total.unit, total, None, "physical"))  # fmt: skip
    out.append(Quantity(f"cumulative-{q}", f"cumulative {q.upper()} (priors after recovery + reference)",
                        f"cumulative {q.upper()}", "cumulative", q,
                        _unit(evaluation.cumulative), evaluation.cumulative, None, "eqdx"))  # fmt: skip
    rbe_reference = reference.config.rbe != 1.0 or reference.dose.unit == "Gy(RBE)"
    out.append(Quantity("remaining", f"remaining dose in {reference.fractions:g} fractions of '{reference.name}'",
                        "remaining dose", None,
                        "physical", "Gy(RBE)" if rbe_reference else "Gy", evaluation.remaining, reference.name,
                        "remaining"))  # fmt: skip
    return out
