"""First run against warm run: ``accumulate demo --given-field`` with empty kernel caches, then with filled ones.

Each round runs the demo in a fresh process twice: first with empty caches (a new
``NUMBA_CACHE_DIR`` and ``ACCUMULATE_KERNEL_CACHE``), then again with the caches that run filled.
It records the wall time of each, the pipeline's stage times (``summary.json``) and whether
"compiling kernels (first run only)" was printed, and keeps the best round of each kind. With
``--registered`` it also runs the registered demo once (warm) to show where each second goes.
Writes ``benchmarks/results/startup_cpu.json``.

Usage::

    python benchmarks/bench_startup.py [--rounds 3] [--registered] [--backend auto]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def demo(out: Path, caches: Path, backend: str, given_field: bool = True) -> dict:
    """One ``accumulate demo`` in a fresh process: wall time, stage times, and whether it compiled."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(caches / "numba"), "ACCUMULATE_KERNEL_CACHE": str(caches / "kernels")}
    command = [sys.executable, "-m", "accumulate.cli", "demo", "--out", str(out), "--backend", backend]
    command += ["--given-field"] if given_field else []
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the demo failed:\n{done.stdout}\n{done.stderr}")
    summary = json.loads(next(out.rglob("summary.json")).read_text())
    stages = summary.get("stages_s", {})
    return {
        "wall_s": wall,
        "pipeline_s": sum(stages.values()),
        "stages_s": stages,
        "compiled": "compiling kernels (first run only)" in done.stderr + done.stdout,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--registered", action="store_true", help="also time the registered demo once (warm)")
    parser.add_argument("--output", type=Path, default=RESULTS / "startup_cpu.json")
    args = parser.parse_args()
    cold, warm = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            caches = Path(tmp) / f"caches-{round_}"
            cold.append(demo(Path(tmp) / f"cold-{round_}", caches, args.backend))
            warm.append(demo(Path(tmp) / f"warm-{round_}", caches, args.backend))
            print(f"round {round_ + 1}: first run {cold[-1]['wall_s']:.1f} s, warm run {warm[-1]['wall_s']:.1f} s", flush=True)
        caches = Path(tmp) / f"caches-{args.rounds - 1}"
        registered = demo(Path(tmp) / "registered", caches, args.backend, False) if args.registered else None
    best_cold, best_warm = min(cold, key=lambda r: r["wall_s"]), min(warm, key=lambda r: r["wall_s"])
    report = {
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "note": "a shared machine: best of the rounds kept; the demo's wall time includes writing its DICOM case"},
        "backend": args.backend,
        "first_run": best_cold,
        "warm_run": best_warm,
        "first_over_warm": best_cold["wall_s"] / best_warm["wall_s"],
        "first_over_warm_pipeline": best_cold["pipeline_s"] / best_warm["pipeline_s"],
        "rounds": {"first": cold, "warm": warm},
        "registered_warm_run": registered,
    }  # fmt: skip
    print(f"first run / warm run: {report['first_over_warm']:.2f}x (pipeline stages {report['first_over_warm_pipeline']:.2f}x); "
          f"warm demo {best_warm['wall_s']:.1f} s, of which the pipeline {best_warm['pipeline_s']:.1f} s")  # fmt: skip
    if registered:
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in registered["stages_s"].items())
        print(f"registered demo: {stages} ({registered['wall_s']:.0f} s in all)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
