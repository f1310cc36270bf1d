"""Time dose warping and the fused accumulation on every available backend against scipy, SimpleITK, plastimatch.

One run times, on dose grids of 128^3, 256^3 and 512 x 512 x 160 (2 mm voxels, float32): our
``direct`` and ``mass`` warps and the fused accumulation (two prior courses sharing one field,
plus the current course, with an alpha/beta map and a limit) on each backend; and, on the same
field, ``scipy.ndimage.map_coordinates(order=1)``, SimpleITK ``Resample`` with a
``DisplacementFieldTransform`` and the ``plastimatch warp`` command. It measures the machine's
memory bandwidth (a parallel copy), states the bytes each kernel must move per voxel and so its
bandwidth-bound rate, prints voxels/s and ratios, and writes JSON to ``benchmarks/results/``.

The field lives on the target grid (as the peers need it), so ``direct`` reads u without
interpolating it; ``mass`` interpolates u at k^3 sub-samples per voxel.

Usage::

    python benchmarks/bench_warp.py                      # all sizes, every available backend
    python benchmarks/bench_warp.py --sizes 128 --repeat 3
    python benchmarks/bench_warp.py --output benchmarks/results/warp_gpu.json   # on a GPU machine

On a machine with CuPy and a CUDA device the ``cupy`` backend is timed too (device-resident
inputs, synchronised, no host transfers inside the timing) against the card's copy bandwidth.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "warp"))
from warp_phantoms import gaussian_dose, layered_density, smooth_field  # noqa: E402

from accumulate import DisplacementField, Grid, Volume, available_backends  # noqa: E402
from accumulate.accumulation import CourseDose  # noqa: E402
from accumulate.warp import DEFAULT_SUBSAMPLES, PriorCourse, accumulate_warped, warp_dose  # noqa: E402

SIZES = {"64": (64, 64, 64), "128": (128, 128, 128), "256": (256, 256, 256), "512x512x160": (160, 512, 512)}
RESULTS = Path(__file__).resolve().parent / "results"
F32 = 4
# bytes that must cross the memory bus per target voxel (float32, each input read once, outputs written once)
BYTES_PER_VOXEL = {
    "direct": 3 * F32 + F32 + F32,  # field u, dose, output
    "mass": 3 * F32 + 2 * F32 + 2 * F32,  # field u, dose, density, output dose and mass
    "fused": 3 * F32 + 2 * (2 * F32) + F32 + F32 + F32 + 2 * F32,  # shared u, 2 x (dose, density), current, a/b, limit, 2 outputs
}


# --- helpers -----------------------------------------------------------------------------------
def _timed(run, repeat, sync=lambda: None):
    """Best wall time of ``repeat`` runs (after one warm-up run), seconds."""
    run()
    sync()
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def host_bandwidth() -> float:
    """Sustained host memory bandwidth, bytes/s: a parallel Numba copy of 512 MiB (read + write counted)."""
    import numba

    @numba.njit(parallel=True)
    def copy(src, dst):
        for i in numba.prange(src.size):
            dst[i] = src[i]

    src = np.ones(1 << 27, dtype=np.float32)
    dst = np.empty_like(src)
    return 2 * src.nbytes / _timed(lambda: copy(src, dst), 5)


def device_bandwidth() -> float:
    import cupy

    src = cupy.ones(1 << 28, dtype=cupy.float32)
    dst = cupy.empty_like(src)
    return 2 * src.nbytes / _timed(lambda: cupy.copyto(dst, src), 10, cupy.cuda.Device().synchronize)


def case(shape):
    grid = Grid(shape, origin_mm=tuple(-float(n) for n in shape[::-1]), spacing_mm=(2.0, 2.0, 2.0))
    f32 = lambda v: Volume(v.array.astype(np.float32), v.grid, v.quantity, v.unit)  # noqa: E731
    field = smooth_field(grid, amplitude_mm=3.0)
    return (
        grid,
        f32(gaussian_dose(grid, (5.0, -3.0, 2.0), 40.0)),
        f32(layered_density(grid)),
        DisplacementField(field.array.astype(np.float32), grid),
    )


# --- our backends ------------------------------------------------------------------------------
def ours(backend, grid, dose, density, field, repeat):
    sync = lambda: None  # noqa: E731
    if backend == "cupy":
        import cupy

        sync = cupy.cuda.Device().synchronize
        dose, density = (Volume(cupy.asarray(v.array), v.grid, v.quantity, v.unit) for v in (dose, density))
        field = DisplacementField(cupy.asarray(field.array), field.grid)
    current = CourseDose("current", dose, 10)
    priors = [PriorCourse(f"prior {i}", dose, 5, field, density=density, residual=0.5) for i in range(2)]
    ab = Volume(dose.array * 0 + 3.0, grid, "alpha_beta", "Gy")
    limit = Volume(dose.array * 0 + 100.0, grid, "eqd2", "Gy")
    runs = {
        "direct": lambda: warp_dose(dose, field, method="direct", backend=backend),
        "mass": lambda: warp_dose(dose, field, moving_density=density, backend=backend),
        "fused": lambda: accumulate_warped(priors, current, ab, limit=limit, new_fractions=5, backend=backend),
    }
    return {name: _timed(run, repeat, sync) for name, run in runs.items()}


# --- peers -------------------------------------------------------------------------------------
def scipy_peer(grid, dose, field, repeat):
    from scipy.ndimage import map_coordinates

    def coordinates():
        return np.moveaxis(grid.index_from_world(field.moving_points()), -1, 0).astype(np.float32)

    coords = coordinates()
    interpolate = _timed(lambda: map_coordinates(dose.array, coords, order=1, mode="nearest"), repeat)
    total = _timed(lambda: map_coordinates(dose.array, coordinates(), order=1, mode="nearest"), max(1, repeat // 2))
    return {"map_coordinates": interpolate, "coordinates+map_coordinates": total}


def simpleitk_peer(grid, dose, field, repeat):
    try:
        import SimpleITK as sitk
    except ImportError:
        return {"skipped": "pip install SimpleITK"}

    def geometry(image):
        image.SetOrigin(grid.origin_mm)
        image.SetSpacing(grid.spacing_mm)
        image.SetDirection(grid.direction)
        return image

    moving = geometry(sitk.GetImageFromArray(dose.array))
    vectors = geometry(sitk.GetImageFromArray(field.array.astype(np.float64), isVector=True))
    transform = sitk.DisplacementFieldTransform(vectors)
    return {
        "Resample": _timed(lambda: sitk.Resample(moving, moving, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32), repeat),
        "threads": sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(),
    }


def plastimatch_peer(grid, dose, field, repeat):
    binary = shutil.which("plastimatch") or str(Path(sys.executable).with_name("plastimatch"))
    try:
        import SimpleITK as sitk
    except ImportError:
        return {"skipped": "pip install SimpleITK (to write the .mha inputs)"}
    if not Path(binary).exists():
        return {"skipped": "pip install plastimatch"}
    with tempfile.TemporaryDirectory() as tmp:
        for name, array, vector in (("dose.mha", dose.array, False), ("vf.mha", field.array, True)):
            image = sitk.GetImageFromArray(array, isVector=vector)
            image.SetOrigin(grid.origin_mm)
            image.SetSpacing(grid.spacing_mm)
            sitk.WriteImage(image, str(Path(tmp) / name))
        command = [binary, "warp", "--input", f"{tmp}/dose.mha", "--xf", f"{tmp}/vf.mha", "--output-img", f"{tmp}/out.mha"]
        run = lambda: subprocess.run(command, check=True, capture_output=True)  # noqa: E731
        return {"warp (command, incl. file I/O)": _timed(run, max(1, repeat // 2))}


# --- report ------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["128", "256", "512x512x160"], choices=list(SIZES))
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per case (best is kept); 1 for 512x512x160")
    parser.add_argument("--backends", nargs="+", default=None, help="default: every available backend")
    parser.add_argument("--max-numpy-voxels", type=float, default=3e5, help="largest grid for the (slow) numpy reference")
    parser.add_argument("--max-host-voxels", type=float, default=2.2e6, help="largest grid for cuda-host (one CPU thread)")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()

    backends = args.backends or available_backends()
    bandwidth = {"host_bytes_per_s": host_bandwidth()}
    if "cupy" in backends:
        bandwidth["device_bytes_per_s"] = device_bandwidth()
    report = {
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version()},
        "bandwidth": bandwidth,
        "bytes_per_voxel": BYTES_PER_VOXEL,
        "subsamples": DEFAULT_SUBSAMPLES,
        "cases": [],
    }
    device = bandwidth.get("device_bytes_per_s")
    on_device = f", device {device / 1e9:.0f} GB/s" if device else ""
    print(f"host memory bandwidth {bandwidth['host_bytes_per_s'] / 1e9:.1f} GB/s{on_device}")
    for size in args.sizes:
        shape = SIZES[size]
        grid, dose, density, field = case(shape)
        repeat = 1 if np.prod(shape) > 2e7 else args.repeat
        entry = {"size": size, "voxels": grid.size, "repeat": repeat, "ours": {}, "peers": {}}
        for backend in backends:
            limit = {"numpy": args.max_numpy_voxels, "cuda-host": args.max_host_voxels}.get(backend, np.inf)
            if grid.size > limit:
                continue
            entry["ours"][backend] = ours(backend, grid, dose, density, field, repeat)
        entry["peers"]["scipy"] = scipy_peer(grid, dose, field, repeat)
        entry["peers"]["SimpleITK"] = simpleitk_peer(grid, dose, field, repeat)
        entry["peers"]["plastimatch"] = plastimatch_peer(grid, dose, field, repeat)
        report["cases"].append(entry)
        _print_case(entry, bandwidth)
        sys.stdout.flush()
    output = args.output or RESULTS / ("warp_gpu.json" if "cupy" in backends else "warp_cpu.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2))
    print(f"wrote {output}")


def _print_case(entry, bandwidth):
    n = entry["voxels"]
    scipy_time = entry["peers"]["scipy"]["map_coordinates"]
    print(f"\n{entry['size']} ({n / 1e6:.1f} M voxels), best of {entry['repeat']}")
    for backend, times in entry["ours"].items():
        bw = bandwidth["device_bytes_per_s" if backend == "cupy" else "host_bytes_per_s"]
        for kernel, seconds in times.items():
            bound = bw / BYTES_PER_VOXEL[kernel]
            print(f"  {backend:>9} {kernel:>6}: {seconds:8.3f} s {n / seconds / 1e6:9.1f} Mvox/s "
                  f"({n / seconds / bound:6.1%} of the bandwidth bound {bound / 1e6:8.0f} Mvox/s), "
                  f"{scipy_time / seconds:6.2f}x scipy map_coordinates")  # fmt: skip
    for peer, times in entry["peers"].items():
        for what, seconds in times.items():
            if isinstance(seconds, float):
                print(f"  {peer:>11} {what}: {seconds:8.3f} s {n / seconds / 1e6:9.1f} Mvox/s")


if __name__ == "__main__":
    main()
