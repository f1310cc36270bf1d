"""How well the inverse-consistency error (ICE) of a registration predicts its true error: calibration of r = max(m, k ICE).

The cases of ``bench_registration_accuracy.py``: the thoracic CT of elastix's examples
(``tests/data/elastix-lung/3DCT_lung.mha``, Apache-2.0), block-averaged in-plane to 2.73 x 2.73 x
2.5 mm, deformed by :mod:`deformations` (random smooth field of a given correlation length, 8 mm
amplitude, a rigid offset, a shrinking structure, a contrast bolus, weight loss at the outline,
20 HU noise). Each elastix preset, with the body masks of both CTs as the pipeline gives them,
registers the CTs forward (fixed -> moving) and backward (moving -> fixed, one elastix process).
Per body voxel (voxels whose true moving point lies more than ``--margin`` mm inside the CT and
whose ICE is defined) the true error ``e(p) = |u_found(p) - u_true(p)|`` and the loop error
``ICE(p) = |u(p) + w(p + u(p))|`` (u the forward field, w the backward one) are compared:

- mean and p95 of e and of ICE, over the body and its high-/low-gradient halves (the fixed CT's
  smoothed gradient above / below its body median);
- Spearman's rank correlation of ICE and e in each of these regions;
- a calibration table of the per-voxel radius ``r(p) = max(m, k ICE(p))`` for k in
  ``--k-values`` and m in ``--m-values`` (mm), k = 0 being the constant radius m: the coverage
  ``share(e <= r)``, the coverage ``share(e <= 0.807 r)`` (0.807: the covering cosine of the
  14 shift directions of :mod:`accumulate.uncertainty`; for a locally linear dose their band at
  radius r covers registration errors up to 0.807 r), and the mean r;
- per m, the smallest k that reaches ``--target`` coverage (plain and with the 0.807 factor) and
  the mean r it gives, ``null`` where no k does (voxels with ICE = 0 and e > m); for comparison
  the constant radius (k = 0) that reaches it (the error's ``--target`` quantile, and / 0.807).

- the **tail coverage** of every row: the same two shares over the voxels with a large true error
  only, ``e > 3 mm`` and ``e`` above the registration's own 95th percentile of e (with the voxel
  count of each tail);
- ``defaults``: the shipped rule ``max(DEFAULT_MINIMUM_MM, DEFAULT_SCALE ICE)`` of
  :mod:`accumulate.uncertainty` beside the constant 3 mm radius of the shift method: coverage,
  tail coverages, mean / median / p95 of r over the evaluation region.

A **local gross failure** case (``--local-failure``, on by default; ``--local-failure-correlations``
and ``--local-failure-presets``, default 30 mm and fast): the case of that correlation length plus
a Gaussian displacement bump ``A d exp(-|p - c|^2 / (2 sigma^2))`` (``--bump-amplitude`` 12 mm,
``--bump-sigma`` 15 mm, d a random unit direction) added to the true field, centred at the point
at least 2 sigma inside the body (and the grid) whose surroundings (Gaussian weight sigma) hold the
largest share of low-gradient voxels: homogeneous tissue, where a registration has no image
evidence of the bump. The moving image is made by :func:`deformations.deform` itself (the
bump is the generator's own ``Deformation.bump_*``; same inversion, bolus, weight loss and noise).
Its rows add the error and ICE inside the bump (voxels within 1 sigma of c) and, in ``defaults``,
the coverage there.

The ICE of the *true* field with its numerically inverted field (:func:`accumulate.registration.invert`,
the fixed-point iteration :func:`deformations.deform` uses) is reported as well: the evidence ICE
gives must vanish for a perfect registration (it is interpolation error only). Times are wall
times of each forward + backward registration on a shared machine (2 cores, several sessions):
the 1-minute load average after each is recorded.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_uncertainty_calibration.py`` (about 6 minutes
on 2 cores at load 1.5; writes ``benchmarks/results/uncertainty_calibration.json`` and prints a table).
``--correlations``, ``--presets`` and ``--seed`` (added to each case's seed, which is the
correlation length in mm as in the accuracy benchmark) choose other cases.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage, stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_registration_accuracy import CHANGES, DATA, case_settings, error_stats, evaluation_body, itk_load_seconds  # noqa: E402
from deformations import DeformedCase, deform, downsample, gradient_regions  # noqa: E402

from accumulate import DisplacementField  # noqa: E402
from accumulate.registration import body_mask, inverse_consistency_error, invert, read_image, register  # noqa: E402
from accumulate.uncertainty import COVERING_COSINE, DEFAULT_MINIMUM_MM, DEFAULT_SCALE  # noqa: E402

#: The constant radius of the shift method (mm), compared with the shipped rule in ``defaults``.
CONSTANT_RADIUS_MM = 3.0
#: The absolute tail: voxels whose true error exceeds this (mm).
TAIL_MM = 3.0
TAIL_NAME = f"tail_e_gt_{TAIL_MM:g}mm"
#: The rules of ``defaults``: name -> (k, m) of r = max(m, k ICE).
DEFAULT_RULES = {"default": (DEFAULT_SCALE, DEFAULT_MINIMUM_MM), f"constant_{CONSTANT_RADIUS_MM:g}mm": (0.0, CONSTANT_RADIUS_MM)}


def make_case(fixed, correlation_mm: float, *, amplitude_mm: float = 8.0, changes: str = "all", seed: int = 0,
              **extra) -> DeformedCase:  # fmt: skip
    """The deformed case of ``bench_registration_accuracy.py`` for one correlation length (mm).

    ``amplitude_mm``, ``changes``, ``seed`` and ``extra`` as :func:`bench_registration_accuracy.case_settings`.
    """
    return deform(fixed, case_settings(correlation_mm, amplitude_mm=amplitude_mm, changes=changes, seed=seed, **extra))


def low_contrast_point(fixed, body: np.ndarray, sigma_mm: float) -> tuple[np.ndarray, dict]:
    """The centre of the local failure: a point >= 2 sigma inside the body and the grid in the most homogeneous tissue.

    Of the voxels at least ``2 sigma_mm`` from the body's outline and the grid's faces (or, where none
    is, the deepest 10 %), the one whose Gaussian neighbourhood (standard deviation ``sigma_mm``)
    holds the largest share of low-gradient voxels (:func:`deformations.gradient_regions`).

    Parameters
    ----------
    fixed : Volume
    body : ndarray of bool
        The fixed CT's body mask.
    sigma_mm : float

    Returns
    -------
    centre : ndarray
        LPS (mm).
    info : dict
        ``depth_mm``, ``low_gradient_share`` and ``hu`` (the fixed CT, smoothed by sigma) there.
    """
    spacing_zyx = np.asarray(fixed.grid.spacing_mm[::-1])
    depth = ndimage.distance_transform_edt(np.pad(body, 1), sampling=spacing_zyx)[1:-1, 1:-1, 1:-1]
    deep = depth >= min(2.0 * sigma_mm, 0.9 * depth.max())
    _, low = gradient_regions(fixed, body)
    share = ndimage.gaussian_filter(low.astype(float), sigma_mm / spacing_zyx)
    index = np.unravel_index(np.argmax(np.where(deep, share, -1.0)), body.shape)
    hu = ndimage.gaussian_filter(np.asarray(fixed.array, float), sigma_mm / spacing_zyx)[index]
    info = {"depth_mm": round(float(depth[index]), 1), "low_gradient_share": round(float(share[index]), 3),
            "hu_smoothed": round(float(hu), 1)}  # fmt: skip
    return fixed.grid.world_from_index(np.asarray(index, float)), info


def make_local_failure_case(fixed, correlation_mm: float, *, bump_mm: float, bump_sigma_mm: float, amplitude_mm: float = 8.0,
                            changes: str = "all", seed: int = 0) -> tuple[DeformedCase, dict]:  # fmt: skip
    """:func:`make_case` plus a local Gaussian displacement bump in homogeneous tissue (a likely gross local failure).

    The bump ``bump_mm d exp(-|p - c|^2 / (2 bump_sigma_mm^2))`` (c :func:`low_contrast_point`, d a
    random unit direction of the case's seed) is the generator's own (``Deformation.bump_*``), so
    the moving image is made exactly as for the other cases (numerical inversion, bolus, weight
    loss, noise).

    Parameters
    ----------
    fixed : Volume
    correlation_mm, amplitude_mm, changes, seed
        As :func:`make_case`.
    bump_mm : float
        The bump's largest displacement (mm).
    bump_sigma_mm : float
        Its Gaussian standard deviation (mm).

    Returns
    -------
    case : DeformedCase
        ``centres["bump"]`` is c.
    bump : dict
        ``centre_mm``, ``direction``, ``amplitude_mm``, ``sigma_mm`` and :func:`low_contrast_point`'s info.
    """
    body = np.asarray(body_mask(fixed).array, dtype=bool)
    centre, info = low_contrast_point(fixed, body, bump_sigma_mm)
    direction = np.random.default_rng(int(correlation_mm) + seed + 2000).standard_normal(3)
    direction /= np.linalg.norm(direction)
    bump_settings = {"bump_mm": bump_mm, "bump_sigma_mm": bump_sigma_mm, "bump_centre_mm": tuple(float(x) for x in centre),
                     "bump_direction": tuple(float(x) for x in direction)}  # fmt: skip
    case = make_case(fixed, correlation_mm, amplitude_mm=amplitude_mm, changes=changes, seed=seed, **bump_settings)
    bump = {"centre_mm": [round(float(x), 2) for x in centre], "direction": [round(float(x), 4) for x in direction],
            "amplitude_mm": bump_mm, "sigma_mm": bump_sigma_mm, **info}  # fmt: skip
    return case, bump


def bump_region(case: DeformedCase, sigma_mm: float) -> np.ndarray:
    """Fixed-grid voxels within ``sigma_mm`` of the bump's centre (all False without a bump).

    Parameters
    ----------
    case : DeformedCase
    sigma_mm : float

    Returns
    -------
    ndarray of bool
    """
    if "bump" not in case.centres:
        return np.zeros(case.fixed.grid.shape, bool)
    distance = np.linalg.norm(case.fixed.grid.world_coordinates() - case.centres["bump"], axis=-1)
    return distance <= sigma_mm


def register_both_ways(case: DeformedCase, preset: str, threads: int) -> tuple[DisplacementField, DisplacementField, dict]:
    """Register ``case`` forward and backward with ``preset`` and the body masks of both CTs.

    Parameters
    ----------
    case : DeformedCase
    preset : str
        An elastix preset of :func:`accumulate.registration.presets`.
    threads : int
        Elastix threads (0: elastix's default).

    Returns
    -------
    forward : DisplacementField
        Fixed grid, fixed -> moving.
    backward : DisplacementField
        Moving grid, moving -> fixed.
    timing : dict
        ``seconds`` (wall time of both, one elastix worker process: ITK's load, the stages, transformix),
        ``forward_stages_s`` / ``backward_stages_s`` (elastix's optimisation stages alone, summed) and
        ``load_average_1min_after``.
    """
    fixed_mask, moving_mask = body_mask(case.fixed), body_mask(case.moving)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = register(case.fixed, case.moving, preset=preset, fixed_mask=fixed_mask, moving_mask=moving_mask,
                          output_directory=out, threads=threads or None, backward=True, progress=lambda line: None)  # fmt: skip
        seconds = time.perf_counter() - start
    timing = {
        "seconds": round(seconds, 1),
        "forward_stages_s": round(sum(t for _, t in result.stage_s), 1),
        "backward_stages_s": round(sum(t for _, t in result.backward.stage_s), 1),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
    }
    return result.field, result.backward.field, timing


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rank correlation of two 1-d samples, rounded; None for fewer than 3 values.

    Parameters
    ----------
    a, b : ndarray
        Same length.

    Returns
    -------
    float or None
    """
    if a.size < 3:
        return None
    return round(float(stats.spearmanr(a, b).statistic), 3)


def _shares(error: np.ndarray, r: np.ndarray) -> dict:
    """``coverage`` = share(e <= r) and ``coverage_cosine`` = share(e <= 0.807 r), rounded; None for no voxels."""
    if error.size == 0:
        return {"coverage": None, "coverage_cosine": None}
    return {"coverage": round(float(np.mean(error <= r)), 4),
            "coverage_cosine": round(float(np.mean(error <= COVERING_COSINE * r)), 4)}  # fmt: skip


def calibration_table(error: np.ndarray, ice: np.ndarray, k_values, m_values, subsets: dict | None = None) -> list[dict]:
    """Coverage of the radius ``r = max(m, k ICE)`` for every (k, m), and of the constant radius m (k = 0).

    Parameters
    ----------
    error, ice : ndarray
        True error and ICE per voxel (mm), same length.
    k_values, m_values : sequence of float
    subsets : dict of str to ndarray of bool, optional
        Named voxel subsets (e.g. the tails of e), same length as ``error``.

    Returns
    -------
    list of dict
        ``k``, ``m``, ``coverage`` = share(e <= r), ``coverage_cosine`` = share(e <= 0.807 r),
        ``mean_r_mm`` and (with ``subsets``) ``coverage_in``: the two shares in each subset, per row;
        the k = 0 rows (m > 0) first.
    """
    rows = []
    pairs = [(0.0, m) for m in m_values if m > 0] + [(k, m) for k in k_values if k > 0 for m in m_values]
    for k, m in pairs:
        r = np.maximum(m, k * ice)
        row = {"k": k, "m": m, **_shares(error, r), "mean_r_mm": round(float(r.mean()), 3)}
        if subsets:
            row["coverage_in"] = {name: _shares(error[mask], r[mask]) for name, mask in subsets.items()}
        rows.append(row)
    return rows


def rule_summary(error: np.ndarray, ice: np.ndarray, k: float, m: float, subsets: dict) -> dict:
    """Coverage (overall and per subset) and the distribution of r for the rule ``r = max(m, k ICE)``.

    Parameters
    ----------
    error, ice : ndarray
        True error and ICE per voxel of the evaluation region (mm).
    k, m : float
    subsets : dict of str to ndarray of bool
        Named voxel subsets, same length as ``error``.

    Returns
    -------
    dict
        ``k``, ``m``, ``coverage``, ``coverage_cosine``, ``coverage_in`` (per subset) and the mean,
        median and p95 of r (mm).
    """
    r = np.maximum(m, k * ice)
    return {"k": k, "m": m, **_shares(error, r),
            "coverage_in": {name: _shares(error[mask], r[mask]) for name, mask in subsets.items()},
            "mean_r_mm": round(float(r.mean()), 3), "median_r_mm": round(float(np.median(r)), 3),
            "p95_r_mm": round(float(np.percentile(r, 95)), 3)}  # fmt: skip


def k_for_coverage(error: np.ndarray, ice: np.ndarray, m: float, target: float, factor: float = 1.0) -> dict:
    """The smallest k with ``share(e <= factor * max(m, k ICE)) >= target``, and the mean radius it gives.

    A voxel with ``e <= factor m`` is covered for every k; any other needs ``k >= e / (factor ICE)``
    (never, where ICE = 0). The answer is that ratio's ``target`` quantile (inverted CDF).

    Parameters
    ----------
    error, ice : ndarray
        True error and ICE per voxel (mm).
    m : float
        The radius floor (mm).
    target : float
        Coverage wanted, in (0, 1].
    factor : float
        1, or the covering cosine for the shift-set criterion.

    Returns
    -------
    dict
        ``k`` (None where no k reaches the target) and ``mean_r_mm``.
    """
    needed = error / factor
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(needed <= m, 0.0, np.where(ice > 0, needed / ice, np.inf))
    k = float(np.quantile(ratio, target, method="inverted_cdf"))
    if not np.isfinite(k):
        return {"k": None, "mean_r_mm": None}
    return {"k": round(k, 3), "mean_r_mm": round(float(np.maximum(m, k * ice).mean()), 3)}


def true_field_ice(case: DeformedCase, region: np.ndarray) -> dict:
    """The ICE of the true field with its numerically inverted field, over ``region`` (mm).

    Parameters
    ----------
    case : DeformedCase
    region : ndarray of bool
        Fixed-grid voxels to report on.

    Returns
    -------
    dict
        ``mean_mm``, ``p95_mm``, ``n`` and ``max_mm`` over the region's voxels where the ICE is defined.
    """
    inverse = invert(case.true_field, case.moving.grid, iterations=80, tolerance_mm=1e-3)
    ice = np.asarray(inverse_consistency_error(case.true_field, inverse).array, float)[region]
    ice = ice[np.isfinite(ice)]
    return {**error_stats(ice), "max_mm": round(float(ice.max()), 3) if ice.size else None}


def evaluate(forward: DisplacementField, backward: DisplacementField, case: DeformedCase, body: np.ndarray, args,
             bump: np.ndarray | None = None) -> dict:  # fmt: skip
    """Error, ICE, their rank correlation and the calibration of one forward/backward pair.

    Parameters
    ----------
    forward, backward : DisplacementField
        The registration's fields (fixed grid; moving grid).
    case : DeformedCase
    body : ndarray of bool
        The evaluation region (:func:`bench_registration_accuracy.evaluation_body`); voxels with an undefined ICE are left out.
    args : argparse.Namespace
        ``k_values``, ``m_values`` and ``target``.
    bump : ndarray of bool, optional
        Fixed-grid voxels of a local failure (:func:`bump_region`): reported as a region and a subset.

    Returns
    -------
    dict
    """
    error = np.linalg.norm(np.asarray(forward.array, float) - np.asarray(case.true_field.array, float), axis=-1)
    ice = np.asarray(inverse_consistency_error(forward, backward).array, float)
    region = body & np.isfinite(ice)
    high, low = gradient_regions(case.fixed, region)
    regions = {"body": region, "high_gradient": high, "low_gradient": low}
    if bump is not None and bump.any():
        regions["bump_1sigma"] = region & bump
    e, c = error[region], ice[region]
    p95 = float(np.percentile(e, 95))
    thresholds = {TAIL_NAME: TAIL_MM, "tail_e_gt_p95": round(p95, 3)}
    subsets = {name: e > threshold for name, threshold in thresholds.items()}
    counts = {name: {"threshold_mm": thresholds[name], "n": int(np.count_nonzero(mask))} for name, mask in subsets.items()}
    defaults_subsets = dict(subsets)
    if "bump_1sigma" in regions:
        defaults_subsets["bump_1sigma"] = bump[region]
        counts["bump_1sigma"] = {"n": int(np.count_nonzero(bump[region]))}
    return {
        "voxels_without_ice": int(np.count_nonzero(body & ~np.isfinite(ice))),
        "error": {name: error_stats(error[mask]) for name, mask in regions.items()},
        "ice": {name: error_stats(ice[mask]) for name, mask in regions.items()},
        "spearman_ice_error": {name: spearman(ice[mask], error[mask]) for name, mask in regions.items()},
        "subsets": counts,
        "defaults": {name: rule_summary(e, c, k, m, defaults_subsets) for name, (k, m) in DEFAULT_RULES.items()},
        "calibration": calibration_table(e, c, args.k_values, args.m_values, subsets),
        f"constant_radius_for_{args.target:g}_coverage_mm": {
            "plain": round(float(np.quantile(e, args.target, method="inverted_cdf")), 3),
            "cosine": round(float(np.quantile(e / COVERING_COSINE, args.target, method="inverted_cdf")), 3),
        },
        f"k_for_{args.target:g}_coverage": {
            f"{m:g}mm": {
                "plain": k_for_coverage(e, c, m, args.target),
                "cosine": k_for_coverage(e, c, m, args.target, COVERING_COSINE),
            }
            for m in args.m_values
        },
    }


#: (k, m) pairs printed in the summary table (all of them are in the JSON).
SUMMARY_PAIRS = ((0.0, 2.0), (0.0, 3.0), (1.0, 1.0), (2.0, 1.0), (2.0, 2.0), (3.0, 2.0))


def _coverage(row: dict, k: float, m: float) -> str:
    for entry in row["calibration"]:
        if entry["k"] == k and entry["m"] == m:
            return f"{entry['coverage']:.2f}/{entry['coverage_cosine']:.2f}"
    return "-"


def print_table(result: dict) -> None:
    """Print one line per case and preset: e and ICE (mean/p95), Spearman (all/high/low), coverages, true-field ICE.

    Parameters
    ----------
    result : dict
        The benchmark's JSON content.
    """
    pairs = "  ".join(f"k{k:g}m{m:g}".rjust(9) for k, m in SUMMARY_PAIRS)
    print(f"{'case':10} {'preset':14} {'e mean/p95':>11} {'ICE mean/p95':>12} {'rho all/hi/lo':>15}  {pairs}  {'trueICE':>9}")
    for case_name, entry in result["cases"].items():
        true = entry["true_field_ice"]
        for name, row in entry["registrations"].items():
            e, c, rho = row["error"]["body"], row["ice"]["body"], row["spearman_ice_error"]
            covers = "  ".join(_coverage(row, k, m).rjust(9) for k, m in SUMMARY_PAIRS)
            print(f"{case_name:10} {name:14} {e['mean_mm']:5.2f}/{e['p95_mm']:5.2f} {c['mean_mm']:6.2f}/{c['p95_mm']:5.2f} "
                  f"{rho['body']:5.2f}/{rho['high_gradient']:4.2f}/{rho['low_gradient']:4.2f}  {covers}  "
                  f"{true['mean_mm']:4.2f}/{true['p95_mm']:4.2f}")  # fmt: skip
    print("coverage columns: share(e <= r) / share(e <= 0.807 r) for r = max(m, k ICE), mm; trueICE: mean/p95 mm")


def print_defaults(result: dict) -> None:
    """Print the shipped rule beside the constant radius per case and preset (``defaults``).

    Parameters
    ----------
    result : dict
        The benchmark's JSON content.
    """
    rule = f"max({DEFAULT_MINIMUM_MM:g}, {DEFAULT_SCALE:g} ICE)"
    print(f"\ndefault {rule} vs constant {CONSTANT_RADIUS_MM:g} mm: share(e <= r) / share(e <= 0.807 r); r mean/median/p95 mm")
    head = f"{'all':>9} {'e>3mm':>9} {'e>p95':>9} {'bump':>9} {'r mean/med/p95':>15}"
    print(f"{'case':10} {'preset':14} {'e mean/p95':>11} {'n e>3/bump':>12}  {head}  {head}")

    def pair(shares: dict | None) -> str:
        if not shares or shares["coverage"] is None:
            return "-".rjust(9)
        return f"{shares['coverage']:.2f}/{shares['coverage_cosine']:.2f}".rjust(9)

    for case_name, entry in result["cases"].items():
        for name, row in entry["registrations"].items():
            e, n = row["error"]["body"], row["subsets"]
            columns = []
            for summary in row["defaults"].values():
                within = summary["coverage_in"]
                radius = f"{summary['mean_r_mm']:4.2f}/{summary['median_r_mm']:4.2f}/{summary['p95_r_mm']:5.2f}"
                columns.append(f"{pair(summary)} {pair(within[TAIL_NAME])} {pair(within['tail_e_gt_p95'])} "
                               f"{pair(within.get('bump_1sigma'))} {radius:>15}")  # fmt: skip
            counts = f"{n[TAIL_NAME]['n']}/{n['bump_1sigma']['n'] if 'bump_1sigma' in n else '-'}"
            print(f"{case_name:10} {name:14} {e['mean_mm']:5.2f}/{e['p95_mm']:5.2f} {counts:>12}  {'  '.join(columns)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=str(DATA))
    parser.add_argument("--correlations", nargs="+", type=float, default=[20.0, 30.0, 60.0])
    parser.add_argument("--amplitude", type=float, default=8.0, help="largest smooth displacement in the body, mm")
    parser.add_argument("--presets", nargs="+", default=["fast", "accurate"], help="elastix presets, each with body masks")
    parser.add_argument("--changes", default="all", choices=list(CHANGES), help="intensity changes between the courses")
    parser.add_argument("--seed", type=int, default=0, help="added to each case's seed (its correlation length in mm)")
    parser.add_argument("--threads", type=int, default=2, help="elastix threads (0: its default)")
    parser.add_argument("--margin", type=float, default=10.0, help="mm from the CT's border left out of the evaluation")
    parser.add_argument("--k-values", nargs="+", type=float, default=[0.5, 1.0, 1.5, 2.0, 3.0])
    parser.add_argument("--m-values", nargs="+", type=float, default=[0.0, 1.0, 2.0, 3.0])
    parser.add_argument("--target", type=float, default=0.95, help="coverage for which the smallest k is reported")
    parser.add_argument(
        "--local-failure",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add the local gross failure case(s): a displacement bump in homogeneous tissue",
    )
    parser.add_argument("--local-failure-correlations", nargs="+", type=float, default=[30.0])
    parser.add_argument("--local-failure-presets", nargs="+", default=["fast"])
    parser.add_argument("--bump-amplitude", type=float, default=12.0, help="the bump's largest displacement, mm")
    parser.add_argument("--bump-sigma", type=float, default=15.0, help="the bump's Gaussian standard deviation, mm")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "uncertainty_calibration.json"))
    args = parser.parse_args(argv)

    begin = time.perf_counter()
    load_seconds = itk_load_seconds()
    fixed = downsample(read_image(args.image), (1, 2, 2))
    result = {
        "image": f"{Path(args.image).name}, block-averaged 1x2x2 (z y x)",
        "grid": fixed.grid.describe(),
        "threads": args.threads,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                    "note": "shared machine (2 cores, several sessions): times are under contention, see load_average"},
        "itk_elastix_load_seconds": round(load_seconds, 1),
        "evaluation": f"body voxels whose true moving point is > {args.margin} mm inside the CT and whose ICE is defined; "
        "e = |u_found - u_true|, ICE = |forward then backward loop|; high/low gradient: the fixed CT's gradient "
        "(Gaussian 2 mm) above/below its median in that region; r = max(m, k ICE); coverage = share(e <= r), "
        f"coverage_cosine = share(e <= {COVERING_COSINE} r); tails: e > {TAIL_MM:g} mm and e > the registration's "
        "own p95 of e; defaults: the shipped rule beside the constant radius",
        "defaults": {"default": f"max({DEFAULT_MINIMUM_MM:g} mm, {DEFAULT_SCALE:g} x ICE) (accumulate.uncertainty)",
                     f"constant_{CONSTANT_RADIUS_MM:g}mm": f"constant {CONSTANT_RADIUS_MM:g} mm (the shift method)"},
        "registration": "elastix preset with the body masks of both CTs (accumulate.registration.body_mask), "
        "forward and backward in one process (register(..., backward=True))",
        "cases": {},
    }  # fmt: skip
    cases = [(correlation, False) for correlation in args.correlations]
    if args.local_failure:
        cases += [(correlation, True) for correlation in args.local_failure_correlations]
    for correlation, local_failure in cases:
        start = time.perf_counter()
        bump_info, bump = None, None
        if local_failure:
            case, bump_info = make_local_failure_case(fixed, correlation, bump_mm=args.bump_amplitude,
                                                      bump_sigma_mm=args.bump_sigma, amplitude_mm=args.amplitude,
                                                      changes=args.changes, seed=args.seed)  # fmt: skip
            bump = bump_region(case, args.bump_sigma)
        else:
            case = make_case(fixed, correlation, amplitude_mm=args.amplitude, changes=args.changes, seed=args.seed)
        body = evaluation_body(case, args.margin)
        truth = np.linalg.norm(np.asarray(case.true_field.array, float)[body], axis=-1)
        true_ice = true_field_ice(case, body)
        entry = {"deformation": case.settings.__dict__, "true_displacement": error_stats(truth),
                 "inverse_residual_mm": round(case.inverse_residual_mm, 3), "true_field_ice": true_ice,
                 "case_seconds": round(time.perf_counter() - start, 1), "registrations": {}}  # fmt: skip
        name = f"{correlation:g}mm" + ("+bump" if local_failure else "")
        if local_failure:
            inside = body & bump
            entry["local_failure"] = {**bump_info, "voxels_within_1sigma": int(np.count_nonzero(inside)),
                                      "true_displacement_within_1sigma": error_stats(
                                          np.linalg.norm(np.asarray(case.true_field.array, float)[inside], axis=-1))}  # fmt: skip
            print(f"{name}: bump {json.dumps(entry['local_failure'])}", flush=True)
        print(f"{name}: true-field ICE {json.dumps(entry['true_field_ice'])}", flush=True)
        for preset in args.local_failure_presets if local_failure else args.presets:
            forward, backward, timing = register_both_ways(case, preset, args.threads)
            row = {**timing, **evaluate(forward, backward, case, body, args, bump)}
            summary = {key: row[key] for key in ("seconds", "forward_stages_s", "backward_stages_s", "spearman_ice_error")}
            print(f"{name} {preset}+masks: e {row['error']['body']} ICE {row['ice']['body']} {summary}", flush=True)
            entry["registrations"][f"{preset}+masks"] = row
        result["cases"][name] = entry
        result["total_seconds"] = round(time.perf_counter() - begin, 1)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print_table(result)
    print_defaults(result)
    print(f"total {result['total_seconds']:.0f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
