"""Registration accuracy and run time on real thoracic anatomy with a known answer.

The full-resolution thoracic CT of elastix's examples (tests/data/elastix-lung, 115x157x129,
1.37x1.37x2.5 mm) is deformed by a smooth invertible field (Gaussian bumps up to 10 mm, or 15 mm
in the harder scenario, plus a rigid offset of a few degrees and mm) with 20 HU noise, and
registered back with each preset on 2 threads. Reported: the field error inside the body (mean,
95th percentile, max; voxels whose true moving point lies within ``--margin`` mm of the moving
CT's border are left out, there the synthetic CT has no data), the target registration error
at about 350 points (the expert landmarks that lie inside this CT plus 300 random body points),
the Jacobian range and folding, and the wall time per stage (ITK's one-off load time apart;
the 1-minute load average after each run shows whether other work shared the cores).
Writes ``benchmarks/results/registration_lung.json``.

Run: ``.venv/bin/python benchmarks/bench_registration.py [--presets fast accurate]``
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "registration"))

from registration_phantom import field_error, make_phantom  # noqa: E402

from accumulate.registration import (  # noqa: E402
    body_mask,
    jacobian_determinant,
    read_elastix_points,
    read_image,
    register,
    target_registration_error,
)

DATA = ROOT / "tests" / "data" / "elastix-lung"


def _stats(values: np.ndarray) -> dict[str, float]:
    return {
        "mean_mm": round(float(values.mean()), 3),
        "p95_mm": round(float(np.percentile(values, 95)), 3),
        "max_mm": round(float(values.max()), 3),
        "n": int(values.size),
    }


SCENARIOS = {
    # the case: bumps up to 10 mm plus a rigid offset of a few degrees and mm
    "bumps10mm": {
        "bump_peak_mm": 10.0,
        "bump_sigma_mm": 35.0,
        "rotation_deg": (1.0, -1.0, 2.0),
        "translation_mm": (4.0, -3.0, 5.0),
    },
    # larger and more local: bumps up to 15 mm over a shorter range, a larger setup error
    "bumps15mm": {
        "bump_peak_mm": 15.0,
        "bump_sigma_mm": 25.0,
        "rotation_deg": (2.0, -2.0, 4.0),
        "translation_mm": (8.0, -6.0, 10.0),
    },
}


def _points(phantom, body: np.ndarray, rng: np.random.Generator, margin_mm: float) -> tuple[np.ndarray, np.ndarray]:
    landmarks = read_elastix_points(DATA / "3DCT_lung_baseline_landmarks.txt")
    voxels = np.argwhere(body)
    random_points = phantom.fixed.grid.world_from_index(voxels[rng.choice(len(voxels), 300, replace=False)].astype(float))
    fixed_points = np.concatenate([landmarks, random_points])
    moving_points = phantom.moving_points(fixed_points)
    margin_voxels = -margin_mm / max(phantom.moving.grid.spacing_mm)
    keep = phantom.moving.grid.contains_world(moving_points, margin_voxels=margin_voxels)
    keep &= phantom.fixed.grid.contains_world(fixed_points, margin_voxels=margin_voxels)
    return fixed_points[keep], moving_points[keep]


def _itk_load_seconds() -> float:
    """Load ITK's elastix and transformix wrappers once, so the timings below are the registrations only."""
    import itk

    start = time.perf_counter()
    itk.ElastixRegistrationMethod, itk.TransformixFilter, itk.ParameterObject  # noqa: B018
    return time.perf_counter() - start


def _scenario(fixed, body, settings: dict, presets: list[str], threads: int, margin_mm: float) -> dict:
    phantom = make_phantom(fixed, noise_hu=20.0, **settings)
    truth = phantom.true_field()
    margin_voxels = -margin_mm / max(fixed.grid.spacing_mm)
    region = body & phantom.moving.grid.contains_world(truth.moving_points(), margin_voxels=margin_voxels)
    fixed_points, moving_points = _points(phantom, body, np.random.default_rng(1), margin_mm)
    result = {
        "deformation": {**settings, "noise_hu": 20.0},
        "true_displacement": _stats(np.linalg.norm(truth.array[region], axis=-1)),
        "tre_before_registration": _stats(np.linalg.norm(moving_points - fixed_points, axis=1)),
        "presets": {},
    }
    for preset in presets:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            run = register(fixed, phantom.moving, preset=preset, threads=threads, output_directory=out, progress=print)
            seconds = time.perf_counter() - start
        jac = jacobian_determinant(run.field).array[body]
        entry = {
            "seconds_total": round(seconds, 1),
            "load_average_1min_after": round(os.getloadavg()[0], 2),
            "seconds_per_stage": {name: round(s, 1) for name, s in run.stage_s},
            "field_error": _stats(field_error(run.field, phantom, region, truth)),
            "tre": _stats(target_registration_error(run.field, fixed_points, moving_points)),
            "jacobian": {
                "min": round(float(jac.min()), 3),
                "max": round(float(jac.max()), 3),
                "folded_voxels": int((jac <= 0).sum()),
            },
        }
        print(preset, json.dumps(entry), flush=True)
        result["presets"][preset] = entry
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=str(DATA / "3DCT_lung.mha"))
    parser.add_argument("--presets", nargs="+", default=["fast", "accurate"])
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--margin", type=float, default=10.0, help="mm from the moving CT's border left out of the error")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "registration_lung.json"))
    args = parser.parse_args(argv)

    load_seconds = _itk_load_seconds()
    fixed = read_image(args.image)
    body = body_mask(fixed).array
    result = {
        "image": Path(args.image).name,
        "grid": fixed.grid.describe(),
        "threads": args.threads,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "itk_elastix_load_seconds": round(load_seconds, 1),
        "evaluation": f"field error over body voxels whose true moving point is > {args.margin} mm inside the moving CT; "
        "TRE at the expert landmarks inside the CT plus 300 random body points (same margin)",
        "scenarios": {
            name: _scenario(fixed, body, SCENARIOS[name], args.presets, args.threads, args.margin) for name in args.scenarios
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
