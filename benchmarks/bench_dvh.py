"""Time the DVH stage, structure-sampled against grid-voxel, and record the accuracy figures; JSON to benchmarks/results/.

Usage: python benchmarks/bench_dvh.py [--repeats 3] [--out FILE]

Cases: every structure of the built-in demo case (``write_demo_case(size="demo")``, the
re-irradiation course's RTSTRUCT and RTDOSE) and of two real plans (SlicerRT's Eclipse
head-and-neck case: 16 structures with BODY and brain, from ../shared/data when present, else
the 13 in tests/data; the Eclipse prostate RTSTRUCT with its dose). Stages, each the best of
``--repeats`` runs in this one process:

* grid-voxel: rasterise every structure on the dose grid (voxel centres), DVH, six metrics;
* sampled: ``sample_structure`` (once per structure set), ``values_at_points`` (once per
  course: the part that repeats per course in the pipeline), DVH and the same six metrics.

For the demo, the metrics are also computed with the analytic re-irradiation dose at the same
sample points (``sampled_with_the_analytic_dose``): the difference from ``sampled`` is the
interpolation of the 3 mm RTDOSE grid, the difference from ``grid_voxel`` the method.

Accuracy figures: the analytic cylinders of tests/evaluation (cord R = 6 mm, optic nerve
R = 2.5 mm, 5 Gy/mm beside them, 3 mm dose grid; errors against the continuous truth) and the
real plans against CERR's and SlicerRT's tables. The machine is shared with other sessions:
compare ratios, not absolute times.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "evaluation"))
from cylinders import CASES, analytic_metrics, dose_function  # noqa: E402
from slicer_data import key, read_dvh_table, read_segmentation, table_metrics  # noqa: E402

from accumulate import Grid, Volume  # noqa: E402
from accumulate.evaluation import dvh, dvh_from_samples, sample_structure, values_at_points  # noqa: E402
from accumulate.io import read_contours, read_dose  # noqa: E402
from accumulate.io._raster import rasterise  # noqa: E402
from accumulate.phantom import write_demo_case  # noqa: E402

METRICS = ("Dmax", "Dmean", "D0.03cc", "D0.1cc", "D95%", "V20Gy")
SHARED = ROOT.parent / "shared" / "data" / "slicerrt-eclipse"
TESTS = ROOT / "tests" / "data" / "slicerrt-eclipse"


def _best(function, repeats: int):
    result, best = None, float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def _metrics(h) -> dict[str, float]:
    return {m: h.metric(m) for m in METRICS if not m.endswith("cc") or h.total_cc > float(m[1:-2])}


def _grid_stage(contours, dose):
    out = {}
    for name, roi in contours.items():
        mask = rasterise(roi, dose.grid)
        if mask.any():
            out[name] = dvh(dose, Volume(mask, dose.grid, "mask", "1"), name)
    return {name: (h, _metrics(h)) for name, h in out.items()}


def _sample_stage(contours):
    return {name: sample_structure(roi, name=name) for name, roi in contours.items()}


def _evaluate_stage(samples, dose):
    out = {}
    for name, s in samples.items():
        values, outside = values_at_points(dose, s.points_mm)
        out[name] = (values, outside)
    return out


def _dvh_stage(samples, evaluated):
    out = {}
    for name, s in samples.items():
        values, outside = evaluated[name]
        kept = s if not outside.any() else s.subset(~outside, "inside the dose grid")
        h = dvh_from_samples(kept, values[~outside])
        out[name] = (h, _metrics(h))
    return out


def time_case(label: str, contours, dose, repeats: int, exact_dose=None) -> dict:
    grid_s, grid = _best(lambda: _grid_stage(contours, dose), repeats)
    sample_s, samples = _best(lambda: _sample_stage(contours), repeats)
    evaluate_s, evaluated = _best(lambda: _evaluate_stage(samples, dose), repeats)
    dvh_s, sampled = _best(lambda: _dvh_stage(samples, evaluated), repeats)
    points = sum(len(s) for s in samples.values())
    total = sample_s + evaluate_s + dvh_s
    print(
        f"{label}: {len(contours)} structures, {points} sample points; grid-voxel {grid_s:.2f} s; sampled {total:.2f} s "
        f"(sampling {sample_s:.2f}, evaluating {evaluate_s:.2f}, DVHs {dvh_s:.2f}); ratio {total / grid_s:.1f}"
    )
    structures = {}
    for name, s in samples.items():
        if exact_dose is not None:  # the analytic dose at the same points: what is left is the dose grid's interpolation
            exact = _metrics(dvh_from_samples(s, exact_dose(s.points_mm)))
        structures[name] = {
            "method": s.method,
            "resolution_mm": s.resolution_mm,
            "points": len(s),
            "volume_cc": s.total_cc,
            "sampled": sampled[name][1],
            "grid_voxel": grid[name][1] if name in grid else None,
            "grid_voxel_volume_cc": grid[name][0].total_cc if name in grid else 0.0,
        }
        if exact_dose is not None:
            structures[name]["sampled_with_the_analytic_dose"] = exact
    return {
        "structures_count": len(contours),
        "sample_points": points,
        "dose_grid": dose.grid.describe(),
        "seconds": {
            "grid_voxel": grid_s,
            "sampled_total": total,
            "sampling": sample_s,
            "evaluating_one_course": evaluate_s,
            "dvh_and_metrics": dvh_s,
        },
        "sampled_over_grid": total / grid_s,
        "structures": structures,
    }


def analytic_figures() -> list[dict]:
    """Errors (%) against the continuous truth of the cylinder phantoms, sampled and grid-voxel."""
    grid = Grid((31, 31, 31), (-45.0, -45.0, -45.0), (3.0, 3.0, 3.0))
    rows = []
    for dose_name in ("linear", "sigmoid"):
        for case, cylinder in CASES.items():
            function = dose_function(dose_name, cylinder)
            dose = Volume(function(grid.world_coordinates()[..., 0]), grid)
            truth = analytic_metrics(cylinder, function)
            samples = sample_structure(cylinder.contours(), name="organ")
            values, _ = values_at_points(dose, samples.points_mm)
            ours = dvh_from_samples(samples, values)
            voxels = dvh(dose, Volume(rasterise(cylinder.contours(), grid), grid, "mask", "1"), "organ")
            row = {"case": case, "dose": dose_name, "resolution_mm": samples.resolution_mm}
            for metric in ("volume_cc", "Dmean", "D0.03cc", "Dmax"):
                mine = ours.total_cc if metric == "volume_cc" else ours.metric(metric)
                theirs = voxels.total_cc if metric == "volume_cc" else voxels.metric(metric)
                row[metric] = {
                    "truth": truth[metric],
                    "sampled_error_percent": 100 * (mine / truth[metric] - 1),
                    "grid_voxel_error_percent": 100 * (theirs / truth[metric] - 1),
                }
            rows.append(row)
            print(
                f"{case:48s} {dose_name[:7]}: "
                + "  ".join(
                    f"{m} {row[m]['sampled_error_percent']:+.2f}% (grid {row[m]['grid_voxel_error_percent']:+.1f}%)"
                    for m in ("volume_cc", "Dmean", "D0.03cc", "Dmax")
                )
            )
    return rows


def against_tables(case: dict, tables: dict[str, Path]) -> dict[str, list[dict]]:
    """Per structure: volume, Dmean, Dmax, D0.03cc of the sampled and grid-voxel DVHs and of each table."""
    out = {}
    for table, path in tables.items():
        reference = read_dvh_table(path)
        rows = []
        for name, row in case["structures"].items():
            if key(name) not in reference or row["grid_voxel"] is None:
                continue
            ref = table_metrics(*reference[key(name)])
            entry = {"structure": name}
            for metric in ("volume_cc", "Dmean", "Dmax", "D0.03cc"):
                if metric != "volume_cc" and metric not in ref:
                    continue
                mine = row["volume_cc"] if metric == "volume_cc" else row["sampled"].get(metric)
                grid = row["grid_voxel_volume_cc"] if metric == "volume_cc" else row["grid_voxel"].get(metric)
                if mine is None or grid is None:
                    continue
                entry[metric] = {"sampled": mine, "grid_voxel": grid, table: ref[metric]}
                entry[metric]["closer"] = "sampled" if abs(mine - ref[metric]) < abs(grid - ref[metric]) else "grid_voxel"
            rows.append(entry)
        out[table] = rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "dvh_cpu.json")
    args = parser.parse_args()
    results = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
        "note": "shared machine (other sessions running): compare the ratios within one case",
        "repeats": args.repeats,
        "cases": {},
    }
    with tempfile.TemporaryDirectory() as folder:
        case = write_demo_case(Path(folder) / "demo", size="demo")
        demo = case.reirradiation
        dose = read_dose(demo.dose_path, plan=demo.plan_path)
        contours = read_contours(demo.structures_path)
        demo_case = time_case("demo", contours, dose, args.repeats, exact_dose=case.reirr_dose_at)
        results["cases"]["demo (re-irradiation course)"] = demo_case
    eclipse = SHARED if (SHARED / "EclipseEnt_Structures.seg").is_dir() else TESTS
    ent = read_segmentation(eclipse / "EclipseEnt_Structures.seg")
    ent_case = time_case("Eclipse head and neck", ent, read_dose(eclipse / "EclipseEnt_Dose.nrrd"), args.repeats)
    ent_case["source"] = str(eclipse.relative_to(ROOT.parent)) if eclipse == SHARED else "tests/data"
    ent_case["against_tables"] = against_tables(ent_case, {"CERR": eclipse / "EclipseEnt_DvhTable_CERR.csv"})
    results["cases"]["Eclipse head and neck (SlicerRT test data)"] = ent_case
    prostate = read_contours(next((TESTS / "dicom-prostate").glob("RS*.dcm")))
    prostate_case = time_case("Eclipse prostate", prostate, read_dose(TESTS / "EclipseProstate_Dose.nrrd"), args.repeats)
    prostate_case["against_tables"] = against_tables(
        prostate_case, {t: TESTS / f"EclipseProstate_DvhTable_{t}.csv" for t in ("CERR", "SlicerRT")}
    )
    results["cases"]["Eclipse prostate (SlicerRT test data)"] = prostate_case
    results["analytic_cylinders"] = analytic_figures()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
