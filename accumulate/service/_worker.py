"""Running cases: a case folder through the pipeline, its results delivered, the folder settled in done/ or failed/.

A case folder holds ``input/`` (the objects, each CT series in its own folder) and gets
``results/`` (the pipeline's outputs); a failed one also ``reason.txt``. :class:`Worker` is the
service's thread: it resumes the cases a stop interrupted, then runs each patient's case once it
is complete and quiet (or triggered), one at a time, while the receiver goes on storing; a case's
results are queued in the outbox for the courier (:mod:`._courier`), which sends them.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from ..atomic import atomic_path, fsync_dir, write_json_atomic, write_text_atomic
from ..errors import AccumulateError, InputError
from ..pipeline import RunResult, run
from . import run_steps
from ._cases import Assessment, assess, run_config
from ._courier import Outbox
from ._settings import Profile, ServiceSettings
from ._storage import INPUT, REASON, RESULTS, Storage, expire_folders, make_dirs, newest_change, sender, unique_path

log = logging.getLogger(__name__)

#: The results sent back to the planning system (``reg_<course>``: each prior course's deformable REG).
SENT_RESULTS = ("remaining_dose",)
#: The run's status (summary.json's "status"), kept in the case folder whatever the verdict.
STATUS = "status.json"
REPORT_FILES = ("report", "pdf", "summary")
ATTEMPTS = ".attempts"


def run_case(case: Path, profile: Profile, *, complete_only: bool = False) -> RunResult:
    """Run the pipeline on ``case/input`` into ``case/results`` (emptied first: a resumed case starts over).

    ``complete_only``: refuse a case that still lacks something its objects reference.
    """
    assessment = assess(case / INPUT)
    if complete_only and not assessment.ready:
        raise InputError(f"the case is incomplete: missing {'; '.join(assessment.waiting_for)}")
    config = run_config(assessment, profile)
    results = case / RESULTS
    shutil.rmtree(results, ignore_errors=True)
    return run(config, output_dir=results, progress=lambda line: log.debug("%s: %s", case.name, line.strip()))


def result_files(result: RunResult) -> list[Path]:
    """The RTDOSE and REG objects to hand back: cumulative EQDx, remaining dose, the deformable REGs."""
    cumulative = f"cumulative_{result.evaluation.quantity}"
    return [path for key, path in sorted(result.files.items())
            if key == cumulative or key in SENT_RESULTS or key.startswith("reg_")]  # fmt: skip


def copy_files(paths: list[Path], folder: Path) -> Path:
    """Copy ``paths`` into ``folder`` (created), each atomically."""
    make_dirs(folder)
    for path in paths:
        with atomic_path(folder / path.name) as temp:
            shutil.copyfile(path, temp)
    return folder


def keep_report(result: RunResult, reports: Path) -> Path:
    """Copy report.html, report.pdf (where written) and summary.json to ``reports/<case>/`` (``<case>``: the case
    folder's name)."""
    kept = [result.files[key] for key in REPORT_FILES if key in result.files]
    return copy_files(kept, reports / result.output_dir.parent.name)


def process(case: Path, profile: Profile, deliver: Callable[[RunResult], None], *, complete_only: bool = False) -> str | None:
    """Run and deliver one case; the reason it failed, in words, or ``None``. Never raises for a bad case."""
    started = time.perf_counter()
    try:
        result = run_case(case, profile, complete_only=complete_only)
        deliver(result)
    except AccumulateError as exc:
        return f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a bug or an unforeseen input must not stop the next case
        log.exception("case %s: unexpected error", case.name)
        return f"unexpected {type(exc).__name__}: {exc} (the service log has the traceback)"
    status = result.status
    write_json_atomic(case / STATUS, status.as_dict())
    line = f"case %s: done in %.1f s, {status.state.upper()}: {status.headline}"
    if status.state in ("passed", "doses only"):
        log.info(line, case.name, time.perf_counter() - started)
    else:  # not met or incomplete: the receiver's log says so loudly, with the reasons
        log.warning(line + "; " + "; ".join(status.reasons), case.name, time.perf_counter() - started)
    for warning in status.warnings:
        log.warning("case %s: %s", case.name, warning)
    return None


def settle(case: Path, root: Path, reason: str | None) -> Path:
    """Move a case folder to ``root/done/`` or, with a ``reason`` (kept in reason.txt), to ``root/failed/``."""
    if reason is not None:
        write_text_atomic(case / REASON, reason.rstrip() + "\n")
        log.warning("case %s failed: %s", case.name, reason)
    target = unique_path(root / ("failed" if reason is not None else "done") / case.name)
    make_dirs(target.parent)
    os.rename(case, target)
    os.utime(target)  # retention counts from now
    fsync_dir(case.parent)
    fsync_dir(target.parent)
    return target


class _Decision(NamedTuple):
    run: bool
    changed: float  # the newest change of the case folder the decision saw (s since the epoch)
    reason: str = ""


class Worker(threading.Thread):
    """The service's case runner: resumes interrupted cases, then runs ready ones until ``stop`` is set."""

    MAX_ATTEMPTS = 3  # a case that stopped the service this often is given up
    SWEEP_S = 60.0  # retention and usage every minute

    def __init__(self, settings: ServiceSettings, storage: Storage, stop: threading.Event) -> None:
        super().__init__(name="accumulate-worker", daemon=True)
        self.settings, self.storage, self.stop = settings, storage, stop
        self.outbox = Outbox(storage.outbox)
        self._assessed: dict[str, tuple[float, Assessment]] = {}
        self._swept = 0.0

    def run(self) -> None:
        self.resume()
        run_steps(self.step, self.stop, self.settings.poll_s, "worker")

    def step(self, now: float | None = None) -> bool:
        """Sweep if due, then run, or give up, at most one pending case; ``True`` if a case was handled."""
        now = time.time() if now is None else now
        if now - self._swept >= self.SWEEP_S:
            for case in self.storage.expire(self.settings.retention_s, now):
                log.info("retention: removed %s", case.name)
            if self.settings.report_retention_s is not None:
                for report in expire_folders([self.settings.reports], self.settings.report_retention_s, now):
                    log.info("report retention: removed %s", report)
            self._swept = now
        triggered = set(self.storage.triggered())
        pending = self.storage.pending()
        for key in sorted(pending, key=lambda k: k not in triggered):
            decision = self._decide(key, key in triggered, now)
            if decision is not None:
                return self._start(key, decision)
        for key in triggered - set(pending):
            log.warning("trigger for patient %s: no pending case; ignored", key)
            self.storage.clear_trigger(key)
        return False

    def _decide(self, key: str, triggered: bool, now: float) -> _Decision | None:
        """Run the case now, give it up (with the reason), or ``None``: wait."""
        folder = self.storage.incoming / key
        changed = newest_change(folder)
        if not triggered and now - changed < self.settings.quiet_s:
            return None
        cached = self._assessed.get(key)
        try:
            assessment = cached[1] if cached and cached[0] == changed else assess(folder)
        except AccumulateError as exc:
            return _Decision(False, changed, f"{type(exc).__name__}: {exc}")
        self._assessed[key] = (changed, assessment)
        if triggered or assessment.ready:
            return _Decision(True, changed)
        if now - changed >= self.settings.give_up_s:
            hours, missing = (now - changed) / 3600, "; ".join(assessment.waiting_for)
            return _Decision(False, changed, f"incomplete: no new object for {hours:.1f} h and still missing {missing}")
        return None

    def _start(self, key: str, decision: _Decision) -> bool:
        """Claim and run (or give up) ``key``'s case; ``False`` if an object arrived since the decision."""
        profile = self.settings.profile_for(sender(self.storage.incoming / key))
        case = self.storage.claim(key, unchanged_since=decision.changed)
        if case is None:
            return False
        self.storage.clear_trigger(key)
        self._assessed.pop(key, None)
        if not decision.run:
            settle(case, self.storage.root, decision.reason)
        else:
            log.info("case %s: started (profile %s)", case.name, profile.label)
            self._attempt(case, profile)
        return True

    def resume(self) -> None:
        """Run again the cases a stop interrupted; give up one that was interrupted MAX_ATTEMPTS times."""
        for case in sorted(p for p in self.storage.processing.iterdir() if p.is_dir()):
            if self.stop.is_set():
                return
            attempts = _attempts(case)
            if attempts >= self.MAX_ATTEMPTS:
                reason = f"the service stopped {attempts} times while running this case; see results/accumulate.log"
                settle(case, self.storage.root, reason)
                continue
            log.info("case %s: resumed after a stop", case.name)
            self._attempt(case, self.settings.profile_for(sender(case / INPUT)))

    def _attempt(self, case: Path, profile: Profile) -> None:
        write_text_atomic(case / ATTEMPTS, str(_attempts(case) + 1))
        settle(case, self.storage.root, process(case, profile, self._deliver))

    def _deliver(self, result: RunResult) -> None:
        """Keep the report; queue the results for the courier (which sends them off this thread)."""
        s = self.settings
        keep_report(result, s.reports)
        if s.destination is not None:
            name = result.output_dir.parent.name
            self.outbox.put(name, result_files(result))
            log.info("case %s: results queued for %s", name, s.destination.where)


def _attempts(case: Path) -> int:
    try:
        return int((case / ATTEMPTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
