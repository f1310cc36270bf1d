"""Registration checks, each with its value, its threshold and pass/fail, and loud warnings inside organs at risk.

A failed check does not stop a run: it makes the run "needs review" (a physicist looks at the
registration pictures and approves or rejects it, as AAPM TG-132 asks for every clinical
registration: Brock et al., Med Phys 44:e43, 2017, doi:10.1002/mp.12256). The thresholds
(:class:`Tolerances`) and their sources:

=====================  ===================  =====================================================
check                  passes when          source
=====================  ===================  =====================================================
folding                no Jacobian <= 0     TG-132 §4.C: a negative Jacobian determinant is a
                       inside the body      physically impossible (folding) map
jacobian_range         0.5 <= J <= 2.0      this project's choice (no published consensus): a
                       inside the body      local volume halved or doubled needs a second look
inverse_consistency    95th pct <= 2 mm     TG-132 Table 3: tolerance of the order of the voxel
                       inside the body      size, about 2 mm
target_registration    mean <= 2 mm         TG-132 Table 3: TRE within the voxel size (2 mm)
dice:<structure>       Dice >= 0.80         TG-132 §4.C: Dice 0.80-0.90 expected for contoured
                       (structures at       organs propagated by a good registration; Dice of a
                       least 3 voxels       structure a few voxels thick is dominated by the two
                       thick)               rasterisations (TG-132: Dice depends on size), so
                                            thinner ones are reported, not scored
uncertainty:<organ>    95th pct <= 3 mm     the 3 mm search radius clinical tools use for a
                       inside the organ     dose shift; a per-voxel map from the caller
=====================  ===================  =====================================================
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..geometry import DisplacementField, Volume
from ._quality import dice, inverse_consistency_error, jacobian_determinant, target_registration_error
from ._sampling import warp_mask

log = logging.getLogger(__name__)

#: Exit status of a command whose registration failed a check: "needs review" (the run's status too).
NEEDS_REVIEW_EXIT_CODE = 13


@dataclass(frozen=True)
class Tolerances:
    """The thresholds of the registration checks (see the module docstring for their sources).

    Attributes
    ----------
    jacobian_min, jacobian_max : float
        Allowed range of the Jacobian determinant inside the body (folding, J <= 0, always fails).
    inverse_consistency_p95_mm : float
        Largest 95th percentile of the forward-then-backward loop error inside the body (mm).
    tre_mean_mm : float
        Largest mean target registration error over the landmarks (mm).
    dice_min : float
        Smallest Dice of a structure propagated from the prior CT against its reference contour.
    dice_min_thickness_voxels : float
        Mean thickness (2 volume / surface, in voxels of the coarsest axis) below which a
        structure's Dice is reported but not scored.
    uncertainty_p95_mm : float
        Largest 95th percentile of the per-voxel registration uncertainty inside each organ at risk (mm).
    """

    jacobian_min: float = 0.5
    jacobian_max: float = 2.0
    inverse_consistency_p95_mm: float = 2.0
    tre_mean_mm: float = 2.0
    dice_min: float = 0.8
    dice_min_thickness_voxels: float = 3.0
    uncertainty_p95_mm: float = 3.0

    def __post_init__(self) -> None:
        if not 0 < self.jacobian_min < 1 < self.jacobian_max:
            raise InputError(f"registration checks: need 0 < jacobian_min < 1 < jacobian_max, got {self}")
        if not self.dice_min_thickness_voxels >= 0:
            raise InputError(f"registration checks: dice_min_thickness_voxels must be >= 0, got {self.dice_min_thickness_voxels}")
        if not 0 < self.dice_min <= 1:
            raise InputError(f"registration checks: dice_min must lie in (0, 1], got {self.dice_min}")
        for name in ("inverse_consistency_p95_mm", "tre_mean_mm", "uncertainty_p95_mm"):
            if not getattr(self, name) > 0:
                raise InputError(f"registration checks: {name} must be > 0, got {getattr(self, name)}")


@dataclass
class Check:
    """One registration check: its headline ``value``, the ``threshold`` it is held to, ``verdict`` (pass/fail).

    ``values`` holds the supporting numbers; ``message`` a sentence for the console and report.
    """

    name: str
    values: dict[str, Any]
    verdict: str
    message: str
    value: float | None = None
    threshold: str = ""

    @property
    def passed(self) -> bool:
        """Not failed: ``pass``, or ``not scored`` (reported for information only)."""
        return self.verdict != "fail"


@dataclass
class QualityReport:
    """All checks of one registration, and the warnings about organs at risk.

    ``jacobian`` (the determinant map on the fixed grid) and ``propagated`` (each Dice
    structure propagated from the moving CT, boolean on the fixed grid) are kept for the
    pictures and the Jacobian file; they are not part of :meth:`to_dict`.
    """

    checks: list[Check] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    jacobian: Volume | None = None
    propagated: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """``fail`` when any check failed, else ``pass`` (also when there are none)."""
        return "fail" if any(not c.passed for c in self.checks) else "pass"

    @property
    def failed(self) -> list[Check]:
        """The checks that failed (``not scored`` ones never do)."""
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "checks": [asdict(c) for c in self.checks], "warnings": list(self.warnings)}

    def write_json(self, path: Any, **extra: Any) -> Path:
        """Write :meth:`to_dict` (plus ``extra`` top-level entries, e.g. the run's settings) as JSON."""
        path = Path(path)
        path.write_text(json.dumps({**self.to_dict(), **extra}, indent=2) + "\n", encoding="utf-8")
        return path


def _verdict(ok: bool) -> str:
    return "pass" if ok else "fail"


def _distance_stats(values: np.ndarray) -> dict[str, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"n": 0, "mean_mm": float("nan"), "p95_mm": float("nan"), "max_mm": float("nan")}
    return {
        "n": int(finite.size),
        "mean_mm": float(finite.mean()),
        "p95_mm": float(np.percentile(finite, 95)),
        "max_mm": float(finite.max()),
    }


def _jacobian_checks(
    jac: np.ndarray, field: DisplacementField, region: np.ndarray, oars: Mapping[str, np.ndarray], tol: Tolerances,
    report: QualityReport,
) -> None:  # fmt: skip
    folded = (jac <= 0) & region
    values: dict[str, Any] = {"folded_voxels": int(folded.sum())}
    if folded.any():
        where = field.grid.world_from_index(np.argwhere(folded).astype(float))
        values["folded_bbox_lps_mm"] = [where.min(0).round(1).tolist(), where.max(0).round(1).tolist()]
        values["folded_centroid_lps_mm"] = where.mean(0).round(1).tolist()
    in_oars = {name: int((folded & mask).sum()) for name, mask in oars.items()}
    values["folded_voxels_in_oars"] = in_oars
    for name, count in in_oars.items():
        if count:
            report.warnings.append(f"FOLDING INSIDE ORGAN AT RISK '{name}': {count} voxels with Jacobian <= 0")
    message = f"{values['folded_voxels']} folded voxels (Jacobian <= 0) inside the body" + (
        f", at LPS {values['folded_centroid_lps_mm']} mm" if folded.any() else ""
    )
    report.checks.append(
        Check("folding", values, _verdict(not folded.any()), message, float(values["folded_voxels"]), "0 voxels with J <= 0")
    )
    low, high = float(jac[region].min()), float(jac[region].max())
    outside = int(((jac < tol.jacobian_min) | (jac > tol.jacobian_max))[region].sum())
    share = outside / max(int(region.sum()), 1)
    ok = outside == 0
    report.checks.append(
        Check(
            "jacobian_range",
            {"min": low, "max": high, "voxels_outside": outside, "share_outside": share},
            _verdict(ok),
            f"Jacobian {low:.2f} .. {high:.2f} inside the body"
            + ("" if ok else f"; {outside} voxels ({100 * share:.2f} %) outside {tol.jacobian_min:g}-{tol.jacobian_max:g}"),
            low if low < tol.jacobian_min or ok else high,
            f"{tol.jacobian_min:g} <= J <= {tol.jacobian_max:g} inside the body",
        )
    )


def _consistency_check(
    error: np.ndarray, region: np.ndarray, oars: Mapping[str, np.ndarray], tol: Tolerances, report: QualityReport
) -> None:
    values: dict[str, Any] = _distance_stats(error[region])
    values["oars"] = {}
    for name, mask in oars.items():
        stats = _distance_stats(error[mask])
        values["oars"][name] = stats
        if stats["n"] and stats["p95_mm"] > tol.inverse_consistency_p95_mm:
            report.warnings.append(
                f"LARGE INVERSE-CONSISTENCY ERROR INSIDE ORGAN AT RISK '{name}': 95th percentile {stats['p95_mm']:.1f} mm"
            )
    p95 = values["p95_mm"]
    report.checks.append(
        Check(
            "inverse_consistency",
            values,
            _verdict(bool(p95 <= tol.inverse_consistency_p95_mm)),
            f"forward then backward returns within {p95:.2f} mm (95th percentile inside the body)",
            p95,
            f"95th percentile <= {tol.inverse_consistency_p95_mm:g} mm inside the body",
        )
    )


def thickness_voxels(mask: np.ndarray, spacing_mm) -> float:
    """Mean thickness of a (z, y, x) mask, ``2 V / A`` (a slab's thickness), in voxels of its coarsest axis.

    ``A`` counts the exposed voxel faces (a staircase: larger than the true area of an oblique
    surface, so the thickness is underestimated by up to about a third).
    """
    mask = np.asarray(mask, dtype=bool)
    sx, sy, sz = (float(v) for v in spacing_mm)
    faces = {0: sx * sy, 1: sx * sz, 2: sy * sz}
    area = 0.0
    for axis, face in faces.items():
        padded = np.pad(mask, [(1, 1) if a == axis else (0, 0) for a in range(3)])
        area += face * int(np.count_nonzero(np.diff(padded.astype(np.int8), axis=axis)))
    volume = int(mask.sum()) * sx * sy * sz
    return 0.0 if area == 0 else 2.0 * volume / area / max(sx, sy, sz)


def _uncertainty_checks(
    uncertainty: Volume, region: np.ndarray, oars: Mapping[str, np.ndarray], tol: Tolerances, report: QualityReport
) -> None:
    values = np.asarray(uncertainty.array, dtype=float)
    for name, mask in (oars or {"body": region}).items():
        stats = _distance_stats(values[mask])
        p95 = stats["p95_mm"]
        report.checks.append(
            Check(
                f"uncertainty:{name}",
                stats,
                _verdict(bool(p95 <= tol.uncertainty_p95_mm)),
                f"registration uncertainty inside '{name}': 95th percentile {p95:.2f} mm, max {stats['max_mm']:.2f} mm",
                p95,
                f"95th percentile <= {tol.uncertainty_p95_mm:g} mm inside '{name}'",
            )
        )


def assess(
    field: DisplacementField,
    *,
    region: Volume | None = None,
    backward: DisplacementField | None = None,
    loop_error: Volume | None = None,
    landmarks: tuple[Any, Any] | None = None,
    structures: Mapping[str, tuple[Volume, Volume]] | None = None,
    oars: Mapping[str, Volume] | None = None,
    uncertainty: Volume | None = None,
    tolerances: Tolerances = Tolerances(),
) -> QualityReport:
    """Run every registration check the inputs allow; each has a value, a threshold and pass/fail.

    Parameters
    ----------
    field : DisplacementField
        The registration fixed -> moving, on the fixed grid (moving point = p + u(p), mm, LPS).
    region : Volume of bool, optional
        Fixed-grid region (the body) the Jacobian and consistency checks cover; all voxels if omitted.
    backward : DisplacementField, optional
        The registration moving -> fixed (on the moving grid): enables the inverse-consistency check.
    loop_error : Volume, optional
        :func:`inverse_consistency_error` of ``field`` and ``backward`` where the caller has it
        already (it needs the map too): the check uses it instead of composing the fields again.
    landmarks : (fixed_points, moving_points), optional
        Corresponding LPS landmarks (n, 3) mm: enables the TRE check.
    structures : mapping name -> (fixed mask, moving mask), optional
        The same structure contoured on both CTs: the moving one is propagated and compared (Dice).
    oars : mapping name -> fixed mask, optional
        Organs at risk on the fixed grid; folding or a large inconsistency inside them is warned
        about loudly, and the uncertainty check is made inside each.
    uncertainty : Volume, optional
        A per-voxel registration uncertainty (mm) on the fixed grid (e.g. from an ensemble of
        registrations): enables the uncertainty checks (inside each organ at risk, else the body).
    tolerances : Tolerances
        The thresholds (defaults and sources in the module docstring).
    """
    region_mask = np.ones(field.grid.shape, bool) if region is None else np.asarray(region.array, dtype=bool)
    if region is not None:
        field.grid.require_same(region.grid, "the displacement field and the quality region")
    if not region_mask.any():
        raise InputError("the quality region (the fixed mask) is empty; give a mask that covers the body, or none")
    oar_masks = {}
    for name, mask in (oars or {}).items():
        field.grid.require_same(mask.grid, f"the displacement field and organ at risk '{name}'")
        oar_masks[name] = np.asarray(mask.array, dtype=bool)
    report = QualityReport()
    report.jacobian = jacobian_determinant(field)
    _jacobian_checks(report.jacobian.array, field, region_mask, oar_masks, tolerances, report)
    if loop_error is None and backward is not None:
        loop_error = inverse_consistency_error(field, backward)
    if loop_error is not None:
        field.grid.require_same(loop_error.grid, "the displacement field and its inverse-consistency error")
        _consistency_check(np.asarray(loop_error.array), region_mask, oar_masks, tolerances, report)
    if landmarks is not None:
        values = _distance_stats(target_registration_error(field, *landmarks))
        report.checks.append(
            Check(
                "target_registration_error",
                values,
                _verdict(bool(values["mean_mm"] <= tolerances.tre_mean_mm)),
                f"{values['n']} landmarks, mean {values['mean_mm']:.2f} mm, max {values['max_mm']:.2f} mm",
                values["mean_mm"],
                f"mean <= {tolerances.tre_mean_mm:g} mm",
            )
        )
    for name, (fixed_mask, moving_mask) in (structures or {}).items():
        field.grid.require_same(fixed_mask.grid, f"the displacement field and fixed structure '{name}'")
        report.propagated[name] = warp_mask(moving_mask, field)
        score = dice(fixed_mask.array, report.propagated[name])
        thick = thickness_voxels(fixed_mask.array, field.grid.spacing_mm)
        scored = thick >= tolerances.dice_min_thickness_voxels
        message = f"'{name}' propagated from the moving CT overlaps its fixed contour with Dice {score:.3f}"
        if not scored:
            message += f" (not scored: {thick:.1f} voxels thick, under {tolerances.dice_min_thickness_voxels:g})"
        report.checks.append(
            Check(
                f"dice:{name}",
                {"dice": score, "thickness_voxels": round(thick, 2)},
                _verdict(score >= tolerances.dice_min) if scored else "not scored",
                message,
                score,
                f"Dice >= {tolerances.dice_min:g} for structures >= {tolerances.dice_min_thickness_voxels:g} voxels thick",
            )
        )
    if uncertainty is not None:
        field.grid.require_same(uncertainty.grid, "the displacement field and the uncertainty map")
        _uncertainty_checks(uncertainty, region_mask, oar_masks, tolerances, report)
    for warning in report.warnings:
        log.warning(warning)
    return report
