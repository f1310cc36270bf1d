"""One patient as an independent task: run the pipeline into its folder and record how it went.

The folder ``<out>/patients/<id>/`` gets the pipeline's outputs, ``rows.json`` (the patient's
rows of the cohort tables, see ``_rows``) and last ``status.json``: ``state`` (done | failed),
``error``, ``run_s`` (wall time, s), ``warnings`` (the run's, one line each), ``input_hash`` and
when and where it ran. A folder without status.json (a run that was interrupted) counts as not done.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..atomic import write_json_atomic as write_json
from ..config import RunConfig
from ..errors import AccumulateError
from ..pipeline import run
from ._rows import patient_rows
from ._sensitivity import SensitivityGrid, sensitivity_rows

STATUS, ROWS = "status.json", "rows.json"


@dataclass(frozen=True)
class PatientTask:
    """What a worker needs to run one patient: its RunConfig, output folder, input hash and options."""

    patient: str
    folder: Path
    config: RunConfig
    input_hash: str
    backend: str | None = None
    grid: SensitivityGrid | None = None


@dataclass(frozen=True)
class Outcome:
    """How a patient's task ended: ``state`` done or failed, ``error`` text, ``run_s`` wall time (s), the run's warnings."""

    patient: str
    state: str
    error: str | None
    run_s: float
    warnings: tuple[str, ...] = ()


def read_json(path: Path) -> Any:
    """The content of a JSON file, or None when it is missing or unreadable (a half-finished run)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def describe(exc: BaseException) -> str:
    """An error as one line: the message of our own errors, the type and message of anything else."""
    return str(exc) if isinstance(exc, AccumulateError) else f"{type(exc).__name__}: {exc}"


def record(folder: Path, outcome: Outcome, input_hash: str | None, started: dt.datetime, details: str | None = None) -> None:
    """Write the patient's status.json (atomically): the last file a task writes."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / STATUS, {
        "patient": outcome.patient, "state": outcome.state, "error": outcome.error, "run_s": outcome.run_s,
        "warnings": list(outcome.warnings), "input_hash": input_hash, "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now().isoformat(timespec="seconds"), "host": socket.gethostname(), "pid": os.getpid(),
        "software": f"accumulate {__version__}", "details": details,
    })  # fmt: skip


def run_patient(task: PatientTask) -> Outcome:
    """Run one patient; any exception is recorded as its failure, never raised."""
    started, clock = dt.datetime.now(), time.perf_counter()
    task.folder.mkdir(parents=True, exist_ok=True)
    for stale in (STATUS, ROWS):
        (task.folder / stale).unlink(missing_ok=True)
    error = details = None
    warnings: tuple[str, ...] = ()
    try:
        result = run(task.config, output_dir=task.folder, backend=task.backend, progress=lambda line: None)
        warnings = tuple(result.status.warnings)
        rows = patient_rows(result)
        if task.grid is not None:
            rows["sensitivity"] = sensitivity_rows(result, task.grid)
        write_json(task.folder / ROWS, rows)
    except Exception as exc:  # one patient's failure, whatever it is, is recorded and never stops the cohort
        error = describe(exc)
        details = None if isinstance(exc, AccumulateError) else traceback.format_exc()
    outcome = Outcome(task.patient, "failed" if error else "done", error, round(time.perf_counter() - clock, 3), warnings)
    record(task.folder, outcome, task.input_hash, started, details)
    return outcome
