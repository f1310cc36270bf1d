"""Summarised registration quality: numbers and a verdict per check, loud warnings inside organs at risk.

Tolerances follow AAPM TG-132 (Brock et al. 2017, doi:10.1002/mp.12256): TRE and inverse
consistency within about 2 mm (a voxel) is good, Dice of 0.8 to 0.9 is expected for organs.
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


@dataclass(frozen=True)
class Tolerances:
    """Limits between the verdicts ``pass`` / ``warn`` / ``fail`` (distances in mm)."""

    distance_pass_mm: float = 2.0
    distance_warn_mm: float = 5.0
    dice_pass: float = 0.8
    dice_warn: float = 0.7


@dataclass
class Check:
    """One quality check: its numbers, a verdict (``pass``, ``warn``, ``fail``) and a sentence."""

    name: str
    values: dict[str, Any]
    verdict: str
    message: str


@dataclass
class QualityReport:
    """All checks of one registration, and the warnings about organs at risk."""

    checks: list[Check] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """The worst verdict of all checks (``pass`` when there are none)."""
        order = ("pass", "warn", "fail")
        return max((c.verdict for c in self.checks), key=order.index, default="pass")

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "checks": [asdict(c) for c in self.checks], "warnings": list(self.warnings)}

    def write_json(self, path: Any, **extra: Any) -> Path:
        """Write :meth:`to_dict` (plus ``extra`` top-level entries, e.g. the run's settings) as JSON."""
        path = Path(path)
        path.write_text(json.dumps({**self.to_dict(), **extra}, indent=2) + "\n", encoding="utf-8")
        return path


def _grade(value: float, good: float, poor: float, higher_is_better: bool = False) -> str:
    if not np.isfinite(value):
        return "fail"
    if higher_is_better:
        return "pass" if value >= good else "warn" if value >= poor else "fail"
    return "pass" if value <= good else "warn" if value <= poor else "fail"


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


def _jacobian_check(field: DisplacementField, region: np.ndarray, oars: Mapping[str, np.ndarray], report: QualityReport) -> None:
    jac = jacobian_determinant(field).array
    folded = (jac <= 0) & region
    values: dict[str, Any] = {
        "min": float(jac[region].min()),
        "max": float(jac[region].max()),
        "folded_voxels": int(folded.sum()),
    }
    if folded.any():
        where = field.grid.world_from_index(np.argwhere(folded).astype(float))
        values["folded_bbox_lps_mm"] = [where.min(0).round(1).tolist(), where.max(0).round(1).tolist()]
        values["folded_centroid_lps_mm"] = where.mean(0).round(1).tolist()
    in_oars = {name: int((folded & mask).sum()) for name, mask in oars.items()}
    values["folded_voxels_in_oars"] = in_oars
    for name, count in in_oars.items():
        if count:
            report.warnings.append(f"FOLDING INSIDE ORGAN AT RISK '{name}': {count} voxels with Jacobian <= 0")
    verdict = "fail" if any(in_oars.values()) else "warn" if folded.any() else "pass"
    message = (
        f"{values['folded_voxels']} folded voxels (Jacobian <= 0); Jacobian {values['min']:.2f} .. {values['max']:.2f}"
        if folded.any()
        else f"no folding; Jacobian {values['min']:.2f} .. {values['max']:.2f}"
    )
    report.checks.append(Check("jacobian", values, verdict, message))


def _consistency_check(
    forward: DisplacementField,
    backward: DisplacementField,
    region: np.ndarray,
    oars: Mapping[str, np.ndarray],
    tol: Tolerances,
    report: QualityReport,
) -> None:
    error = inverse_consistency_error(forward, backward).array
    values: dict[str, Any] = _distance_stats(error[region])
    values["oars"] = {}
    for name, mask in oars.items():
        stats = _distance_stats(error[mask])
        values["oars"][name] = stats
        if stats["n"] and stats["p95_mm"] > tol.distance_warn_mm:
            report.warnings.append(
                f"LARGE INVERSE-CONSISTENCY ERROR INSIDE ORGAN AT RISK '{name}': 95th percentile {stats['p95_mm']:.1f} mm"
            )
    verdict = _grade(values["p95_mm"], tol.distance_pass_mm, tol.distance_warn_mm)
    report.checks.append(
        Check(
            "inverse_consistency",
            values,
            verdict,
            f"forward then backward returns within {values['p95_mm']:.2f} mm (95th percentile)",
        )
    )


def assess(
    field: DisplacementField,
    *,
    region: Volume | None = None,
    backward: DisplacementField | None = None,
    landmarks: tuple[Any, Any] | None = None,
    structures: Mapping[str, tuple[Volume, Volume]] | None = None,
    oars: Mapping[str, Volume] | None = None,
    tolerances: Tolerances = Tolerances(),
) -> QualityReport:
    """Run every quality check the inputs allow and summarise each with a verdict.

    Parameters
    ----------
    field : DisplacementField
        The registration fixed -> moving, on the fixed grid.
    region : Volume of bool, optional
        Fixed-grid region (e.g. the body) the Jacobian and consistency statistics cover; all voxels if omitted.
    backward : DisplacementField, optional
        The registration moving -> fixed (on the moving grid): enables the inverse-consistency check.
    landmarks : (fixed_points, moving_points), optional
        Corresponding LPS landmarks (n, 3) mm: enables the TRE check.
    structures : mapping name -> (fixed mask, moving mask), optional
        The same structure contoured on both CTs: the moving one is propagated and compared (Dice).
    oars : mapping name -> fixed mask, optional
        Organs at risk on the fixed grid; folding or a large inconsistency inside them is warned about loudly.
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
    _jacobian_check(field, region_mask, oar_masks, report)
    if backward is not None:
        _consistency_check(field, backward, region_mask, oar_masks, tolerances, report)
    if landmarks is not None:
        values = _distance_stats(target_registration_error(field, *landmarks))
        report.checks.append(
            Check(
                "target_registration_error",
                values,
                _grade(values["mean_mm"], tolerances.distance_pass_mm, tolerances.distance_warn_mm),
                f"{values['n']} landmarks, mean {values['mean_mm']:.2f} mm, max {values['max_mm']:.2f} mm",
            )
        )
    for name, (fixed_mask, moving_mask) in (structures or {}).items():
        field.grid.require_same(fixed_mask.grid, f"the displacement field and fixed structure '{name}'")
        score = dice(fixed_mask.array, warp_mask(moving_mask, field))
        report.checks.append(
            Check(
                f"dice:{name}",
                {"dice": score},
                _grade(score, tolerances.dice_pass, tolerances.dice_warn, higher_is_better=True),
                f"'{name}' propagated from the moving CT overlaps its fixed contour with Dice {score:.3f}",
            )
        )
    for warning in report.warnings:
        log.warning(warning)
    return report
