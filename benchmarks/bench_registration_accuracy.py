"""Registration accuracy on realistic deformations of a real CT: presets, tuned variants and other methods in one run.

The thoracic CT of elastix's examples (``tests/data/elastix-lung/3DCT_lung.mha``, Apache-2.0),
block-averaged in-plane to 2.73 x 2.73 x 2.5 mm, is deformed by :mod:`deformations` (random
smooth field of a given correlation length and amplitude, a rigid offset, a shrinking structure,
a contrast bolus, weight loss at the outline, 20 HU noise) and registered back by every method.
Reported per correlation length and method: the field error ``|u_found - u_true|`` (mean, p95)
over the body (voxels whose true moving point lies more than ``--margin`` mm inside the CT), over
its high-gradient and low-gradient halves (the fixed CT's smoothed gradient above / below its
median in the body), the target registration error at the expert landmarks (below), the Jacobian
range, and the wall time (ITK's one-off load apart). The machine is shared (2 cores, several
sessions): the 1-minute load average after each method is recorded; times are under contention.

Methods: elastix presets (``fast``, ``accurate``; ``+masks``: the body masks of both CTs, as the
pipeline gives them), variants of a preset's B-spline stage (``--variants``), elastix's default
affine + B-spline maps, and SimpleITK's diffeomorphic demons after a Mattes-MI affine.

Landmarks: elastix's 100 expert landmarks on this baseline CT (``3DCT_lung_baseline_landmarks.txt``,
LPS mm; the CT is a crop of the right hemithorax, so about half lie inside it, on vessels). The
fixed CT is the undeformed baseline, so they are fixed-image points; the TRE is
``|u_found(l) - u_true(l)|`` with both fields sampled trilinearly at l (mean, p95, max), at the
landmarks in the evaluated body region (body mask at the nearest voxel, true moving point more
than ``--margin`` mm inside the CT) and, as the body mask leaves out lung that the crop opens to
the border, at every landmark whose true moving point is that far inside the CT. A sanity check
of the landmarks (inside the grid, in the body, HU and gradient at them) is printed and stored.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_registration_accuracy.py`` (writes
``benchmarks/results/registration_accuracy.json``; the stored one with ``--methods fast fast+masks
accurate+masks demons``). ``registration_accuracy_multimetric.json``: ``--methods elastix-default
--variants accurate-be1+masks --threads 0`` (two metrics with an explicit thread count segfault in
elastix: ``--threads 0`` leaves ITK's default). ``registration_accuracy_changes_<c>.json``:
``--correlations 30 --methods fast fast+masks --changes <c>``. ``registration_accuracy_variants.json``:
the ``--variants`` runs, merged. ``registration_accuracy_landmarks.json`` (with the landmark TRE):
``--methods fast+masks accurate+masks demons --output benchmarks/results/registration_accuracy_landmarks.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from deformations import Deformation, DeformedCase, deform, downsample, gradient_regions  # noqa: E402

from accumulate import DisplacementField  # noqa: E402
from accumulate.registration import (  # noqa: E402
    body_mask,
    jacobian_determinant,
    preset_files,
    read_elastix_points,
    read_image,
    register,
    sample_linear,
)

DATA = ROOT / "tests" / "data" / "elastix-lung" / "3DCT_lung.mha"
LANDMARKS = ROOT / "tests" / "data" / "elastix-lung" / "3DCT_lung_baseline_landmarks.txt"

#: B-spline stage changes tried against the shipped presets: name -> (preset, {parameter: value}).
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "fast-it1000": ("fast", {"MaximumNumberOfIterations": "1000"}),
    "fast-it600-s4000": ("fast", {"MaximumNumberOfIterations": "600", "NumberOfSpatialSamples": "4000"}),
    "fast-g16": ("fast", {"FinalGridSpacingInPhysicalUnits": "16.0 16.0 16.0"}),
    "fast-g16-it500": ("fast", {"FinalGridSpacingInPhysicalUnits": "16.0 16.0 16.0", "MaximumNumberOfIterations": "500"}),
    "accurate-g16": ("accurate", {"FinalGridSpacingInPhysicalUnits": "16.0 16.0 16.0"}),
    "accurate-s20000": ("accurate", {"NumberOfSpatialSamples": "20000"}),
    "accurate-be1": (
        "accurate",
        {
            "Registration": '"MultiMetricMultiResolutionRegistration"',
            "Metric": '"AdvancedNormalizedCorrelation" "TransformBendingEnergyPenalty"',
            "Metric0Weight": "1.0",
            "Metric1Weight": "1.0",
        },
    ),
    "accurate-g8": ("accurate", {"FinalGridSpacingInPhysicalUnits": "8.0 8.0 8.0", "GridSpacingSchedule": "4.0 2.0 1.0"}),
    "accurate-4lev": (
        "accurate",
        {
            "NumberOfResolutions": "4",
            "ImagePyramidSchedule": "4 4 2  2 2 1  1 1 1  1 1 1",
            "GridSpacingSchedule": "8.0 4.0 2.0 1.0",
        },
    ),
}


#: The intensity changes between the courses (``--changes``): all of them, none, or one kind.
CHANGES = {
    "all": {"bolus_hu": 150.0, "shrink_fraction": 0.15, "weight_loss_mm": 5.0},
    "none": {},
    "weight_loss": {"weight_loss_mm": 5.0},
    "bolus_shrink": {"bolus_hu": 150.0, "shrink_fraction": 0.15},
}


def case_settings(correlation_mm: float, *, amplitude_mm: float = 8.0, changes: str = "all", seed: int = 0,
                  **extra) -> Deformation:  # fmt: skip
    """The deformation of the benchmark's case of one correlation length (mm): a (1, -1, 2) deg, (4, -3, 5) mm rigid offset.

    ``changes`` is a key of :data:`CHANGES` (the intensity changes between the courses); the
    case's seed is the correlation length in mm plus ``seed``; ``extra`` are further
    :class:`deformations.Deformation` fields (e.g. a bump).
    """
    return Deformation(correlation_mm=correlation_mm, amplitude_mm=amplitude_mm, rotation_deg=(1.0, -1.0, 2.0),
                       translation_mm=(4.0, -3.0, 5.0), noise_hu=20.0, seed=int(correlation_mm) + seed,
                       **CHANGES[changes], **extra)  # fmt: skip


def evaluation_body(case: DeformedCase, margin_mm: float) -> np.ndarray:
    """Body voxels whose true moving point lies more than ``margin_mm`` inside the CT.

    Parameters
    ----------
    case : DeformedCase
    margin_mm : float

    Returns
    -------
    ndarray of bool
        On the fixed grid.
    """
    grid = case.fixed.grid
    margin_voxels = -margin_mm / max(grid.spacing_mm)
    return case.body & grid.contains_world(case.true_field.moving_points(), margin_voxels=margin_voxels)


def error_stats(errors: np.ndarray) -> dict[str, float]:
    if errors.size == 0:
        return {"mean_mm": None, "p95_mm": None, "n": 0}
    p95 = float(np.percentile(errors, 95))
    return {"mean_mm": round(float(errors.mean()), 3), "p95_mm": round(p95, 3), "n": int(errors.size)}


def landmark_stats(errors: np.ndarray) -> dict[str, float]:
    errors = errors[np.isfinite(errors)]
    if errors.size == 0:
        return {"n": 0, "mean_mm": None, "p95_mm": None, "max_mm": None}
    return {"n": int(errors.size), "mean_mm": round(float(errors.mean()), 3),
            "p95_mm": round(float(np.percentile(errors, 95)), 3), "max_mm": round(float(errors.max()), 3)}  # fmt: skip


def _nearest(grid, points: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``mask`` (on ``grid``) at the voxel nearest each point (False outside the grid)."""
    inside = grid.contains_world(points)
    index = np.clip(np.rint(grid.index_from_world(points)).astype(int), 0, np.asarray(grid.shape) - 1)
    return inside & mask[tuple(index.T)]


def landmark_check(fixed, landmarks: np.ndarray, body: np.ndarray, high_gradient: np.ndarray) -> dict:
    """Whether the landmarks fit the CT: how many lie inside its grid and body, and HU / gradient at them.

    A landmark on structure (a vessel bifurcation in the lung) sits where the smoothed gradient is
    well above its body median and brighter than the lung parenchyma 10 mm away.
    """
    grid = fixed.grid
    inside = grid.contains_world(landmarks)
    points = landmarks[inside]
    ct = np.asarray(fixed.array, float)
    spacing_zyx = np.asarray(grid.spacing_mm[::-1])
    smooth = ndimage.gaussian_filter(ct, 2.0 / spacing_zyx)
    gradient = np.sqrt(sum(g * g for g in np.gradient(smooth, *spacing_zyx)))
    shifted = points + np.random.default_rng(0).normal(0.0, 10.0, points.shape)
    hu, hu_shifted = sample_linear(ct, grid, points), sample_linear(ct, grid, shifted)
    at, at_shifted = sample_linear(gradient, grid, points), sample_linear(gradient, grid, shifted)
    low, high = grid.world_from_index(np.zeros(3)), grid.world_from_index(np.asarray(grid.shape, float) - 1.0)
    outside = landmarks[~inside, 0]

    def extent(a, b):
        return [[round(float(u), 1), round(float(v), 1)] for u, v in zip(np.atleast_1d(a), np.atleast_1d(b), strict=True)]

    return {
        "file": LANDMARKS.name,
        "n_total": len(landmarks),
        "n_inside_grid": int(inside.sum()),
        "n_in_body_mask": int(_nearest(grid, landmarks, body).sum()),
        "n_in_high_gradient_half": int(_nearest(grid, landmarks, high_gradient).sum()),
        "grid_extent_mm": extent(low, high),
        "landmark_extent_mm": extent(landmarks.min(0), landmarks.max(0)),
        "outside_grid_x_range_mm": extent(outside.min(), outside.max())[0] if len(outside) else None,
        "hu_at_landmarks_p10_p50_p90": [round(float(v)) for v in np.percentile(hu, [10, 50, 90])],
        "hu_10mm_away_median": round(float(np.nanmedian(hu_shifted))),
        "gradient_hu_per_mm_at_landmarks_median": round(float(np.median(at)), 1),
        "gradient_hu_per_mm_10mm_away_median": round(float(np.nanmedian(at_shifted)), 1),
        "gradient_hu_per_mm_body_median": round(float(np.median(gradient[body])), 1),
        "fraction_above_body_median_gradient": round(float((at > np.median(gradient[body])).mean()), 2),
    }  # fmt: skip


def variant_files(preset: str, changes: dict[str, str], folder: Path) -> list[Path]:
    """The preset's parameter files with ``changes`` applied to its last (B-spline) stage, written into ``folder``."""
    files = preset_files(preset)
    out = []
    for index, path in enumerate(files):
        text = path.read_text(encoding="utf-8")
        if index == len(files) - 1:
            for key, value in changes.items():
                line = f"({key} {value})"
                text, n = re.subn(rf"^\({key} [^)]*\)", line, text, flags=re.M)
                if n == 0:
                    text += line + "\n"
        target = folder / path.name
        target.write_text(text, encoding="utf-8")
        out.append(target)
    return out


def _elastix(case, *, preset=None, files=None, masks=False, threads=2):
    fixed_mask = body_mask(case.fixed) if masks else None
    moving_mask = body_mask(case.moving) if masks else None
    with tempfile.TemporaryDirectory() as out:
        result = register(case.fixed, case.moving, preset=preset or "fast", parameter_files=files, fixed_mask=fixed_mask,
                          moving_mask=moving_mask, output_directory=out, threads=threads, progress=lambda line: None)  # fmt: skip
    return result.field


def _elastix_default(case, threads=2):
    import itk

    with tempfile.TemporaryDirectory() as folder:
        files = []
        for index, name in enumerate(("affine", "bspline")):
            obj = itk.ParameterObject.New()
            entries = dict(obj.GetDefaultParameterMap(name))
            entries["WriteResultImage"] = ["false"]
            obj.AddParameterMap(entries)
            path = Path(folder) / f"{index}_{name}.txt"
            obj.WriteParameterFile(str(path))
            files.append(path)
        return _elastix(case, files=files, threads=threads)


def _to_sitk(volume):
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.asarray(volume.array, dtype=np.float32))
    image.SetOrigin(volume.grid.origin_mm)
    image.SetSpacing(volume.grid.spacing_mm)
    image.SetDirection(volume.grid.direction)
    return image


def _demons(case, threads=2):
    """SimpleITK: Mattes-MI affine (3 levels), then diffeomorphic demons on a 3-level pyramid (sigma 1.5 voxels)."""
    import SimpleITK as sitk

    if threads:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    fixed, moving = _to_sitk(case.fixed), _to_sitk(case.moving)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.05, seed=1)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(2.0, 1e-3, 200, relaxationFactor=0.7)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2, 1, 0])
    geometry = sitk.CenteredTransformInitializerFilter.GEOMETRY
    initial = sitk.CenteredTransformInitializer(fixed, moving, sitk.AffineTransform(3), geometry)
    method.SetInitialTransform(initial, inPlace=False)
    affine = sitk.AffineTransform(method.Execute(fixed, moving).GetNthTransform(0))
    moved = sitk.Resample(moving, fixed, affine, sitk.sitkLinear, -1000.0)
    displacement = None
    for shrink, iterations in ((4, 60), (2, 40), (1, 20)):
        f_level = sitk.Shrink(sitk.SmoothingRecursiveGaussian(fixed, shrink / 2.0), [shrink] * 3) if shrink > 1 else fixed
        m_level = sitk.Shrink(sitk.SmoothingRecursiveGaussian(moved, shrink / 2.0), [shrink] * 3) if shrink > 1 else moved
        demons = sitk.DiffeomorphicDemonsRegistrationFilter()
        demons.SetNumberOfIterations(iterations)
        demons.SetStandardDeviations(1.5)
        demons.SetSmoothDisplacementField(True)
        if displacement is None:
            displacement = demons.Execute(f_level, m_level)
        else:
            start = sitk.Resample(displacement, f_level, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkVectorFloat64)
            displacement = demons.Execute(f_level, m_level, start)
    d = sitk.GetArrayFromImage(displacement).astype(float)  # (z, y, x, 3), x y z components, fixed grid
    points = case.fixed.grid.world_coordinates()
    matrix = np.asarray(affine.GetMatrix()).reshape(3, 3)
    centre, translation = np.asarray(affine.GetCenter()), np.asarray(affine.GetTranslation())
    moved_points = (points + d - centre) @ matrix.T + centre + translation  # moving point = A(p + d(p))
    return DisplacementField((moved_points - points).astype(np.float32), case.fixed.grid)


def _method(name: str, case, threads: int, folder: Path) -> DisplacementField:
    if name == "demons":
        return _demons(case, threads)
    if name == "elastix-default":
        return _elastix_default(case, threads)
    masks = name.endswith("+masks")
    base = name.removesuffix("+masks")
    if base in VARIANTS:
        preset, changes = VARIANTS[base]
        return _elastix(case, files=variant_files(preset, changes, folder), masks=masks, threads=threads)
    return _elastix(case, preset=base, masks=masks, threads=threads)


def _evaluate(found: DisplacementField, case, regions: dict[str, np.ndarray], landmarks: dict[str, tuple]) -> dict:
    """Field error per region, TRE per landmark set (name -> (points, true displacement there)), Jacobian."""
    found = found.to_numpy()
    error = np.linalg.norm(np.asarray(found.array, float) - np.asarray(case.true_field.array, float), axis=-1)
    jac = jacobian_determinant(found).array[regions["body"]]
    tre = {}
    for name, (points, true_u) in landmarks.items():
        found_u = sample_linear(np.asarray(found.array, float), found.grid, points)
        tre[name] = landmark_stats(np.linalg.norm(found_u - true_u, axis=-1))
    return {
        **{region: error_stats(error[mask]) for region, mask in regions.items()},
        **tre,
        "jacobian": {"min": round(float(jac.min()), 3), "max": round(float(jac.max()), 3), "folded": int((jac <= 0).sum())},
    }


def itk_load_seconds() -> float:
    import itk

    start = time.perf_counter()
    itk.ElastixRegistrationMethod, itk.TransformixFilter, itk.ParameterObject  # noqa: B018
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=str(DATA))
    parser.add_argument("--correlations", nargs="+", type=float, default=[20.0, 30.0, 60.0])
    parser.add_argument("--amplitude", type=float, default=8.0, help="largest smooth displacement in the body, mm")
    parser.add_argument("--methods", nargs="+", default=["fast", "fast+masks", "accurate", "accurate+masks", "demons"])
    parser.add_argument("--variants", nargs="*", default=[], choices=[f"{v}{m}" for v in VARIANTS for m in ("", "+masks")])
    parser.add_argument("--changes", default="all", choices=list(CHANGES), help="intensity changes between the courses")
    parser.add_argument("--threads", type=int, default=2, help="elastix/SimpleITK threads (0: their default)")
    parser.add_argument("--margin", type=float, default=10.0, help="mm from the CT's border left out of the error")
    default_out = ROOT / "benchmarks" / "results" / "registration_accuracy.json"
    parser.add_argument("--out", "--output", dest="out", default=str(default_out), help="results file (JSON)")
    parser.add_argument("--landmarks", default=str(LANDMARKS), help="elastix point file of landmarks on the CT (LPS mm)")
    args = parser.parse_args(argv)

    load_seconds = itk_load_seconds()
    fixed = downsample(read_image(args.image), (1, 2, 2))
    landmarks = read_elastix_points(args.landmarks, fixed.grid)
    body0 = np.asarray(body_mask(fixed).array, dtype=bool)
    check = landmark_check(fixed, landmarks, body0, gradient_regions(fixed, body0)[0])
    print(f"landmarks: {json.dumps(check)}", flush=True)
    methods = list(args.methods) + list(args.variants)
    result = {
        "image": f"{Path(args.image).name}, block-averaged 1x2x2 (z y x)",
        "grid": fixed.grid.describe(),
        "threads": args.threads,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "note": "shared machine (2 cores, several sessions): times are under contention, see load_average"},
        "itk_elastix_load_seconds": round(load_seconds, 1),
        "evaluation": f"|u_found - u_true| over body voxels whose true moving point is > {args.margin} mm inside the CT; "
        "high/low gradient: the fixed CT's gradient (Gaussian 2 mm) above/below its body median; "
        "landmarks_body: TRE |u_found(l) - u_true(l)| (both trilinear at the landmark l) at the landmarks in that body "
        "region (body mask at the nearest voxel); landmarks_in_ct: at every landmark inside the CT whose true moving "
        "point is as far inside (the body mask leaves out lung the crop opens to the border)",
        "landmark_check": check,
        "variants": {name: {"preset": p, "bspline_changes": c} for name, (p, c) in VARIANTS.items()},
        "cases": {},
    }  # fmt: skip
    for correlation in args.correlations:
        settings = case_settings(correlation, amplitude_mm=args.amplitude, changes=args.changes)
        case = deform(fixed, settings)
        margin_voxels = -args.margin / max(fixed.grid.spacing_mm)
        body = evaluation_body(case, args.margin)
        high, low = gradient_regions(fixed, body)
        regions = {"body": body, "high_gradient": high, "low_gradient": low}
        truth = np.linalg.norm(np.asarray(case.true_field.array, float)[body], axis=-1)
        true_u = sample_linear(np.asarray(case.true_field.array, float), fixed.grid, landmarks)  # NaN outside the grid
        in_ct = fixed.grid.contains_world(landmarks + true_u, margin_voxels=margin_voxels)  # False where true_u is NaN
        landmark_sets = {"landmarks_body": in_ct & _nearest(fixed.grid, landmarks, body), "landmarks_in_ct": in_ct}
        landmark_sets = {name: (landmarks[keep], true_u[keep]) for name, keep in landmark_sets.items()}
        true_at = {f"true_displacement_{name}": landmark_stats(np.linalg.norm(u, axis=-1))
                   for name, (_, u) in landmark_sets.items()}  # fmt: skip
        entry = {"deformation": settings.__dict__, "true_displacement": error_stats(truth), **true_at,
                 "inverse_residual_mm": round(case.inverse_residual_mm, 3), "methods": {}}  # fmt: skip
        for name in methods:
            with tempfile.TemporaryDirectory() as folder:
                start = time.perf_counter()
                found = _method(name, case, args.threads, Path(folder))
                seconds = time.perf_counter() - start
            row = {"seconds": round(seconds, 1), "load_average_1min_after": round(os.getloadavg()[0], 2),
                   **_evaluate(found, case, regions, landmark_sets)}  # fmt: skip
            print(f"{correlation:.0f} mm {name}: {json.dumps(row)}", flush=True)
            entry["methods"][name] = row
        result["cases"][f"{correlation:g}mm" + ("" if args.changes == "all" else f", changes: {args.changes}")] = entry
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
