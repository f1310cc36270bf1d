"""The cohort tables, gathered from the patients' folders and written as Parquet and CSV (atomically).

``results``: one row per patient and structure (a failed patient: one row with its error);
``constraints``: one row per patient and constraint; ``sensitivity``: one row per patient, grid
point and constraint. Every row starts with the patient's ``patient``, ``status``, ``error``,
``run_s`` (s) and ``output`` (its folder, relative to the cohort folder).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import atomic_path, write_text_atomic
from ._cluster import require
from ._manifest import Manifest
from ._task import ROWS, STATUS, read_json

PATIENT_COLUMNS = ("patient", "status", "error", "run_s", "output")
TABLES = ("results", "constraints", "sensitivity")


@dataclass
class CohortRows:
    """The rows of the three tables, and each patient's status.json content (None when it never finished)."""

    results: list[dict[str, Any]] = field(default_factory=list)
    constraints: list[dict[str, Any]] = field(default_factory=list)
    sensitivity: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, dict[str, Any] | None] = field(default_factory=dict)


def gather(manifest: Manifest, out: Path) -> CohortRows:
    """Read every patient's status.json and rows.json under ``out/patients``, in manifest order."""
    rows = CohortRows()
    for patient in manifest.patients:
        folder = out / "patients" / patient.folder_name
        status = read_json(folder / STATUS)
        rows.statuses[patient.id] = status
        state, error = (status["state"], status["error"]) if status else ("not run", "interrupted before it finished")
        common = {"patient": patient.id, "status": state, "error": error, "run_s": status["run_s"] if status else None,
                  "output": f"patients/{patient.folder_name}"}  # fmt: skip
        found = read_json(folder / ROWS) if state == "done" else None
        if found is None:
            rows.results.append(common)
            continue
        for name in TABLES:
            getattr(rows, name).extend({**common, **row} for row in found.get(name, []))
    return rows


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys([*PATIENT_COLUMNS, *(key for row in rows for key in row)]))


def write_table(rows: Sequence[Mapping[str, Any]], stem: Path) -> list[Path]:
    """Write ``stem``.parquet and ``stem``.csv; missing cells are null (Parquet) or empty (CSV)."""
    pyarrow = require("pyarrow")
    parquet = require("pyarrow.parquet")
    columns = _columns(rows)
    table = pyarrow.table({c: pyarrow.array([row.get(c) for row in rows]) for c in columns})
    paths = [stem.with_suffix(".parquet"), stem.with_suffix(".csv")]
    with atomic_path(paths[0]) as temporary:
        parquet.write_table(table, temporary)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(paths[1], buffer.getvalue())
    return paths
