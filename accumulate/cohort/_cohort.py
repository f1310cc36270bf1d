"""``run_cohort``: every patient of a manifest as an independent task, resumable, then the cohort's tables and page.

Order: read the manifest, the base settings and the sensitivity grid (errors there stop
everything); build each patient's configuration and input hash (an invalid patient is recorded
as failed); skip the patients whose status.json says done with the same hash; run the rest where
the executor says; gather every patient's rows into the tables and write the page.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import parse_settings, read_toml
from ..errors import AccumulateError, ConfigError
from ._cluster import DaskCluster, InProcess, require
from ._hashing import input_hash
from ._manifest import absolute_paths, patient_config, read_manifest
from ._sensitivity import read_grid, summarise
from ._summary_page import write_page
from ._tables import gather, write_table
from ._task import STATUS, Outcome, PatientTask, describe, read_json, record, run_patient


@dataclass(frozen=True)
class CohortResult:
    """How the cohort went: patient counts, the patients that failed (id -> error), run time (s), output files.

    ``skipped`` patients were done before with the same inputs and settings (they count as done);
    ``ran`` is how many ran this time, in ``run_s`` (first submission to last result; 0 if none ran).
    """

    output_dir: Path
    patients: int
    done: int
    skipped: int
    ran: int
    failures: dict[str, str]
    seconds: float
    run_s: float
    files: dict[str, Path] = field(default_factory=dict)


def _base_settings(path: Path | None) -> dict[str, Any]:
    """The base settings table (absolute paths); checked now so that a typo stops the cohort early."""
    if path is None:
        return {}
    source = Path(path).resolve()
    table = read_toml(source)
    if "course" in table:
        raise ConfigError(
            f"{source}: the base settings of a cohort must not list [[course]] tables; courses come from the manifest"
        )
    parse_settings(table, source)
    return absolute_paths(table, source.parent)


def run_cohort(
    manifest: str | Path,
    *,
    config: str | Path | None = None,
    output_dir: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    sensitivity: str | Path | None = None,
    backend: str | None = None,
    progress: Callable[[str], None] = print,
    task: Callable[[PatientTask], Outcome] = run_patient,
) -> CohortResult:
    """Run the accumulation for every patient of ``manifest`` (CSV or TOML; see ``_manifest``).

    Parameters
    ----------
    config : base settings (a run configuration without [[course]]); default: the defaults of
        :mod:`accumulate.config`.
    output_dir : default ``cohort-out`` beside the manifest. Gets ``patients/<id>/`` (each
        patient's run), ``results``, ``constraints`` (and ``sensitivity``) ``.parquet``/``.csv``
        and ``cohort.html``.
    workers : local worker processes (default: one per GPU if CuPy can use one, else one per
        core); 0 runs the patients in this process. ``scheduler``: the address of an existing
        Dask cluster instead (its workers need this package, ``pip install 'accumulate-rt[cohort]'`` in the
        same version, and the same paths).
    sensitivity : a grid file (see ``_sensitivity``): each patient's verdicts over it.
    task : the function run per patient (picklable); :func:`run_patient` unless testing.
    """
    started = time.perf_counter()
    require("pyarrow")  # the results tables: fail before any patient runs
    listed = read_manifest(manifest)
    base = _base_settings(Path(config) if config else None)
    grid = read_grid(sensitivity) if sensitivity else None
    out = Path(output_dir).resolve() if output_dir else listed.path.parent / "cohort-out"
    (out / "patients").mkdir(parents=True, exist_ok=True)

    tasks, skipped, invalid = [], 0, 0
    for patient in listed.patients:
        folder = out / "patients" / patient.folder_name
        try:
            patient_run = patient_config(patient, base, listed.path)
            digest = input_hash(patient_run, grid)
        except AccumulateError as exc:
            record(folder, Outcome(patient.id, "failed", describe(exc), 0.0), None, dt.datetime.now())
            invalid += 1
            continue
        status = read_json(folder / STATUS)
        if status and status.get("state") == "done" and status.get("input_hash") == digest:
            skipped += 1
            continue
        tasks.append(PatientTask(patient.id, folder, patient_run, digest, backend, grid))
    progress(f"cohort {listed.path.name}: {len(listed.patients)} patients; {skipped} done before with the same inputs "
             f"(skipped), {invalid} invalid, {len(tasks)} to run")  # fmt: skip

    run_info: dict[str, Any] = {"manifest": str(listed.path), "base settings": str(config or "(defaults)"),
                                "sensitivity grid": str(sensitivity or "(none)"), "skipped (done before)": skipped}  # fmt: skip
    if tasks:
        run_info.update(_run_tasks(tasks, task, workers, scheduler, backend, progress))
    run_s = run_info.get("run time (s)", 0.0)

    rows = gather(listed, out)
    files = {name: write_table(getattr(rows, name), out / name)[0] for name in ("results", "constraints")}
    summary = None
    if grid is not None:
        files["sensitivity"] = write_table(rows.sensitivity, out / "sensitivity")[0]
        summary = summarise(rows.sensitivity)
    seconds = time.perf_counter() - started
    run_info["total time (s)"] = round(seconds, 1)
    files["page"] = write_page(out / "cohort.html", f"Cohort: {listed.path.name}", rows, run_info, summary)
    failures = {p: s["error"] if s else "not finished" for p, s in rows.statuses.items() if not s or s["state"] != "done"}
    result = CohortResult(out, len(listed.patients), len(listed.patients) - len(failures), skipped, len(tasks), failures, seconds,
                          run_s, files)  # fmt: skip
    progress(f"cohort: {result.done} done ({skipped} skipped), {len(failures)} failed in {seconds:.0f} s; "
             f"results: {files['results']} (+ .csv); page: {files['page']}")  # fmt: skip
    return result


def _run_tasks(tasks, task, workers, scheduler, backend, progress) -> dict[str, Any]:
    """Run the tasks where asked, announcing each result; returns figures for the page."""
    executor = InProcess() if workers == 0 and not scheduler else DaskCluster(workers, scheduler, backend)
    done = failed = 0
    with executor:
        progress(f"running {len(tasks)} patients {executor.description}"
                 + (f"; dashboard: {executor.dashboard}" if executor.dashboard else ""))  # fmt: skip
        started, elapsed = time.perf_counter(), 0.0
        for number, (patient_task, outcome) in enumerate(executor.run(task, tasks), start=1):
            if not isinstance(outcome, Outcome):  # the task itself died (worker killed, not picklable ...)
                outcome = Outcome(patient_task.patient, "failed", f"the task did not finish: {describe(outcome)}", 0.0)
                record(patient_task.folder, outcome, patient_task.input_hash, dt.datetime.now())
            done, failed = done + (outcome.state == "done"), failed + (outcome.state != "done")
            elapsed = time.perf_counter() - started
            error = f": {outcome.error}" if outcome.error else ""
            progress(f"[{number}/{len(tasks)}] {outcome.patient} {outcome.state} in {outcome.run_s:.1f} s{error} "
                     f"| done {done}, failed {failed}, {elapsed:.0f} s elapsed")  # fmt: skip
            for warning in outcome.warnings:
                progress(f"  warning: patient {outcome.patient}: {warning}")
    return {
        "ran on": executor.description,
        "dashboard": executor.dashboard or "-",
        "ran (done / failed)": f"{done} / {failed}",
        "run time (s)": round(elapsed, 2),
        "throughput (patients per minute)": round(60 * len(tasks) / elapsed, 2) if elapsed > 0 else None,
    }
