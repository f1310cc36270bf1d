"""Stage 7's DICOM objects, each saying what it is so that a planning system imports it as that.

* ``field_<course>.dcm``: Deformable Spatial Registration, reference CT frame -> the prior CT
  frame, referencing both CT series (the prior's images in the registration item, both in the
  Common Instance Reference module).
* ``warped_<course>.dcm``: the prior course's dose on the reference dose grid. DoseSummationType
  PLAN of the prior plan (RT Plan or RT Ion Plan class as it is), SpatialTransformOfDose
  NON_RIGID with the REG above, the prior RTDOSE as its source dose.
* ``cumulative_eqd2.dcm`` (EFFECTIVE; ``cumulative_eqd<x>.dcm`` for another reference dose per
  fraction) and ``cumulative_physical.dcm``: MULTI_PLAN of every
  course's plan, NON_RIGID with every REG, every course's RTDOSE as a source; the EQDx, the
  alpha/beta values, the reference dose per fraction and the recovery in SeriesDescription,
  DoseComment and DerivationDescription.
* ``remaining_dose.dcm``: the largest additional dose per voxel for the planned fractionation of
  the reference course (PHYSICAL; EFFECTIVE when that course is RBE-weighted), capped at
  :func:`remaining_dose_cap`, the dose of no plan (a placeholder plan UID, see
  :func:`accumulate.io.placeholder_plan`); ``remaining_dose_nolimit.mha`` marks (1) where no limit
  applies, and ``remaining_dose_regions.dcm`` (RTSTRUCT on the reference CT) holds the
  "limits apply" and avoidance ROIs.

Every series has its own SeriesNumber (:data:`SERIES_NUMBERS`, plus one per prior course for
the warped doses and the REGs). Every derived dose is ImageType DERIVED\\SECONDARY with its
DerivationCodeSequence (CID 7220).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..geometry import Volume
from ..io import (
    COMPOSED_FROM_DEFORMABLE_REGISTRATION,
    COMPOSED_FROM_PRIOR_DOSES,
    COMPOSED_WITH_CURRENT_PLAN,
    COMPOSED_WITH_RADIOBIOLOGY,
    IMAGE_CONTENT_BASED,
    DoseDerivation,
    InstanceReference,
    instance_reference,
    placeholder_plan,
    referenced_plans_of,
    write_deformable_registration,
    write_dose,
    write_itk_volume,
    write_structure_set,
)
from ..registration import write_field
from ._courses import LoadedCourse
from ._evaluate import binding_limits
from ._regions import AVOIDANCE_GY_PER_FRACTION, LIMITED_ROI, remaining_dose_regions

if TYPE_CHECKING:
    from ._result import RunResult

log = logging.getLogger("accumulate")

#: SeriesNumber of each output; the warped dose and the REG of the i-th prior course (from 0) get
#: WARPED_SERIES + i and REG_SERIES + i.
SERIES_NUMBERS = {"cumulative_eqdx": 901, "cumulative_physical": 902, "remaining_dose": 903, "remaining_dose_regions": 904}
WARPED_SERIES, REG_SERIES = 910, 950


def remaining_dose_cap(reference: LoadedCourse) -> float:
    """The value written in ``remaining_dose.dcm`` where no limit applies, and the most it holds, Gy.

    The larger of the reference course's prescription (TargetPrescriptionDose of its plan, when
    there is one) and its own dose maximum, rounded up to a whole Gy (a maximum less than 1 mGy
    above a whole Gy, as stored doses quantise, counts as that Gy): headroom at or above it cannot
    limit that plan anywhere, and a display of the map spans the plan's own dose range.
    """
    dose_max = float(np.nanmax(np.asarray(reference.dose.to_numpy().array, dtype=float)))
    prescription = reference.plan.prescription_gy if reference.plan is not None else None
    return float(math.ceil(max(dose_max, prescription or 0.0) - 1e-3))


def safe_name(name: str) -> str:
    """A file-name-safe form of a course name (no path separators or odd characters)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "course"


def _dose_reference(course: LoadedCourse) -> InstanceReference | None:
    """The course's RTDOSE as a reference; None for a dose given as MHA/NRRD/NIfTI."""
    try:
        return instance_reference(course.dose_path)
    except InputError:
        return None


def _plans(course: LoadedCourse) -> list[InstanceReference]:
    """The course's plan (with its own SOP class), else the plans its RTDOSE references."""
    if course.plan is not None:
        return [course.plan.reference]
    try:
        return referenced_plans_of(course.dose_path)
    except InputError:
        return []


def _frame(course: LoadedCourse) -> str | None:
    if course.plan is not None and course.plan.frame_of_reference_uid:
        return course.plan.frame_of_reference_uid
    return course.ct_series.frame_uid if course.ct_series is not None else None


def _alpha_beta(result: RunResult) -> tuple[str, str]:
    """The alpha/beta used, short (for a 64-character description) and in full (for DerivationDescription)."""
    config, values = result.config, result.prepared.maps.alpha_beta_values
    default = config.alpha_beta_default
    short = f"a/b per structure, default {default:g} Gy" if values else f"a/b {default:g} Gy"
    priority = config.alpha_beta_priority
    priority = priority if isinstance(priority, str) else ", ".join(priority)
    per = "; ".join(f"{name} {value:g}" for name, value in values.items())
    full = f"alpha/beta [Gy] from [radiobiology]: {per + '; ' if per else ''}elsewhere {default:g}; overlaps: {priority}"
    return short, full


def _recovery(result: RunResult) -> str:
    models = "; ".join(f"{name} {model.describe()}" for name, model in result.prepared.maps.recovery.items())
    return f"recovery: {models or 'none'}"


def _courses(result: RunResult) -> str:
    """The courses in words (their plans, doses and REGs are in the references): fractions, role, date."""
    prepared = result.prepared
    parts = [
        f"{c.name} {c.fractions:g} fx{', ' + c.date.isoformat() if c.date else ''}"
        + (" (reference)" if c is prepared.reference else f" (deformed, {prepared.intervals[c.name]:.1f} months before)")
        for c in prepared.courses
    ]
    return "Courses: " + "; ".join(parts)


def _describe(*parts: str) -> str:
    """A DerivationDescription from its parts, within the 1024 characters of ST."""
    text = ". ".join(parts) + "."
    return text if len(text) <= 1024 else text[:1021] + "..."


@dataclass
class _Writer:
    """What every derived RTDOSE of one run shares: the folder, the reference course's file, the sources and REGs."""

    result: RunResult
    files: dict[str, Path]
    doses: dict[str, InstanceReference | None]
    regs: dict[str, InstanceReference] = field(default_factory=dict)

    @property
    def deformed(self) -> list[tuple[str, str]]:
        return [COMPOSED_FROM_DEFORMABLE_REGISTRATION] if self.result.prepared.priors else []

    def dose(self, key: str, volume: Volume, quantity: str, plans: list[InstanceReference], description: str,
             codes: list[tuple[str, str]], sources: list[str], series: int, dose_type: str | None = None) -> None:  # fmt: skip
        """Write ``<key>.dcm`` of the courses named in ``sources`` (their RTDOSEs, and the REGs of the priors among them)."""
        prepared = self.result.prepared
        registrations = [self.regs[name] for name in sources if name in self.regs]
        derivation = DoseDerivation(description, codes + self.deformed, [self.doses[n] for n in sources if self.doses[n]],
                                    "NON_RIGID" if any(n != prepared.reference.name for n in sources) else "NONE",
                                    registrations)  # fmt: skip
        self.files[key] = write_dose(volume, self.result.output_dir / f"{key}.dcm", like=prepared.reference.dose_path,
                                     quantity=quantity, dose_type=dose_type, referenced_plans=plans or [placeholder_plan()],
                                     series_number=series, derivation=derivation)  # fmt: skip


def write_dicom_outputs(result: RunResult) -> dict[str, Path]:
    """Write the registrations, doses, no-limit mask and regions of a run into ``result.output_dir``.

    Returns the files by key: ``field_<course>`` (MHA), ``reg_<course>`` (DICOM REG, where the
    field is on the reference CT grid and the frames are known), ``warped_<course>``,
    ``cumulative_<eqdx>`` (``cumulative_eqd2``), ``cumulative_physical``, ``remaining_dose``, ``remaining_dose_nolimit``
    and ``remaining_dose_regions`` (when the reference course has a DICOM CT series).
    """
    out, config, prepared = result.output_dir, result.config, result.prepared
    reference, x = prepared.reference, config.reference_dose_per_fraction
    writer = _Writer(result, {}, {course.name: _dose_reference(course) for course in prepared.courses})
    for i, course in enumerate(prepared.priors):
        name, field_ = safe_name(course.name), prepared.fields[course.name]
        writer.files[f"field_{name}"] = write_field(field_, out / f"field_{name}.mha")
        moving_frame = _frame(course)
        if reference.ct is not None and moving_frame and field_.grid.is_close(reference.ct.grid):
            how = str(prepared.registration[course.name].get("field", ""))
            path = write_deformable_registration(
                field_, out / f"field_{name}.dcm", fixed_like=reference.dose_path, moving_frame_uid=moving_frame,
                description=f"{reference.name} CT -> {course.name} CT, deformable",
                fixed_images=reference.ct_series, moving_images=course.ct_series,
                method=IMAGE_CONTENT_BASED if how.startswith("elastix") else None, series_number=REG_SERIES + i,
            )  # fmt: skip
            writer.files[f"reg_{name}"], writer.regs[course.name] = path, instance_reference(path)

    everyone = [course.name for course in prepared.courses]
    all_plans = [plan for course in prepared.courses for plan in _plans(course)]
    mass = f"mass-consistent warp, {config.subsamples}^3 sub-samples"
    warp = "direct (trilinear) warp" if config.warp_method == "direct" else mass
    courses = _courses(result)
    for i, course in enumerate(prepared.priors):
        writer.dose(f"warped_{safe_name(course.name)}", result.warped[course.name],
                    f"{course.name} dose deformed to {reference.name} CT", _plans(course),
                    _describe(f"Dose of course {course.name} ({course.fractions:g} fx) in the frame of course {reference.name}: "
                              f"{warp} through the deformable REG", courses),
                    [], [course.name], WARPED_SERIES + i)  # fmt: skip
    quantity, (ab_short, ab_full) = result.evaluation.quantity, _alpha_beta(result)
    eqd = quantity.upper()
    rbe = ", ".join(f"{c.name} {c.config.rbe:g}" for c in prepared.courses)
    writer.dose(f"cumulative_{quantity}", result.cumulative_eqd2,
                f"cumulative {eqd} Gy, {ab_short}, {'recovery' if prepared.maps.recovery else 'no recovery'}", all_plans,
                _describe(f"Sum over the courses of the residual {eqd} (linear-quadratic, reference dose {x:g} Gy per "
                          f"fraction; RBE {rbe})", ab_full, _recovery(result), warp, courses),
                [COMPOSED_WITH_CURRENT_PLAN, COMPOSED_WITH_RADIOBIOLOGY], everyone, SERIES_NUMBERS["cumulative_eqdx"],
                "EFFECTIVE")  # fmt: skip
    writer.dose("cumulative_physical", result.cumulative_physical, "physical dose sum of all courses", all_plans,
                _describe("Sum of the courses' doses (no radiobiology)", warp, courses), [COMPOSED_WITH_CURRENT_PLAN],
                everyone, SERIES_NUMBERS["cumulative_physical"])  # fmt: skip
    _write_remaining(writer, ab_full, courses)
    return writer.files


def _write_remaining(writer: _Writer, ab_full: str, courses: str) -> None:
    """``remaining_dose.dcm`` (capped, no plan's dose), its no-limit mask and its regions on the reference CT."""
    result = writer.result
    out, prepared = result.output_dir, result.prepared
    reference = prepared.reference
    values = np.asarray(result.remaining_dose.to_numpy().array, dtype=float)
    unlimited = np.isnan(values)
    cap = remaining_dose_cap(reference)
    capped = result.remaining_dose.with_array(np.minimum(np.where(unlimited, cap, values), cap))
    weighted = reference.dose.unit == "Gy(RBE)" or reference.config.rbe != 1.0
    n = reference.fractions
    limits_text = "; ".join(f"{v.constraint.describe()} [{v.constraint.quantity}]" for v in binding_limits(result.verdicts))
    prescription = reference.plan.prescription_gy if reference.plan is not None else None
    dose_max = float(np.nanmax(np.asarray(reference.dose.to_numpy().array, dtype=float)))
    plan = placeholder_plan(reference.plan.sop_class_uid) if reference.plan is not None else placeholder_plan()
    rx = f"prescription {prescription:g} Gy" if prescription else "no prescription"
    description = _describe(
        f"Largest additional {'RBE-weighted' if weighted else 'physical'} dose (Gy) per voxel in {n:g} fractions of course "
        f"{reference.name} within every max-type constraint, each in its own quantity (the strictest tier): "
        f"{limits_text or 'none'}",
        ab_full, _recovery(result),
        f"Capped at {cap:g} Gy, the larger of the {rx} and the dose maximum {dose_max:.2f} Gy of course {reference.name} "
        f"rounded up: a value at the cap does not limit that plan. Where no limit applies the value is the cap "
        f"(remaining_dose_nolimit.mha = 1; outside ROI '{LIMITED_ROI}' of remaining_dose_regions.dcm)",
        f"The referenced RT Plan {plan.sop_instance_uid} is a placeholder no object holds: this map is no plan's dose",
        courses,
    )  # fmt: skip
    writer.dose("remaining_dose", capped, f"max added dose {n:g} fx, cap {cap:g} Gy = not limiting", [plan], description,
                [COMPOSED_FROM_PRIOR_DOSES, COMPOSED_WITH_RADIOBIOLOGY], [c.name for c in prepared.priors],
                SERIES_NUMBERS["remaining_dose"], "EFFECTIVE" if weighted else "PHYSICAL")  # fmt: skip
    writer.files["remaining_dose_nolimit"] = out / "remaining_dose_nolimit.mha"
    write_itk_volume(Volume(unlimited.astype(np.uint8), capped.grid, "mask", "1"), writer.files["remaining_dose_nolimit"])
    series = reference.ct_series
    if series is None:
        log.info("no remaining_dose_regions.dcm: the reference course has no DICOM CT series to contour on")
        return
    rois = remaining_dose_regions(result.remaining_dose, n, series)
    try:
        writer.files["remaining_dose_regions"] = write_structure_set(
            rois, out / "remaining_dose_regions.dcm", like=reference.dose_path, images=series, label="remaining dose",
            description=f"remaining dose: limits apply, < {AVOIDANCE_GY_PER_FRACTION:g} Gy/fx ({n:g} fx)",
            series_number=SERIES_NUMBERS["remaining_dose_regions"],
        )  # fmt: skip
    except InputError as exc:  # a CT in another frame than the dose: nothing to contour the map on
        log.warning("no remaining_dose_regions.dcm: %s", exc)
