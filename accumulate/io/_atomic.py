"""Atomic file writes: a temporary name in the destination folder, fsync, then ``os.replace``.

A reader never sees a half-written output: either the old file (or none) or the complete new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError

_DOUBLE_SUFFIXES = (".nii.gz", ".tar.gz")


def full_suffix(path: Path) -> str:
    """The extension, lower case, keeping ``.nii.gz`` whole (``""`` when there is none)."""
    name = path.name.lower()
    for suffix in _DOUBLE_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def fsync_dir(folder: Path) -> None:
    """Make a rename or creation inside ``folder`` durable (best effort where directories cannot be opened)."""
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success make it ``path`` atomically.

    The temporary name keeps the extension (ITK chooses its writer by extension). If the body
    raises, the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise InputError(f"cannot write {target}: the folder {target.parent} does not exist; create it first")
    suffix = full_suffix(target)
    stem = target.name[: len(target.name) - len(suffix)] if suffix else target.name
    temp = target.parent / f".{stem}.tmp-{uuid.uuid4().hex[:12]}{suffix}"
    try:
        yield temp
        if not temp.is_file():
            raise InputError(f"writing {target} produced no file")
        _fsync_file(temp)
        os.replace(temp, target)
        fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_path`); returns the path."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | os.PathLike[str], content: Any) -> Path:
    """Write ``content`` as indented JSON (values JSON lacks as their ``str``) atomically; returns the path."""
    return write_text_atomic(path, json.dumps(content, indent=2, default=str) + "\n")
