"""Time dose warping and the accumulation over courses on every available backend (and, optionally, peers).

One run times, on target grids of 128^3, 256^3 and 512 x 512 x 200 voxels (2 mm, float32 inputs):

* ``direct`` with the field on the target grid (u read, ``direct_aligned``) and on a grid of its
  own (u interpolated, ``direct``), ``mass`` with the default k and with k = 2 (field interpolated);
* the production path of a run, ``accumulate_<K>``: K prior courses (each with its own field) warped
  with ``mass``, then :func:`accumulate.cumulative_eqd2` with an alpha/beta map, residuals and a
  limit; and ``lq_<K>``, that last pass alone (what fusing it into the warp could save at most);
* on CuPy also ``*_with_transfers``: host inputs, results back on the host.

Ratios are taken within one run, the kernels timed in interleaved rounds (the best of each kept),
so that a shared machine's changing load biases none of them. It measures the
memory bandwidth (a parallel copy), states the bytes each kernel must move per voxel and so its
bandwidth-bound rate, and writes JSON to ``benchmarks/results/`` (or ``--output``).

Usage::

    python benchmarks/bench_warp.py                          # all sizes, numba and cuda-host (and cupy)
    python benchmarks/bench_warp.py --sizes 128 --repeat 3 --peers
    python benchmarks/bench_warp.py --backends cupy --output $OUT/warp_gpu.json   # on a GPU machine
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
from accumulate.accumulation import CourseDose, cumulative_eqd2  # noqa: E402
from accumulate.warp import DEFAULT_SUBSAMPLES, warp_dose  # noqa: E402

SIZES = {"64": (64, 64, 64), "128": (128, 128, 128), "256": (256, 256, 256), "512x512x200": (200, 512, 512)}
RESULTS = Path(__file__).resolve().parent / "results"
F32 = 4
# bytes that must cross the memory bus per target voxel (float32, each input read once, outputs written once)
BYTES_PER_VOXEL = {
    "direct_aligned": 3 * F32 + F32 + F32,  # u, dose, output
    "direct": 3 * F32 + F32 + F32,  # u (coarser grid: at most as much), dose, output
    "mass": 3 * F32 + 2 * F32 + 2 * F32,  # u, dose, density, output dose and mass
}
COURSES = (1, 2, 3)


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


def device_name() -> str | None:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    except Exception:  # no CuPy or no device
        return None


def case(shape):
    """Target grid, dose, density (float32), K fields on a 2.5 mm grid of their own, and one on the target grid."""
    grid = Grid(shape, origin_mm=tuple(-float(n) for n in shape[::-1]), spacing_mm=(2.0, 2.0, 2.0))
    own = Grid(tuple(int(n * 2 / 2.5) + 3 for n in shape), origin_mm=tuple(-float(n) - 2.5 for n in shape[::-1]),
               spacing_mm=(2.5, 2.5, 2.5))  # fmt: skip
    f32 = lambda v: Volume(v.array.astype(np.float32), v.grid, v.quantity, v.unit)  # noqa: E731
    fields = [DisplacementField(smooth_field(own, a).array.astype(np.float32), own) for a in (3.0, 2.0, 2.5)]
    aligned = DisplacementField(smooth_field(grid, 3.0).array.astype(np.float32), grid)
    return grid, f32(gaussian_dose(grid, (5.0, -3.0, 2.0), 40.0)), f32(layered_density(grid)), fields, aligned


# --- our backends ------------------------------------------------------------------------------
def ours(backend, grid, dose, density, fields, aligned, repeat, mass_k2=True):
    sync = lambda: None  # noqa: E731
    host = (dose, density, fields, aligned)
    if backend == "cupy":
        import cupy

        sync = cupy.cuda.Device().synchronize
        dose, density = (Volume(cupy.asarray(v.array), v.grid, v.quantity, v.unit) for v in (dose, density))
        fields = [DisplacementField(cupy.asarray(f.array), f.grid) for f in fields]
        aligned = DisplacementField(cupy.asarray(aligned.array), aligned.grid)
    xp = np
    if backend == "cupy":
        import cupy as xp
    ab = Volume(xp.where(xp.arange(grid.size).reshape(grid.shape) % 3 == 0, 3.0, 10.0).astype(np.float32), grid)
    limit = Volume(xp.full(grid.shape, 100.0, dtype=np.float32), grid)
    residual = Volume(xp.full(grid.shape, 0.7, dtype=np.float32), grid, "residual_fraction", "1")

    def mass(f, k=DEFAULT_SUBSAMPLES, inputs=(dose, density)):
        return warp_dose(inputs[0], f, moving_density=inputs[1], target_grid=grid, subsamples=k, backend=backend)

    def lq(warped):
        courses = [CourseDose(f"prior {i}", w, 5 + 10 * i, residual=residual) for i, w in enumerate(warped)]
        return cumulative_eqd2(courses, ab, limit=limit, new_fractions=5, backend=backend)

    def finite(volume):  # as the pipeline does: voxels mapping outside the prior dose grid count as 0 Gy
        return volume.with_array(xp.nan_to_num(volume.array))

    warped = [finite(mass(f).dose) for f in fields]
    runs = {
        "direct_aligned": lambda: warp_dose(dose, aligned, method="direct", backend=backend),
        "direct": lambda: warp_dose(dose, fields[0], method="direct", target_grid=grid, backend=backend),
        "mass": lambda: mass(fields[0]),
    }
    if mass_k2:
        runs["mass_k2"] = lambda: mass(fields[0], 2)
    for count in COURSES:
        runs[f"lq_{count}"] = lambda count=count: lq(warped[:count])
        runs[f"accumulate_{count}"] = lambda count=count: lq([finite(mass(fields[i]).dose) for i in range(count)])
    if backend == "cupy":  # host inputs in, host results out: the transfers included
        hd, hr, hf, ha = host
        runs["direct_with_transfers"] = lambda: warp_dose(hd, hf[0], method="direct", target_grid=grid, backend="cupy").dose.array
        runs["mass_with_transfers"] = lambda: warp_dose(hd, hf[0], moving_density=hr, target_grid=grid, backend="cupy").dose.array
    return _round_robin(runs, repeat, sync)


def _round_robin(runs, repeat, sync):
    """Best wall time of each run over ``repeat`` rounds that take every run in turn (after a warm-up round).

    Interleaving keeps the ratios fair on a machine whose load changes while the benchmark runs.
    """
    best = dict.fromkeys(runs, np.inf)
    for round_ in range(repeat + 1):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            sync()
            if round_:
                best[name] = min(best[name], time.perf_counter() - start)
    return best


def ratios(times: dict[str, float]) -> dict[str, float]:
    out = {
        "mass / direct (field interpolated)": times["mass"] / times["direct"],
        "mass / direct_aligned": times["mass"] / times["direct_aligned"],
    }
    if "mass_k2" in times:
        out["mass k=2 / direct"] = times["mass_k2"] / times["direct"]
    for count in COURSES:
        out[f"accumulate {count} courses / one mass warp"] = times[f"accumulate_{count}"] / times["mass"]
        out[f"sum over {count} courses / one mass warp"] = times[f"lq_{count}"] / times["mass"]
    return out


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
    parser.add_argument("--sizes", nargs="+", default=["128", "256", "512x512x200"], choices=list(SIZES))
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per case (best is kept); 1 above 2e7 voxels")
    parser.add_argument("--backends", nargs="+", default=None, help="default: every available backend but numpy")
    parser.add_argument("--no-k2", action="store_true", help="skip mass with k = 2 (slow on a CPU)")
    parser.add_argument("--peers", action="store_true", help="also time scipy, SimpleITK and plastimatch on the same field")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()

    backends = args.backends or [b for b in available_backends() if b != "numpy"]
    bandwidth = {"host_bytes_per_s": host_bandwidth()}
    if "cupy" in backends:
        bandwidth["device_bytes_per_s"] = device_bandwidth()
    report = {
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "device": device_name(), "note": "ratios are within one run; a shared machine's load varies between runs"},
        "bandwidth": bandwidth,
        "bytes_per_voxel": BYTES_PER_VOXEL,
        "default_subsamples": DEFAULT_SUBSAMPLES,
        "cases": [],
    }  # fmt: skip
    device = bandwidth.get("device_bytes_per_s")
    on_device = f", device {device / 1e9:.0f} GB/s" if device else ""
    print(f"host memory bandwidth {bandwidth['host_bytes_per_s'] / 1e9:.1f} GB/s{on_device}")
    for size in args.sizes:
        shape = SIZES[size]
        grid, dose, density, fields, aligned = case(shape)
        repeat = 1 if np.prod(shape) > 2e7 else args.repeat
        entry = {"size": size, "voxels": grid.size, "repeat": repeat, "ours": {}, "ratios": {}, "peers": {}}
        for backend in backends:
            times = ours(backend, grid, dose, density, fields, aligned, repeat, mass_k2=not args.no_k2)
            entry["ours"][backend] = times
            entry["ratios"][backend] = ratios(times)
        if args.peers:
            entry["peers"]["scipy"] = scipy_peer(grid, dose, aligned, repeat)
            entry["peers"]["SimpleITK"] = simpleitk_peer(grid, dose, aligned, repeat)
            entry["peers"]["plastimatch"] = plastimatch_peer(grid, dose, aligned, repeat)
        report["cases"].append(entry)
        _print_case(entry, bandwidth)
        sys.stdout.flush()
    output = args.output or RESULTS / ("warp_gpu.json" if "cupy" in backends else "warp_cpu.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2))
    print(f"wrote {output}")


def _print_case(entry, bandwidth):
    n = entry["voxels"]
    print(f"\n{entry['size']} ({n / 1e6:.1f} M voxels), best of {entry['repeat']}")
    for backend, times in entry["ours"].items():
        bw = bandwidth["device_bytes_per_s" if backend == "cupy" else "host_bytes_per_s"]
        for kernel, seconds in times.items():
            bound = bw / BYTES_PER_VOXEL.get(kernel.split("_with")[0].replace("_k2", ""), BYTES_PER_VOXEL["mass"])
            print(f"  {backend:>9} {kernel:>22}: {seconds:8.3f} s {n / seconds / 1e6:9.1f} Mvox/s "
                  f"({n / seconds / bound:6.1%} of the bandwidth bound)")  # fmt: skip
        for what, value in entry["ratios"][backend].items():
            print(f"  {backend:>9} {what}: {value:.2f}x")
    for peer, times in entry["peers"].items():
        for what, seconds in times.items():
            if isinstance(seconds, float):
                print(f"  {peer:>11} {what}: {seconds:8.3f} s {n / seconds / 1e6:9.1f} Mvox/s")


if __name__ == "__main__":
    main()
