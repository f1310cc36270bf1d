"""``write_demo_case``: the two-course head-and-neck case as DICOM exports plus the true field."""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..geometry import DisplacementField, Grid, Volume
from ..io import write_dose
from ._anatomy import reference_hu_at
from ._courses import Contours, dose_volume, prior_contours, prior_ct, reference_contours, reference_ct
from ._deformation import displacement_at, prior_point_of, reference_point_of
from ._doses import PRIOR, REIRRADIATION, AnalyticDose, cumulative_eqd2_at, prior_dose_at, reirr_dose_at
from ._export import CourseIdentity, write_ct_series, write_rtstruct
from ._grids import PRIOR_DOSE_HALF_WIDTH_MM, REFERENCE_DOSE_HALF_WIDTH_MM, case_size, dose_grid, prior_ct_grid, reference_ct_grid
from ._plan import Prescription, write_rtplan

MANIFEST = "case.json"
PRIOR_CT_DATE, PRIOR_PLAN_DATE = _dt.date(2021, 3, 2), _dt.date(2021, 3, 15)
REIRR_CT_DATE, REIRR_PLAN_DATE = _dt.date(2024, 9, 18), _dt.date(2024, 10, 1)
_DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class DemoCourse:
    """One course's export folder and what its files state.

    ``folder`` holds the CT slices (``CT.*.dcm``, so it is also the CT folder), ``RS.dcm``,
    ``RP.dcm`` and ``RD.dcm``. Grids are LPS mm; the prescription is in Gy.
    """

    key: str
    folder: Path
    structures_path: Path
    plan_path: Path
    dose_path: Path
    plan_uid: str
    frame_of_reference_uid: str
    ct_grid: Grid
    dose_grid: Grid
    fractions: int
    prescription_gy: float
    plan_date: _dt.date
    target_name: str


@dataclass(frozen=True)
class DemoCase:
    """The written demo case and its analytic ground truth.

    Attributes: ``folder``, ``size``, ``prior`` and ``reirradiation`` (:class:`DemoCourse`),
    ``true_field_path``, ``interval_months`` (plan date to plan date).

    The analytic functions take ``(..., 3)`` LPS mm points: ``displacement_at``,
    ``prior_point_of``, ``reirr_dose_at``, ``reference_hu_at`` and ``cumulative_eqd2_at`` in
    the reference (re-irradiation) frame, ``prior_dose_at`` and ``reference_point_of`` in the
    prior frame. The true field ``true_field_path`` (MHA, on ``reirradiation.ct_grid``) maps a
    reference point p to the prior point ``p + u(p)``.
    """

    folder: Path
    size: str
    prior: DemoCourse
    reirradiation: DemoCourse
    true_field_path: Path

    displacement_at = staticmethod(displacement_at)
    prior_point_of = staticmethod(prior_point_of)
    reference_point_of = staticmethod(reference_point_of)
    prior_dose_at = staticmethod(prior_dose_at)
    reirr_dose_at = staticmethod(reirr_dose_at)
    reference_hu_at = staticmethod(reference_hu_at)
    cumulative_eqd2_at = staticmethod(cumulative_eqd2_at)

    def course_tables(self) -> str:
        """The run configuration's two ``[[course]]`` tables for this case (TOML text, oldest first).

        Examples
        --------
        >>> print(demo_case().course_tables().replace(str(demo_case().folder), "CASE"))
        [[course]]
        name = "prior"
        dicom = "CASE/prior"
        [[course]]
        name = "reirradiation"
        dicom = "CASE/reirradiation"
        <BLANKLINE>
        """
        return "".join(f'[[course]]\nname = "{c.key}"\ndicom = "{c.folder}"\n' for c in (self.prior, self.reirradiation))

    @property
    def interval_months(self) -> float:
        """Months (365.25 / 12 days) from the prior plan date to the re-irradiation plan date."""
        return (self.reirradiation.plan_date - self.prior.plan_date).days / _DAYS_PER_MONTH


def _write_course(
    folder: Path, identity: CourseIdentity, ct: Volume, contours: Contours, dose: AnalyticDose, dose_grid_: Grid, target: str
) -> DemoCourse:
    folder.mkdir(parents=True)
    ct_uids = write_ct_series(folder, ct, identity)
    structures = write_rtstruct(folder / "RS.dcm", contours, identity, ct_uids)
    target_number = list(contours).index(target) + 1
    rx = Prescription(
        f"{dose.prescription_gy:g}Gy {dose.fractions}fx",
        dose.fractions,
        dose.prescription_gy,
        target_number,
        dose.target.centre_mm,
    )
    plan = write_rtplan(folder / "RP.dcm", rx, identity, str(structures.SOPInstanceUID))
    description = f"{identity.description}: {dose.prescription_gy:g} Gy in {dose.fractions} fractions"
    write_dose(
        dose_volume(dose, dose_grid_),
        folder / "RD.dcm",
        like=plan,
        referenced_plans=[str(plan.SOPInstanceUID)],
        quantity=description,
        series_number=4,
    )
    return DemoCourse(
        key=identity.key,
        folder=folder,
        structures_path=folder / "RS.dcm",
        plan_path=folder / "RP.dcm",
        dose_path=folder / "RD.dcm",
        plan_uid=str(plan.SOPInstanceUID),
        frame_of_reference_uid=identity.frame_uid,
        ct_grid=ct.grid,
        dose_grid=dose_grid_,
        fractions=dose.fractions,
        prescription_gy=dose.prescription_gy,
        plan_date=identity.plan_date,
        target_name=target,
    )


def _relocate(course: DemoCourse, old: Path, new: Path) -> DemoCourse:
    """The same course with its paths moved from under ``old`` to under ``new``."""
    paths = ("folder", "structures_path", "plan_path", "dose_path")
    return replace(course, **{name: new / getattr(course, name).relative_to(old) for name in paths})


def _grid_json(grid: Grid) -> dict:
    return {"shape_zyx": list(grid.shape), "origin_mm": list(grid.origin_mm), "spacing_mm": list(grid.spacing_mm)}


def _manifest(case: DemoCase) -> dict:
    def course(c: DemoCourse) -> dict:
        return {
            "folder": c.folder.name,
            "fractions": c.fractions,
            "prescription_gy": c.prescription_gy,
            "plan_date": c.plan_date.isoformat(),
            "target": c.target_name,
            "ct_grid": _grid_json(c.ct_grid),
            "dose_grid": _grid_json(c.dose_grid),
        }

    return {
        "generator": "accumulate.phantom",
        "size": case.size,
        "prior": course(case.prior),
        "reirradiation": course(case.reirradiation),
        "true_field": case.true_field_path.name,
        "interval_months": round(case.interval_months, 3),
    }


def _check_destination(folder: Path) -> None:
    """Refuse a non-empty ``folder`` unless it holds an earlier demo case (its ``case.json``)."""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} is a file; give a folder for the demo case")
    if folder.exists() and any(folder.iterdir()) and not (folder / MANIFEST).is_file():
        raise InputError(f"{folder} exists and is not a demo case written before; choose an empty or new folder")


def _replace(temp: Path, folder: Path) -> None:
    """Move the finished ``temp`` folder to ``folder``; an earlier demo case there is replaced."""
    _check_destination(folder)
    if folder.exists() and any(folder.iterdir()):
        trash = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex[:8]}")
        folder.rename(trash)
        temp.rename(folder)
        shutil.rmtree(trash, ignore_errors=True)
        return
    if folder.exists():
        folder.rmdir()
    temp.rename(folder)


def write_demo_case(folder, *, size: str = "demo") -> DemoCase:
    """Write the built-in two-course head-and-neck re-irradiation case.

    Parameters
    ----------
    folder : path
        Destination; created with ``prior/`` and ``reirradiation/`` export folders (CT series,
        RTSTRUCT, RTPLAN, RTDOSE each), ``true_field.mha`` and ``case.json``. Written in a
        temporary sibling folder and renamed at the end; an earlier demo case in ``folder`` is
        replaced, any other non-empty folder is refused.
    size : {"demo", "test"}
        ``"demo"``: reference CT 128 x 128 x 48 at 2 x 2 x 3 mm, doses at 3 mm. ``"test"``:
        64 x 64 x 30 at 4 x 4 x 5 mm, doses at 4 mm (about 3 s, for tests). The prior CT is
        another scan (2.2 x 2.2 x 2.5 mm, resp. 4.4 x 4.4 x 5.5 mm, longer in z).

    Returns
    -------
    DemoCase
        Paths, fractions, dates and the analytic doses and field (see :class:`DemoCase`).

    Raises
    ------
    InputError
        ``folder`` holds other files, or an unknown ``size``.

    Examples
    --------
    >>> case = write_demo_case(scratch / "demo", size="test")  # about 3 s
    >>> (case.prior.fractions, case.reirradiation.fractions), sorted(p.name for p in case.folder.iterdir())
    ((35, 5), ['case.json', 'prior', 'reirradiation', 'true_field.mha'])
    """
    spec = case_size(size)
    folder = Path(folder).absolute()
    _check_destination(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    temp = folder.with_name(f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}")
    temp.mkdir()
    try:
        ref_grid, old_grid = reference_ct_grid(spec), prior_ct_grid(spec)
        prior_centre = tuple(prior_point_of(np.zeros(3))[:2])
        prior = _write_course(
            temp / "prior",
            CourseIdentity.make("prior", size, PRIOR_CT_DATE, PRIOR_PLAN_DATE, "HN course 1"),
            prior_ct(old_grid),
            prior_contours(old_grid, spec.contour_step_mm),
            PRIOR,
            dose_grid(old_grid, prior_centre, PRIOR_DOSE_HALF_WIDTH_MM, spec.dose_spacing_mm),
            "PTV_prior",
        )
        reirr = _write_course(
            temp / "reirradiation",
            CourseIdentity.make("reirradiation", size, REIRR_CT_DATE, REIRR_PLAN_DATE, "HN re-irradiation"),
            reference_ct(ref_grid),
            reference_contours(ref_grid, spec.contour_step_mm),
            REIRRADIATION,
            dose_grid(ref_grid, (0.0, 0.0), REFERENCE_DOSE_HALF_WIDTH_MM, spec.dose_spacing_mm),
            "PTV_reirr",
        )
        _write_field(ref_grid, temp / "true_field.mha")
        case = DemoCase(folder, size, _relocate(prior, temp, folder), _relocate(reirr, temp, folder), folder / "true_field.mha")
        (temp / MANIFEST).write_text(json.dumps(_manifest(case), indent=2))
        _replace(temp, folder)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return case


def _write_field(grid: Grid, path: Path) -> None:
    from ..registration import write_field

    write_field(DisplacementField(displacement_at(grid.world_coordinates()).astype(np.float32), grid), path)
