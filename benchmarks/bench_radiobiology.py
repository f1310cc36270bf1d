"""Time the voxelwise LQ operations on every available backend; write JSON to benchmarks/results/.

Usage: python benchmarks/bench_radiobiology.py [--size 256] [--repeats 5] [--out FILE]

Reports voxels per second and the fraction of the memory-bandwidth bound reached. The bound is
(bytes moved per voxel) / (measured copy bandwidth): ``eqd2`` reads a dose and an alpha/beta
value and writes one result (3 x 4 bytes in float32); ``cumulative_eqd2`` over K courses with
per-voxel residuals and a limit reads 2K + 2 values and writes 2.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

import accumulate as acc
from accumulate import CourseDose, Grid, Volume
from accumulate.backends import NAMES


def _best_of(function, repeats: int, sync=lambda: None) -> float:
    function()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


def _time_backend(backend: str, dose: Volume, ab: Volume, courses, limit: Volume, repeats: int) -> dict[str, float]:
    """Best-of-``repeats`` seconds of eqd2 and cumulative_eqd2 on one backend (inputs on its device)."""
    sync = lambda: None  # noqa: E731
    dose_in, ab_in = dose.array, ab.array
    if backend == "cupy":
        import cupy

        dose_in, ab_in, sync = cupy.asarray(dose_in), cupy.asarray(ab_in), cupy.cuda.Device().synchronize
    return {
        "eqd2": _best_of(lambda: acc.eqd2(dose_in, 30, ab_in, backend=backend), repeats, sync),
        "cumulative_eqd2": _best_of(
            lambda: acc.cumulative_eqd2(courses, ab, limit=limit, new_fractions=5, backend=backend), repeats, sync
        ),
    }


def host_copy_bandwidth(nbytes: int = 1 << 28) -> float:
    """Bytes per second of a large host memory copy (read + write counted)."""
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    seconds = _best_of(lambda: np.copyto(dst, src), 5)
    return 2 * src.nbytes / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="edge of the cubic grid (voxels)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--courses", type=int, default=3)
    parser.add_argument("--backends", default=",".join(NAMES))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "radiobiology_cpu.json")
    args = parser.parse_args()

    grid = Grid((args.size,) * 3)
    rng = np.random.default_rng(0)
    dtype = np.float32
    dose = Volume(rng.uniform(0, 70, grid.shape).astype(dtype), grid)
    ab = Volume(rng.uniform(2, 10, grid.shape).astype(dtype), grid, "alpha_beta", "Gy")
    residual = Volume(rng.uniform(0, 1, grid.shape).astype(dtype), grid, "residual_fraction", "1")
    limit = Volume(rng.uniform(40, 120, grid.shape).astype(dtype), grid, "eqd_limit", "Gy")
    courses = [CourseDose(f"c{k}", dose, 30, residual=residual) for k in range(args.courses)]
    bandwidth = host_copy_bandwidth()
    bytes_eqd2 = 3 * 4
    bytes_accumulate = (2 * args.courses + 2 + 2) * 4
    results = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": __import__("os").cpu_count()},
        "host_copy_bandwidth_gb_s": bandwidth / 1e9,
        "grid": list(grid.shape),
        "dtype": "float32",
        "courses": args.courses,
        "operations": {},
    }
    for backend in [b for b in args.backends.split(",") if b in acc.available_backends()]:
        timings = _time_backend(backend, dose, ab, courses, limit, args.repeats)
        for name, seconds in timings.items():
            nbytes = bytes_eqd2 if name == "eqd2" else bytes_accumulate
            rate, bound = grid.size / seconds, bandwidth / nbytes
            results["operations"].setdefault(name, {})[backend] = {
                "seconds": seconds,
                "voxels_per_s": rate,
                "bytes_per_voxel": nbytes,
                "bandwidth_bound_voxels_per_s": bound,
                "fraction_of_bound": rate / bound,
            }
            print(
                f"{name:<16s} {backend:<6s} {seconds * 1e3:9.1f} ms {rate / 1e6:9.1f} Mvox/s {100 * rate / bound:5.1f} % of bound"
            )
    for per_backend in results["operations"].values():
        for row in per_backend.values():
            if "numpy" in per_backend:
                row["speedup_vs_numpy"] = per_backend["numpy"]["seconds"] / row["seconds"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"host copy bandwidth {bandwidth / 1e9:.1f} GB/s; wrote {args.out}")


if __name__ == "__main__":
    main()
