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
    a reader, ``short`` a few of them (legends, table headers); ``scope`` and ``quantity``: its
    DVH (``CaseDoses.dvh(structure, scope, quantity)``), ``scope`` None for a quantity without
    DVHs (the remaining dose); ``unit``: ``"Gy"`` or ``"Gy(RBE)"``; ``volume``: values on the
    reference dose grid (NaN where undefined); ``course``: the course it belongs to (None for
    sums); ``kind``: ``"physical"``, ``"eqdx"``, ``"residual"`` (EQDx after recovery) or
    ``"remaining"``.
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
        name, slug, scope = course.name, _slug(course.name), f"course:{course.name}"
        out.append(Quantity(key=f"{slug}-physical", label=f"{name} ({where}): physical dose", short=f"{name} physical",
                            scope=scope, quantity="physical", unit=_unit(physical), volume=physical, course=name,
                            kind="physical"))  # fmt: skip
        if is_reference:
            equivalent = evaluation.new_course
        else:
            equivalent = eqd2(dose, course.fractions, maps.alpha_beta, ref_dose=x, rbe=rbe, backend="numpy")
        out.append(Quantity(key=f"{slug}-{q}", label=f"{name} ({where}): {q.upper()}", short=f"{name} {q.upper()}",
                            scope=scope, quantity=q, unit=_unit(equivalent), volume=equivalent, course=name,
                            kind="eqdx"))  # fmt: skip
        if not is_reference:
            months = prepared.intervals[name]
            residual = residual_map(grid, masks, maps.recovery, months)
            after = equivalent.with_array(np.asarray(equivalent.array, float) * np.asarray(residual.array, float))
            out.append(Quantity(key=f"{slug}-{q}-recovered", label=f"{name}: {q.upper()} after recovery ({months:.1f} months)",
                                short=f"{name} {q.upper()} after recovery", scope=f"residual:{name}", quantity=q,
                                unit=_unit(after), volume=after, course=name, kind="residual"))  # fmt: skip
    physicals = [o.volume for o in out if o.kind == "physical"]
    total = reference.dose.with_array(sum(np.asarray(v.array, float) for v in physicals), unit=_unit(*physicals))
    out.append(Quantity(key="cumulative-physical", label="cumulative physical dose (sum of the courses)",
                        short="cumulative physical", scope="cumulative", quantity="physical", unit=total.unit, volume=total,
                        course=None, kind="physical"))  # fmt: skip
    out.append(Quantity(key=f"cumulative-{q}", label=f"cumulative {q.upper()} (priors after recovery + reference)",
                        short=f"cumulative {q.upper()}", scope="cumulative", quantity=q, unit=_unit(evaluation.cumulative),
                        volume=evaluation.cumulative, course=None, kind="eqdx"))  # fmt: skip
    rbe_reference = reference.config.rbe != 1.0 or reference.dose.unit == "Gy(RBE)"
    out.append(Quantity(key="remaining", label=f"remaining dose in {reference.fractions:g} fractions of '{reference.name}'",
                        short="remaining dose", scope=None, quantity="physical", unit="Gy(RBE)" if rbe_reference else "Gy",
                        volume=evaluation.remaining, course=reference.name, kind="remaining"))  # fmt: skip
    return out
