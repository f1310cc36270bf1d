"""``accumulate demo``: a real plan treated as a prior course, its EQD2, recovery and remaining dose.

The case is dicompyler-core's example breast plan (RTDOSE, RTPLAN, RTSTRUCT; BSD licence),
shipped in ``accumulate/demo_data``. The alpha/beta values, recovery and limits below are
illustrative choices for a demonstration, stated in the output, not clinical advice.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

HELP = "run the built-in demo: EQD2, recovery and remaining dose of a real plan treated as a prior course"

CASE_DIR = Path(__file__).resolve().parent / "demo_data" / "dicompyler-breast"
ALPHA_BETA_GY = {"Tumor Bed": 10.0, "Nodes": 10.0, "Breast": 10.0, "Heart": 3.0, "Lt Lung": 3.0}
DEFAULT_ALPHA_BETA_GY = 3.0
RECOVERY = {"Lt Lung": {"model": "constant", "recovered": 0.25}, "Heart": {"model": "none"}}
LIMITS_EQD2_GY = {"Heart": 30.0, "Lt Lung": 40.0, "BODY": 100.0}


def configure(parser) -> None:
    parser.add_argument("--out", type=Path, default=Path("accumulate-demo"), help="output folder (default: ./accumulate-demo)")
    parser.add_argument("--backend", default="auto", help="numpy, numba, cupy or auto (default)")
    parser.add_argument("--interval-months", type=float, default=24.0, help="time since the prior course (default 24)")
    parser.add_argument("--new-fractions", type=float, default=5.0, help="fractions of the planned re-irradiation (default 5)")


def _stage(name: str, started: float) -> float:
    now = time.perf_counter()
    print(f"  {name:<46s} {now - started:6.2f} s", flush=True)
    return now


def run(args) -> int:
    import accumulate as acc
    from accumulate.backends import resolve
    from accumulate.io import read_dose, read_plan, read_structures, write_dose
    from accumulate.io._atomic import atomic_path

    backend = resolve(args.backend)
    print(f"accumulate demo: prior course = dicompyler example plan, backend '{backend}'")
    t = time.perf_counter()
    dose = read_dose(CASE_DIR / "rtdose.dcm")
    plan = read_plan(CASE_DIR / "rtplan.dcm")
    t = _stage(f"read RTDOSE {dose.grid.shape} and RTPLAN ({plan.fractions:g} fx)", t)
    masks = read_structures(CASE_DIR / "rtss.dcm", dose.grid)
    t = _stage(f"rasterised {len(masks)} structures on the dose grid", t)

    alpha_beta = acc.alpha_beta_map(dose.grid, masks, ALPHA_BETA_GY, default=DEFAULT_ALPHA_BETA_GY)
    recovery = {name: acc.recovery_model(spec) for name, spec in RECOVERY.items()}
    residual = acc.residual_map(dose.grid, masks, recovery, args.interval_months)
    limits = acc.limit_map(dose.grid, masks, LIMITS_EQD2_GY)
    prior = acc.CourseDose("prior", dose, plan.fractions, residual=residual)
    eqd2 = acc.eqd2(dose, plan.fractions, alpha_beta, backend=backend)
    result = acc.cumulative_eqd2([prior], alpha_beta, limit=limits, new_fractions=args.new_fractions, backend=backend)
    t = _stage("EQD2, recovery and remaining dose", t)

    args.out.mkdir(parents=True, exist_ok=True)
    like = CASE_DIR / "rtdose.dcm"
    write_dose(eqd2, args.out / "prior_eqd2.dcm", like=like)
    write_dose(result.cumulative, args.out / "residual_eqd2.dcm", like=like)
    write_dose(
        result.remaining.with_array(np.nan_to_num(result.remaining.array, nan=0.0)), args.out / "remaining_dose.dcm", like=like
    )
    rows = _summary_rows(masks, dose, eqd2, result, recovery, args.interval_months)
    summary = {
        "case": "dicompyler-core example breast plan (prior course)",
        "backend": backend,
        "prior_fractions": plan.fractions,
        "interval_months": args.interval_months,
        "new_fractions": args.new_fractions,
        "alpha_beta_gy": {**ALPHA_BETA_GY, "default": DEFAULT_ALPHA_BETA_GY},
        "recovery": {name: model.describe() for name, model in recovery.items()},
        "cumulative_limits_eqd2_gy": LIMITS_EQD2_GY,
        "remaining_dose_note": "remaining_dose.dcm holds 0 Gy where no limit applies (NaN in the API)",
        "structures": rows,
    }
    with atomic_path(args.out / "summary.json") as temporary:
        temporary.write_text(json.dumps(summary, indent=2))
    _stage("wrote RTDOSE files and summary.json", t)
    _print_table(rows, args.new_fractions)
    print(f"\noutputs in {args.out.resolve()}")
    return 0


def _summary_rows(masks, dose, eqd2, result, recovery, interval_months) -> list[dict]:
    rows = []
    for name, mask in masks.items():
        inside = np.asarray(mask.array, dtype=float) >= 0.5
        if not inside.any():
            continue
        remaining = result.remaining.array[inside]
        limited = remaining[~np.isnan(remaining)]
        rows.append(
            {
                "structure": name,
                "voxels": int(inside.sum()),
                "dmax_gy": float(dose.array[inside].max()),
                "eqd2_max_gy": float(eqd2.array[inside].max()),
                "eqd2_mean_gy": float(eqd2.array[inside].mean()),
                "recovered_fraction": recovery[name].recovered(interval_months) if name in recovery else 0.0,
                "residual_eqd2_max_gy": float(result.cumulative.array[inside].max()),
                "limit_eqd2_gy": LIMITS_EQD2_GY.get(name),
                "min_remaining_dose_gy": float(limited.min()) if limited.size else None,
            }
        )
    return rows


def _print_table(rows: list[dict], new_fractions: float) -> None:
    room = f"room ({new_fractions:g} fx)"
    print(f"\n{'structure':<16s} {'Dmax':>7s} {'EQD2max':>8s} {'recov':>6s} {'residual':>9s} {'limit':>6s} {room:>12s}")
    for row in rows:
        limit = "-" if row["limit_eqd2_gy"] is None else f"{row['limit_eqd2_gy']:.0f}"
        room = "-" if row["min_remaining_dose_gy"] is None else f"{row['min_remaining_dose_gy']:.2f}"
        print(
            f"{row['structure']:<16s} {row['dmax_gy']:7.2f} {row['eqd2_max_gy']:8.2f} {100 * row['recovered_fraction']:5.0f}%"
            f" {row['residual_eqd2_max_gy']:9.2f} {limit:>6s} {room:>12s}"
        )
    print("(doses in Gy; EQD2 with the alpha/beta map; 'room' = smallest additional physical dose allowed in the structure)")
