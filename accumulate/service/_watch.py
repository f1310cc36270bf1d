"""A watched folder: each sub-folder of the inbox is one export; once quiet it is run and settled.

Layout::

    INBOX/<export>/                      written by the planning system (any layout, every course of the case)
    INBOX/.processing/<export>/export/   the export, claimed by renaming it (nothing more is added to it)
    INBOX/.processing/<export>/input/    its objects linked as <series>/<sop>.dcm (one folder per CT series)
    INBOX/.processing/<export>/results/  the pipeline's outputs
    INBOX/done/<export>/                 all of the above once the case ran and its results were delivered
    INBOX/failed/<export>/               ... or when it failed, with reason.txt

An export is quiet when nothing under it changed for ``quiet_s`` seconds. Loose files in the inbox
and hidden folders (``.name``: export there and rename when complete) are left alone. An export
still missing an object its others reference fails with what is missing. One watcher per inbox.

Exports may change under the watcher: one renamed or deleted before it is claimed is passed over,
files that vanish while they are linked are skipped, and an export deleted while it runs is
settled as failed if anything of it is left (else only logged); in every case the watcher goes on
with the next export. No error of one export stops the loop.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pydicom

from ..errors import AccumulateError
from ..pipeline import RunResult
from ._settings import Profile
from ._storage import INPUT, is_uid, link_or_copy, make_dirs, newest_change, object_path, unique_path
from ._worker import copy_files, keep_report, process, result_files, settle

log = logging.getLogger(__name__)

SETTLED = ("done", "failed")
PROCESSING, EXPORT = ".processing", "export"


def link_objects(source: Path, target: Path) -> list[Path]:
    """Link each DICOM object under ``source`` as ``target/<series>/<sop>.dcm`` (a copy where links fail).

    Returns the files skipped: not DICOM, without valid Series and SOP Instance UIDs, or gone
    before they could be linked (an export changing under the watcher). Folders that vanish
    while they are listed are passed over.
    """
    skipped = []
    found = [Path(base, name) for base, _, names in os.walk(source) for name in names if not name.startswith(".")]
    for path in sorted(found):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SeriesInstanceUID", "SOPInstanceUID"], force=True)
            series, sop = str(ds.get("SeriesInstanceUID", "")), str(ds.get("SOPInstanceUID", ""))
            if not (is_uid(series) and is_uid(sop)):
                skipped.append(path)
                continue
            destination = object_path(target, series, sop)
            make_dirs(destination.parent)
            link_or_copy(path, destination)
        except Exception:  # not DICOM, or it vanished meanwhile
            skipped.append(path)
    return skipped


@dataclass
class Inbox:
    """One watched folder and what to do with its exports (see the module docstring)."""

    root: Path
    profile: Profile
    quiet_s: float = 60.0
    outbox: Path | None = None
    reports: Path | None = None

    def exports(self) -> list[Path]:
        """The export folders waiting in the inbox."""
        return sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in SETTLED)

    def poll(self, now: float | None = None) -> dict[str, str | None]:
        """Resume interrupted exports, then run every quiet one; ``{name: failure reason or None}``.

        An export that vanished before it was claimed is left out; none of one export's errors stops the others.
        """
        outcomes = {}
        processing = self.root / PROCESSING
        for case in sorted(p for p in processing.iterdir() if p.is_dir()) if processing.is_dir() else []:
            outcomes[case.name] = self._run(case, fresh=False)
        for export in self.exports():
            try:
                quiet = (time.time() if now is None else now) - newest_change(export) >= self.quiet_s
                case = self._claim(export) if quiet else None
            except OSError as exc:  # renamed or deleted meanwhile: nothing to run
                log.info("export %s: gone before it was claimed (%s); passed over", export.name, exc.strerror)
                continue
            if case is not None:
                outcomes[export.name] = self._run(case, fresh=True)
        return outcomes

    def watch(self, interval_s: float, stop: threading.Event) -> None:
        """Poll every ``interval_s`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.poll()
            except Exception:  # e.g. the share briefly unavailable: say so and try again
                log.exception("polling %s failed", self.root)
            stop.wait(interval_s)

    def _claim(self, export: Path) -> Path:
        case = unique_path(self.root / PROCESSING / export.name)
        make_dirs(case)
        try:
            os.rename(export, case / EXPORT)
        except OSError:
            case.rmdir()
            raise
        return case

    def _run(self, case: Path, fresh: bool) -> str | None:
        """Run and settle one claimed export; its failure reason, or ``None``."""
        log.info("export %s: %s", case.name, "started" if fresh else "resumed after a stop")
        shutil.rmtree(case / INPUT, ignore_errors=True)
        skipped = link_objects(case / EXPORT, case / INPUT)
        if skipped:
            log.info("export %s: %d files are not DICOM objects with valid UIDs (or vanished) and were skipped", case.name,
                     len(skipped))  # fmt: skip
        if (case / EXPORT).is_dir():
            reason = process(case, self.profile, self._deliver, complete_only=True)
        else:
            reason = "the export vanished while it was being run (deleted or moved away from under the watcher)"
        try:
            settled = settle(case, self.root, reason)
        except (OSError, AccumulateError) as exc:
            if case.exists():  # e.g. done/ not writable: left in .processing, resumed at the next poll
                log.error("export %s: could not be moved to done/ or failed/ (%s); tried again at the next poll", case.name, exc)
                return reason or f"could not be settled: {exc}"
            reason = reason or "the export vanished before it could be settled"
            log.warning("export %s: %s; nothing left to settle", case.name, reason)
            return reason
        log.info("export %s: moved to %s", case.name, settled)
        return reason

    def _deliver(self, result: RunResult) -> None:
        name = result.output_dir.parent.name
        if self.reports is not None:
            keep_report(result, self.reports)
        if self.outbox is not None:
            staging = self.outbox / f".{name}.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            copy_files(result_files(result), staging)
            os.rename(staging, unique_path(self.outbox / name))
