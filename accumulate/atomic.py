"""Atomic file writes: a temporary name in the destination folder, fsync, then ``os.replace``.

A reader never sees a half-written output: either the old file (or none) or the complete new one.
:class:`StagedFolder` does the same for a whole folder of outputs (a run's results appear all
together or not at all). Every writer of the package (DICOM, research formats, reports, the
service's records, cohort tables) goes through these.

Examples
--------
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     path = write_json_atomic(Path(folder) / "summary.json", {"verdict": "pass"})
...     print(path.read_text(), sorted(p.name for p in Path(folder).iterdir()))
{
  "verdict": "pass"
}
 ['summary.json']
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import InputError, OutputError

_DOUBLE_SUFFIXES = (".nii.gz", ".tar.gz")


def full_suffix(path: Path) -> str:
    """The extension, lower case, keeping ``.nii.gz`` whole (``""`` when there is none).

    Parameters
    ----------
    path : Path

    Returns
    -------
    str
        Lower case, with its dot.

    Examples
    --------
    >>> full_suffix(Path("dose.NII.GZ")), full_suffix(Path("RD.dcm")), full_suffix(Path("README"))
    ('.nii.gz', '.dcm', '')
    """
    name = path.name.lower()
    for suffix in _DOUBLE_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def fsync_dir(folder: Path) -> None:
    """Make a rename or creation inside ``folder`` durable (best effort where directories cannot be opened).

    Parameters
    ----------
    folder : Path
        The folder whose entries changed.
    """
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

    Parameters
    ----------
    path : path
        The destination; its folder must exist.

    Yields
    ------
    Path
        Where the body writes the file (``<folder>/.<stem>.tmp-<id><extension>``).

    Raises
    ------
    InputError
        The folder does not exist, or the body wrote no file.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with atomic_path(Path(folder) / "table.csv") as temporary:
    ...         _ = temporary.write_text("a,b\\n")
    ...     print(sorted(p.name for p in Path(folder).iterdir()))
    ['table.csv']
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
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_path`).

    Parameters
    ----------
    path : path
        The destination; its folder must exist.
    text : str

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        The folder does not exist.
    """
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | os.PathLike[str], content: Any) -> Path:
    """Write ``content`` as indented JSON (values JSON lacks as their ``str``) atomically.

    Parameters
    ----------
    path : path
        As for :func:`write_text_atomic` (which raises and returns the same).
    content : JSON-like
        Dicts, lists, strings, numbers; anything else (paths, dates) is written as its ``str``.
    """
    return write_text_atomic(path, json.dumps(content, indent=2, default=str) + "\n")


#: The file that marks a folder as a complete set of a run's outputs (so that it may be replaced by the next run).
OUTPUT_MARKER = ".accumulate-output"


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            _fsync_file(path)
    for path in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        fsync_dir(path)
    fsync_dir(folder)


class StagedFolder:
    """Outputs written into a staging folder beside ``target``, swapped in whole when complete.

    The staging folder is ``<parent>/.<name>.partial-<id>``. :meth:`commit` fsyncs every file,
    marks the set complete (:data:`OUTPUT_MARKER`) and puts it in place of ``target`` (an earlier
    complete set there is replaced; its files are never mixed with the new ones). :meth:`abandon`
    keeps the partial outputs as ``<parent>/.<name>.failed`` (replacing an earlier one) for
    diagnosis, and leaves ``target`` untouched.

    ``target`` must not exist, be empty, or hold an earlier run's outputs (the marker, or a
    ``summary.json`` with an ``accumulate.log``): a folder holding anything else is refused, so
    that a run never deletes files it did not write.

    Raises
    ------
    OutputError
        When ``target`` is a file, holds other files, or the staging folder cannot be made.
    """

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = Path(target).absolute()
        if self.target.exists() and not self.target.is_dir():
            raise OutputError(f"cannot write the outputs to {self.target}: it is a file; give a folder")
        if self.target.is_dir() and not _replaceable(self.target):
            raise OutputError(
                f"cannot write the outputs to {self.target}: the folder exists and holds files that are not an earlier run's "
                "outputs; choose a new or empty folder"
            )
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.path = self.target.parent / f".{self.target.name}.partial-{uuid.uuid4().hex[:8]}"
            self.path.mkdir()
        except OSError as exc:
            raise OutputError(f"cannot write the outputs to {self.target}: {exc.strerror or exc}") from None

    @property
    def failed_path(self) -> Path:
        return self.target.parent / f".{self.target.name}.failed"

    def commit(self) -> Path:
        """Make the staged outputs the content of ``target``; returns ``target``."""
        try:
            (self.path / OUTPUT_MARKER).write_text("complete\n", encoding="utf-8")
            _fsync_tree(self.path)
            old = None
            if self.target.exists():
                old = self.target.parent / f".{self.target.name}.old-{uuid.uuid4().hex[:8]}"
                os.rename(self.target, old)
            os.rename(self.path, self.target)
            fsync_dir(self.target.parent)
        except OSError as exc:
            raise OutputError(f"cannot put the outputs in place at {self.target}: {exc.strerror or exc}") from None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.target

    def abandon(self) -> Path | None:
        """Keep the partial outputs as :attr:`failed_path` (or remove them if that fails); returns where they are."""
        if not self.path.exists():
            return None
        with contextlib.suppress(OSError):
            shutil.rmtree(self.failed_path, ignore_errors=True)
            os.rename(self.path, self.failed_path)
            return self.failed_path
        shutil.rmtree(self.path, ignore_errors=True)
        return None


def _replaceable(folder: Path) -> bool:
    names = {p.name for p in folder.iterdir()}
    return not names or OUTPUT_MARKER in names or {"summary.json", "accumulate.log"} <= names
