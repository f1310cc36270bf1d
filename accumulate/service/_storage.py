"""The receiver's storage folder: received objects per patient, case folders, triggers, retention and quota.

Layout under ``storage``::

    service.key                          secret of the pseudonymous patient keys (created once, mode 0600)
    incoming/<key>/<series>/<sop>.dcm    objects of a patient's pending case, as received
    incoming/<key>/.case.json            the calling AE title of the last object (chooses the profile)
    processing/<case>/input/             a case being run (its incoming folder, renamed) ...
    processing/<case>/results/           ... and the pipeline's outputs
    done/<case>/  failed/<case>/         settled cases (failed ones with reason.txt)
    triggers/<key>                       "run this patient's case now" (``accumulate serve --trigger``)
    spool/                               data sets being received (never acknowledged yet; emptied at start)
    outbox/<case>/                       a case's results for the destination and their delivery state (see _courier)

``<key>`` is an HMAC of the PatientID, ``<series>`` and ``<sop>`` are validated UIDs: no text of
a received object ever becomes part of a path. Every object is received into a spool file,
fsynced, checked and renamed into place before it is acknowledged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from ..atomic import fsync_dir, write_text_atomic

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_KEY = re.compile(r"^[0-9a-f]{16}$")
CASE_STATE = ".case.json"
INPUT, RESULTS, REASON = "input", "results", "reason.txt"


def newest_change(folder: Path) -> float:
    """The latest modification or status change (s since the epoch) of ``folder`` or anything under it.

    The status change time counts too: a copy that keeps the source's modification times still
    shows when it arrived. The folder's own times count, so a folder just created, still empty,
    is not quiet (0 only when it does not exist).
    """
    newest = 0.0
    for base, dirs, names in os.walk(folder):
        for path in (base, *(os.path.join(base, name) for name in (*dirs, *names))):
            try:
                info = os.lstat(path)
            except OSError:
                continue
            newest = max(newest, info.st_mtime, info.st_ctime)
    return newest


class StorageFull(Exception):
    """The storage holds ``max_storage_gb`` or more: new objects are refused until retention frees space."""


def is_uid(value: object) -> bool:
    """A DICOM UID: digits and dots, 64 characters at most (the only attribute text used in file names)."""
    return isinstance(value, str) and len(value) <= 64 and bool(_UID.match(value))


def object_path(root: Path, series_uid: str, sop_uid: str) -> Path:
    """``root/<series>/<sop>.dcm``; both must be valid UIDs (checked again here: no traversal by construction)."""
    if not (is_uid(series_uid) and is_uid(sop_uid)):
        raise ValueError(f"not DICOM UIDs: {series_uid!r}, {sop_uid!r}")
    return root / series_uid / f"{sop_uid}.dcm"


def make_dirs(folder: Path) -> None:
    """Create ``folder`` (and parents) so that the new entries survive a crash."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    for path in reversed(missing):
        fsync_dir(path.parent)


def tree_bytes(folder: Path) -> int:
    """Bytes in the files under ``folder``."""
    total = 0
    for base, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(base, name)).st_size
    return total


def _secret(path: Path) -> bytes:
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
            handle.flush()
            os.fsync(handle.fileno())
    return path.read_bytes()


class Storage:
    """The storage folder of one service; ``store`` may be called from several receiving threads at once."""

    def __init__(self, root: Path, max_bytes: int | None = None) -> None:
        self.root = root
        self.incoming, self.processing = root / "incoming", root / "processing"
        self.done, self.failed, self.triggers = root / "done", root / "failed", root / "triggers"
        self.spool, self.outbox = root / "spool", root / "outbox"
        self.max_bytes = max_bytes
        self.lock = threading.Lock()  # one writer at a time; claiming a case never races a store into it
        self._usage = 0
        make_dirs(root)
        self._key = _secret(root / "service.key")

    def open(self) -> None:
        """Create the layout, drop temporary files a crash left half-written, measure the usage."""
        for folder in (self.incoming, self.processing, self.done, self.failed, self.triggers, self.spool, self.outbox):
            make_dirs(folder)
        for temp in self.incoming.rglob(".*.tmp-*"):
            temp.unlink(missing_ok=True)
        self.measure()

    def measure(self) -> int:
        """Recount the bytes in the storage folder (data sets still being received not included)."""
        self._usage = tree_bytes(self.root) - tree_bytes(self.spool)
        return self._usage

    def patient_key(self, patient_id: str) -> str:
        """The pseudonymous key of a PatientID: 16 hex digits of an HMAC-SHA256 with this storage's secret."""
        return hmac.new(self._key, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()[:16]

    def key_for(self, patient: str) -> str:
        """A patient key as logged, or the key of a PatientID."""
        return patient if _KEY.match(patient) and (self.incoming / patient).is_dir() else self.patient_key(patient)

    def store(self, received: Path, patient_id: str, series_uid: str, sop_uid: str, calling_ae: str) -> Path:
        """Move one received object (a complete DICOM file on this file system) into place durably (fsync, rename).

        The same SOP instance again replaces it. The file's size counts against ``max_bytes``.
        """
        size = received.stat().st_size
        with open(received, "rb+") as handle:
            os.fsync(handle.fileno())
        with self.lock:
            if self.max_bytes is not None and self._usage + size > self.max_bytes:
                raise StorageFull(
                    f"storage {self.root} holds {self._usage / 1e9:.2f} GB, the limit is {self.max_bytes / 1e9:g} GB"
                )
            case = self.incoming / self.patient_key(patient_id)
            path = object_path(case, series_uid, sop_uid)
            make_dirs(path.parent)
            os.replace(received, path)
            fsync_dir(path.parent)
            fsync_dir(received.parent)
            self._usage += size
            self._note_sender(case, calling_ae)
        return path

    @staticmethod
    def _note_sender(case: Path, calling_ae: str) -> None:
        state = case / CASE_STATE
        if sender(case) != calling_ae:
            write_text_atomic(state, json.dumps({"calling_ae_title": calling_ae}))

    def pending(self) -> list[str]:
        """Patient keys with objects waiting in ``incoming/``."""
        return sorted(p.name for p in self.incoming.iterdir() if p.is_dir() and _KEY.match(p.name))

    def claim(self, key: str, *, unchanged_since: float | None = None) -> Path | None:
        """Move a patient's incoming objects into a new case folder ``processing/<key>-<time>/input``.

        With ``unchanged_since`` (the newest change a decision saw), ``None`` and nothing moved if an
        object arrived since: the check and the move hold the lock that storing takes.
        """
        with self.lock:
            if unchanged_since is not None and newest_change(self.incoming / key) > unchanged_since:
                return None
            stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
            case = unique_path(self.processing / f"{key}-{stamp}")
            make_dirs(case)
            os.rename(self.incoming / key, case / INPUT)
            fsync_dir(self.incoming)
            fsync_dir(case)
        return case

    def request_trigger(self, key: str) -> Path:
        """Ask the running service to run ``key``'s case now, complete or not."""
        make_dirs(self.triggers)
        return write_text_atomic(self.triggers / key, dt.datetime.now().isoformat(timespec="seconds") + "\n")

    def triggered(self) -> list[str]:
        """The patient keys whose case was asked to run now."""
        return sorted(p.name for p in self.triggers.iterdir() if _KEY.match(p.name))

    def clear_trigger(self, key: str) -> None:
        (self.triggers / key).unlink(missing_ok=True)

    def expire(self, max_age_s: float, now: float | None = None) -> list[Path]:
        """Delete done/ and failed/ cases settled, and outbox entries last attempted, over ``max_age_s`` s ago; re-measure."""
        removed = expire_folders((self.done, self.failed, self.outbox), max_age_s, now)
        self.measure()
        return removed


def expire_folders(parents: Iterable[Path], max_age_s: float, now: float | None = None) -> list[Path]:
    """Delete the sub-folders of ``parents`` last modified more than ``max_age_s`` seconds before ``now``."""
    now = time.time() if now is None else now
    removed = []
    for parent in (Path(p) for p in parents):
        for case in parent.iterdir() if parent.is_dir() else ():
            if case.is_dir() and now - case.stat().st_mtime > max_age_s:
                shutil.rmtree(case, ignore_errors=True)
                removed.append(case)
    return removed


def sender(case: Path) -> str | None:
    """The calling AE title that sent the last object of a case folder (incoming or claimed input)."""
    try:
        return json.loads((case / CASE_STATE).read_text(encoding="utf-8")).get("calling_ae_title")
    except (OSError, ValueError):
        return None


def link_or_copy(source: Path, target: Path) -> Path:
    """Hard-link ``source`` as ``target`` (no extra space; survives the source's removal), a copy where links fail."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target


def unique_path(path: Path) -> Path:
    """``path``, or ``path-2``, ``path-3`` ... whichever does not exist yet."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate
