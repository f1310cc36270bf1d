"""The cohort manifest: patients, their courses (oldest first) and per-patient overrides, as CSV or TOML.

Paths are relative to the manifest. Within a patient the courses are listed oldest first; the
last one is the reference (newest) course unless a TOML course says ``reference = true``.

CSV, one row per course (lines starting with ``#`` are comments)::

    patient,course,folder,date,fractions,interval_months,rbe,dvf,dvf_inverse,rename
    HN001,prior,HN001/2019,2019-03-01,35,,,,,
    HN001,reirr,HN001/2023,,5,,,,,Cord PRV0=SpinalCord; Parotid Lt=Parotid_L

``patient`` and ``folder`` (the course's DICOM export folder) are required; ``course`` names the
course (default ``course1``, ``course2``, ...); ``date`` (YYYY-MM-DD, end of the course),
``fractions``, ``interval_months`` (to the reference course), ``rbe``, ``dvf`` (a given
displacement field) and ``dvf_inverse`` (its other direction) override what the export says; ``rename`` (case name=settings name,
separated by ``;``) may sit on any of the patient's rows.

TOML, with per-patient settings that override the base settings for that patient::

    [[patient]]
    id = "HN001"
    rename = { "Cord PRV0" = "SpinalCord" }
    [patient.settings.radiobiology]     # any settings section (not [[course]] or [output])
    alpha_beta_default = 2.5
    [[patient.course]]                  # the keys of a run configuration's [[course]]
    name = "prior"
    dicom = "HN001/2019"
    fractions = 35
    [[patient.course]]
    name = "reirr"
    dicom = "HN001/2023"

Settings tables merge into the base key by key, except ``[recovery.<structure>]`` and
``[constraints]``, which replace the base's table of the same name whole.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import COURSE_KEYS, RunConfig, config_with_courses, read_toml
from ..errors import ConfigError

CSV_COLUMNS = ("patient", "course", "folder", "date", "fractions", "interval_months", "rbe", "dvf", "dvf_inverse", "rename")
PATIENT_KEYS = ("id", "course", "rename", "settings")
#: The [[patient.course]] keys that are paths (relative to the manifest).
COURSE_PATHS = ("dicom", "ct", "dose", "plan", "structures", "dvf", "dvf_inverse", "rigid_start")
#: Settings sections a patient may not override: courses come from the manifest, outputs go to the cohort folder.
NOT_PER_PATIENT = ("course", "output")


@dataclass(frozen=True)
class PatientEntry:
    """One patient of the manifest: ``courses`` are [[course]] tables (oldest first, absolute paths).

    ``folder_name`` is the file-name-safe form of ``id``; ``rename`` maps the case's structure
    names to the settings' names; ``settings`` overrides the base settings; ``where`` locates the
    entry in the manifest for messages ("lines 4, 5" or "[[patient]] table 2").
    """

    id: str
    folder_name: str
    courses: tuple[dict[str, Any], ...]
    rename: dict[str, str]
    settings: dict[str, Any]
    where: str


@dataclass(frozen=True)
class Manifest:
    path: Path
    patients: tuple[PatientEntry, ...]


def safe_name(patient_id: str) -> str:
    """A folder name for a patient id: letters, digits, ``_``, ``.`` and ``-`` kept, anything else ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", patient_id).strip("._")


def absolute_paths(settings: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """A settings table with its relative paths made absolute against ``folder``.

    Touches ``[registration] dvf`` and ``parameter_files``, a ``[constraints] set`` that names a
    ``.toml`` file and ``[output] dir``; everything else is returned unchanged.
    """

    def resolved(value: Any) -> Any:
        return str((folder / value).resolve()) if isinstance(value, str) else value

    out = dict(settings)
    registration = out.get("registration")
    if isinstance(registration, Mapping):
        registration = dict(registration)
        if "dvf" in registration:
            registration["dvf"] = resolved(registration["dvf"])
        if isinstance(registration.get("parameter_files"), list):
            registration["parameter_files"] = [resolved(p) for p in registration["parameter_files"]]
        out["registration"] = registration
    constraints = out.get("constraints")
    if isinstance(constraints, Mapping) and isinstance(constraints.get("set"), str) and constraints["set"].endswith(".toml"):
        out["constraints"] = {**constraints, "set": resolved(constraints["set"])}
    output = out.get("output")
    if isinstance(output, Mapping) and "dir" in output:
        out["output"] = {**output, "dir": resolved(output["dir"])}
    return out


def _replaced_whole(path: tuple[str, ...]) -> bool:
    return path[0] == "constraints" or (path[0] == "recovery" and len(path) == 2)


def merged_settings(base: Mapping[str, Any], override: Mapping[str, Any], path: tuple[str, ...] = ()) -> dict[str, Any]:
    """``base`` with ``override`` merged in (see the module docstring for the tables replaced whole)."""
    out = dict(base)
    for key, value in override.items():
        here = (*path, key)
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and not _replaced_whole(here):
            out[key] = merged_settings(out[key], value, here)
        else:
            out[key] = value
    return out


def patient_config(patient: PatientEntry, base: Mapping[str, Any], manifest: Path) -> RunConfig:
    """The RunConfig of one patient: ``base`` settings (absolute paths) with the patient's overrides and courses.

    Its source is ``<manifest>#<patient folder name>`` (in messages and the patient's report).
    Raises ConfigError naming the manifest and the patient when the result is not a valid run
    configuration.
    """
    settings = merged_settings(base, patient.settings)
    if patient.rename:
        settings = merged_settings(settings, {"structures": {"rename": patient.rename}})
    source = manifest.with_name(f"{manifest.name}#{patient.folder_name}")
    try:
        return config_with_courses(settings, list(patient.courses), source)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (the patient's {patient.where} in the manifest)") from None


def read_manifest(path: str | Path) -> Manifest:
    """Read and check a CSV or TOML manifest; errors name the manifest, the row or patient and the column or key."""
    source = Path(path).resolve()
    if source.suffix.lower() not in (".csv", ".toml"):
        raise ConfigError(f"{source}: a cohort manifest must be a .csv or .toml file")
    if not source.is_file():
        raise ConfigError(f"cohort manifest {source} does not exist")
    patients = _read_csv(source) if source.suffix.lower() == ".csv" else _read_toml(source)
    if not patients:
        raise ConfigError(f"{source}: the manifest lists no patient")
    seen: dict[str, str] = {}
    for patient in patients:
        if not patient.folder_name:
            raise ConfigError(f"{source}: {patient.where}: the patient id {patient.id!r} has no letter or digit to name a folder")
        other = seen.setdefault(patient.folder_name.casefold(), patient.id)
        if other != patient.id:
            raise ConfigError(
                f"{source}: patients {other!r} and {patient.id!r} would share the output folder '{patient.folder_name}'; "
                "give them ids that differ in more than punctuation or case"
            )
    return Manifest(source, tuple(patients))


def _cell(value: str, kind: str, where: str) -> Any:
    """A CSV cell as the course key needs it: a number, a date or a path relative to the manifest."""
    try:
        if kind == "number":
            return float(value)
        if kind == "date":
            return dt.date.fromisoformat(value)
    except ValueError:
        wanted = "a number" if kind == "number" else "a date written YYYY-MM-DD"
        raise ConfigError(f"{where}: {value!r} is not {wanted}") from None
    return value


def _rename_cell(value: str, where: str) -> dict[str, str]:
    out = {}
    for pair in filter(None, (p.strip() for p in value.split(";"))):
        old, sep, new = (part.strip() for part in pair.partition("="))
        if not sep or not old or not new:
            raise ConfigError(f"{where}: {pair!r} is not 'case name=settings name' (pairs separated by ';')")
        out[old] = new
    return out


_CSV_KINDS = {"folder": ("dicom", "path"), "course": ("name", "text"), "date": ("date", "date"),
              "fractions": ("fractions", "number"), "interval_months": ("interval_months", "number"),
              "rbe": ("rbe", "number"), "dvf": ("dvf", "path"), "dvf_inverse": ("dvf_inverse", "path")}  # fmt: skip


def _read_csv(source: Path) -> list[PatientEntry]:
    text = source.read_text(encoding="utf-8-sig")
    lines = ["" if line.lstrip().startswith("#") else line for line in text.splitlines()]
    reader = csv.reader(io.StringIO("\n".join(lines)))
    header: list[str] | None = None
    courses: dict[str, list[dict[str, Any]]] = {}
    renames: dict[str, dict[str, str]] = {}
    rows: dict[str, list[int]] = {}
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        line = reader.line_num
        if header is None:
            header = [cell.strip().lower() for cell in row]
            unknown = [c for c in header if c not in CSV_COLUMNS]
            if unknown:
                raise ConfigError(f"{source} line {line}: unknown column(s) {unknown}; allowed: {list(CSV_COLUMNS)}")
            missing = [c for c in ("patient", "folder") if c not in header]
            if missing:
                raise ConfigError(
                    f"{source} line {line}: the header lacks the column(s) {missing}; the first line names the columns"
                )
            continue
        if len(row) > len(header):
            raise ConfigError(f"{source} line {line}: {len(row)} cells but the header names {len(header)} columns")
        cells = {column: value.strip() for column, value in zip(header, row, strict=False)}
        patient = cells.get("patient", "")
        if not patient:
            raise ConfigError(f"{source} line {line}, column 'patient': empty; every row names its patient")
        if not cells.get("folder"):
            raise ConfigError(f"{source} line {line}, column 'folder': empty; give the course's DICOM export folder")
        course: dict[str, Any] = {}
        for column, (key, kind) in _CSV_KINDS.items():
            value = cells.get(column, "")
            if value:
                parsed = _cell(value, kind, f"{source} line {line}, column '{column}'")
                course[key] = str((source.parent / parsed).resolve()) if kind == "path" else parsed
        courses.setdefault(patient, []).append(course)
        rows.setdefault(patient, []).append(line)
        renames.setdefault(patient, {}).update(_rename_cell(cells.get("rename", ""), f"{source} line {line}, column 'rename'"))
    return [
        PatientEntry(patient, safe_name(patient), tuple(found), renames[patient], {},
                     f"line{'s' if len(rows[patient]) > 1 else ''} {', '.join(map(str, rows[patient]))}")
        for patient, found in courses.items()
    ]  # fmt: skip


def _read_toml(source: Path) -> list[PatientEntry]:
    table = read_toml(source)
    unknown = sorted(set(table) - {"patient"})
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key(s) {unknown}; a manifest holds [[patient]] tables")
    entries = table.get("patient", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: 'patient' must be an array of tables, written [[patient]]")
    patients, ids = [], set()
    for index, entry in enumerate(entries):
        where = f"patient {index + 1}"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{source}: {where} must be a table")
        patient_id = entry.get("id")
        if not isinstance(patient_id, str | int) or isinstance(patient_id, bool) or not str(patient_id).strip():
            raise ConfigError(f"{source}: {where}: 'id' is required (a string)")
        patient_id = str(patient_id).strip()
        where = f"patient '{patient_id}'"
        if patient_id in ids:
            raise ConfigError(f"{source}: {where} is listed twice; patient ids must be unique")
        ids.add(patient_id)
        unknown = sorted(set(entry) - set(PATIENT_KEYS))
        if unknown:
            raise ConfigError(f"{source}: {where}: unknown key(s) {unknown}; allowed: {list(PATIENT_KEYS)}")
        patients.append(
            PatientEntry(patient_id, safe_name(patient_id), _toml_courses(entry.get("course"), source, where),
                         _string_table(entry.get("rename", {}), f"{source}: {where}: rename"),
                         _patient_settings(entry.get("settings", {}), source, where), f"[[patient]] table {index + 1}")
        )  # fmt: skip
    return patients


def _toml_courses(courses: Any, source: Path, where: str) -> tuple[dict[str, Any], ...]:
    if not isinstance(courses, list) or not courses or not all(isinstance(c, Mapping) for c in courses):
        raise ConfigError(f"{source}: {where}: needs its courses as [[patient.course]] tables, oldest first")
    out = []
    for number, course in enumerate(courses, start=1):
        unknown = sorted(set(course) - set(COURSE_KEYS))
        if unknown:
            raise ConfigError(f"{source}: {where}, course {number}: unknown key(s) {unknown}; allowed: {list(COURSE_KEYS)}")
        out.append({k: str((source.parent / v).resolve()) if k in COURSE_PATHS and isinstance(v, str) else v
                    for k, v in course.items()})  # fmt: skip
    return tuple(out)


def _string_table(table: Any, where: str) -> dict[str, str]:
    if not isinstance(table, Mapping) or not all(isinstance(v, str) for v in table.values()):
        raise ConfigError(f"{where} must be a table of case name = settings name strings")
    return dict(table)


def _patient_settings(settings: Any, source: Path, where: str) -> dict[str, Any]:
    if not isinstance(settings, Mapping):
        raise ConfigError(f"{source}: {where}: 'settings' must be a table of settings sections")
    refused = [key for key in NOT_PER_PATIENT if key in settings]
    if refused:
        raise ConfigError(f"{source}: {where}: settings.{refused[0]} cannot be set per patient (courses come from the manifest, "
                          "outputs go to the cohort's folder)")  # fmt: skip
    return absolute_paths(settings, source.parent)
