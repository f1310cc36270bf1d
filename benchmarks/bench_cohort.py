"""Cohort throughput (patients per minute) with 1 and 2 local Dask workers; writes JSON to benchmarks/results/.

Usage: python benchmarks/bench_cohort.py [--patients 8] [--workers 1,2] [--modes given,registered] [--out FILE]

The synthetic cohort of the tests (tests/cohort/cohort_phantom.py: the test-size two-course case
under per-patient overrides, all patients succeeding here). Two modes: ``given`` supplies each
patient's true displacement field (reading, warping, EQD2, DVHs and outputs only, about 1.5 s a
patient), ``registered`` registers every patient with elastix (preset "fast"), the CPU-heavy case.
Each worker count runs the whole cohort into a fresh folder on a fresh local cluster. Figures:
``run_s`` from the first submission to the last result (what throughput is computed from; it
includes each worker process's first-patient start-up: imports, ITK, Numba's cached kernels),
``total_s`` adding the cluster start, the tables and the page, and the median and largest time a
single patient took on its worker.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "cohort"))
from cohort_phantom import RECIPES, write_cohort  # noqa: E402

import accumulate  # noqa: E402
from accumulate.cohort import run_cohort  # noqa: E402
from accumulate.cohort._cluster import usable_cores  # noqa: E402

REGISTERED = '[registration]\npreset = "fast"\n'


def _recipes(count: int):
    """``count`` succeeding patients, cycling through the test recipes."""
    good = [r for r in RECIPES if not r.broken]
    return [replace(good[i % len(good)], id=f"{good[i % len(good)].id}-{i // len(good) + 1}") for i in range(count)]


def _registered(cohort) -> None:
    """Drop the given fields from the manifest: every patient is registered (base settings: preset "fast")."""
    text = cohort.manifest.read_text()
    cohort.manifest.write_text(text.replace(f'dvf = "{cohort.case.true_field_path}"\n', ""))
    cohort.base.write_text(cohort.base.read_text() + REGISTERED)


def _machine() -> dict:
    import dask

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = "cupy" in accumulate.available_backends()
    return {
        "description": f"{usable_cores()} cores, {memory:.0f} GiB, {'a CUDA GPU (CuPy)' if gpu else 'no GPU'}",
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cores": usable_cores(),
        "memory_gib": round(memory, 1),
        "gpu": gpu,
        "accumulate": accumulate.__version__,
        "dask": dask.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=8)
    parser.add_argument("--workers", default="1,2", help="comma-separated local worker counts")
    parser.add_argument("--modes", default="given,registered", help="given (true fields) and/or registered (elastix)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "cohort_throughput.json")
    args = parser.parse_args()

    results = {"machine": _machine(), "patients": args.patients, "runs": []}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        case = None
        for mode in args.modes.split(","):
            cohort = write_cohort(root / mode, _recipes(args.patients), case=case)
            case = cohort.case
            if mode == "registered":
                _registered(cohort)
            for workers in (int(w) for w in args.workers.split(",")):
                started = time.perf_counter()
                result = run_cohort(cohort.manifest, config=cohort.base, output_dir=root / mode / f"out-{workers}",
                                    workers=workers, progress=lambda line: None)  # fmt: skip
                total = time.perf_counter() - started
                assert result.done == args.patients, result.failures
                with (result.output_dir / "results.csv").open() as handle:
                    per_patient = {r["patient"]: float(r["run_s"]) for r in csv.DictReader(handle)}
                row = {
                    "mode": mode,
                    "workers": workers,
                    "patients": result.ran,
                    "run_s": round(result.run_s, 2),
                    "total_s": round(total, 2),
                    "patients_per_minute": round(60 * result.ran / result.run_s, 2),
                    "patient_s_median": round(statistics.median(per_patient.values()), 2),
                    "patient_s_max": round(max(per_patient.values()), 2),
                }
                results["runs"].append(row)
                print(f"{mode:<10s} {workers} worker(s): {row['patients_per_minute']:6.2f} patients/min "
                      f"(run {row['run_s']:.1f} s, total {row['total_s']:.1f} s)")  # fmt: skip
    for mode in {r["mode"] for r in results["runs"]}:
        rows = [r for r in results["runs"] if r["mode"] == mode]
        one = next((r for r in rows if r["workers"] == 1), None)
        for row in rows:
            if one:
                row["speedup_vs_1_worker"] = round(row["patients_per_minute"] / one["patients_per_minute"], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
