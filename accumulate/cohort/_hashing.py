"""The content hash that decides whether a patient's earlier result still holds.

It covers the package version, every setting of the patient's run configuration (base settings,
per-patient overrides, courses and the constraint set's limits, as parsed values, so formatting
does not matter), the (name, size, modification time) of every input file, the files inside each
DICOM folder included, and anything else the cohort passes (the sensitivity grid).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .. import __version__

#: RunConfig fields that do not change a result: where the settings came from, where outputs go, the backend.
IGNORED_FIELDS = ("source", "output_dir", "backend")


def canonical(value: Any) -> Any:
    """A JSON-able, order-independent form of a configuration value (dataclasses by type and fields)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name not in IGNORED_FIELDS}
        return {"type": type(value).__name__, **fields}
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda item: str(item[0]))}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _paths(value: Any) -> Iterator[Path]:
    """Every Path inside a configuration value (in the fields :func:`canonical` keeps)."""
    if isinstance(value, Path):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            if f.name not in IGNORED_FIELDS:
                yield from _paths(getattr(value, f.name))
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _paths(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _paths(v)


def _stat(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns]


def fingerprint(path: Path) -> dict[str, list[int] | None]:
    """``{file: [size, mtime_ns]}`` for a file, or for every file under a folder; ``None`` if missing."""
    if path.is_dir():
        found = {}
        for folder, _dirs, files in os.walk(path):
            for name in files:
                file = Path(folder, name)
                found[str(file)] = _stat(file)
        return dict(sorted(found.items()))
    return {str(path): _stat(path) if path.exists() else None}


def input_hash(config: Any, extra: Any = None) -> str:
    """SHA-256 (hex) of the package version, ``config``'s settings and input files, and ``extra``."""
    files: dict[str, Any] = {}
    for path in _paths(config):
        files.update(fingerprint(path))
    content = {"software": __version__, "settings": canonical(config), "files": files, "extra": canonical(extra)}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=repr).encode()).hexdigest()
