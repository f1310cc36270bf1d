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

from ..pipeline import RunResult
from ._settings import Profile
from ._storage import INPUT, is_uid, make_dirs, newest_change, object_path, unique_path
from ._worker import copy_files, keep_report, process, result_files, settle

log = logging.getLogger(__name__)

SETTLED = ("done", "failed")
PROCESSING, EXPORT = ".processing", "export"


def link_objects(source: Path, target: Path) -> list[Path]:
    """Link each DICOM object under ``source`` as ``target/<series>/<sop>.dcm`` (a copy where links fail).

    Returns the files skipped: not DICOM, or without valid Series and SOP Instance UIDs.
    """
    skipped = []
    for path in sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith(".")):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SeriesInstanceUID", "SOPInstanceUID"], force=True)
        except Exception:  # not DICOM
            skipped.append(path)
            continue
        series, sop = str(ds.get("SeriesInstanceUID", "")), str(ds.get("SOPInstanceUID", ""))
        if not (is_uid(series) and is_uid(sop)):
            skipped.append(path)
            continue
        destination = object_path(target, series, sop)
        make_dirs(destination.parent)
        try:
            os.link(path, destination)
        except OSError:
            shutil.copyfile(path, destination)
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
        """Resume interrupted exports, then run every quiet one; ``{name: failure reason or None}``."""
        outcomes = {}
        processing = self.root / PROCESSING
        for case in sorted(processing.iterdir()) if processing.is_dir() else []:
            outcomes[case.name] = self._run(case, fresh=False)
        for export in self.exports():
            if (time.time() if now is None else now) - newest_change(export) >= self.quiet_s:
                outcomes[export.name] = self._run(self._claim(export), fresh=True)
        return outcomes

    def watch(self, interval_s: float, stop: threading.Event) -> None:
        """Poll every ``interval_s`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.poll()
            except OSError:  # e.g. the share briefly unavailable: say so and try again
                log.exception("polling %s failed", self.root)
            stop.wait(interval_s)

    def _claim(self, export: Path) -> Path:
        case = unique_path(self.root / PROCESSING / export.name)
        make_dirs(case)
        os.rename(export, case / EXPORT)
        return case

    def _run(self, case: Path, fresh: bool) -> str | None:
        log.info("export %s: %s", case.name, "started" if fresh else "resumed after a stop")
        shutil.rmtree(case / INPUT, ignore_errors=True)
        skipped = link_objects(case / EXPORT, case / INPUT)
        if skipped:
            log.info("export %s: %d files are not DICOM objects with valid UIDs and were skipped", case.name, len(skipped))
        reason = process(case, self.profile, self._deliver, complete_only=True)
        settled = settle(case, self.root, reason)
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
