"""Delivering results to the destination: an outbox in the storage folder, sent from a thread of its own, with back-off.

Layout (under ``storage/outbox/``)::

    <case>/<name>.dcm       the result objects (hard links to the case's results: no extra space)
    <case>/delivery.json    {"queued", "attempts", "due", "state", "error"}: times in s since the epoch
    <case>/resend           asks the courier to send the case again now (``accumulate serve --resend CASE``)

The worker queues a case's results here and goes on with the next case; the :class:`Courier`
thread sends each pending entry when it is due, every step bounded by the destination's
``timeout_seconds``, so a destination that is down or hangs never holds up a case. A failed
attempt is retried after ``retry_seconds``, twice as long each time up to ``max_retry_seconds``,
until ``give_up_hours`` have passed since the results were queued. The state is written
atomically after every attempt, so a restart (even after kill -9) carries on where the last one
stopped; an attempt cut short is simply made again. Delivered and given-up entries stay until
``retention_days``, so any case can be sent again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..atomic import fsync_dir, write_text_atomic
from . import run_steps
from ._sender import send_files
from ._settings import ServiceSettings
from ._storage import link_or_copy, make_dirs

log = logging.getLogger(__name__)

STATE, RESEND = "delivery.json", "resend"
PENDING, DELIVERED, GIVEN_UP = "pending", "delivered", "given up"


@dataclass(frozen=True)
class Delivery:
    """The delivery state of one outbox entry (times in seconds since the epoch)."""

    queued: float
    attempts: int = 0
    due: float = 0.0
    state: str = PENDING
    error: str = ""


class Outbox:
    """The outbox folder: one entry (folder) per case whose results are, or were, for the destination."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def put(self, name: str, files: list[Path], now: float | None = None) -> Path:
        """Queue ``files`` as entry ``name``, due now; an entry of that name (the case run again) is replaced."""
        now = time.time() if now is None else now
        make_dirs(self.folder)
        staging = self.folder / f".{name}.tmp-{uuid.uuid4().hex[:12]}"
        staging.mkdir()
        for path in files:
            link_or_copy(path, staging / path.name)
        self.write(staging, Delivery(queued=now, due=now))
        fsync_dir(staging)
        target = self.folder / name
        if target.exists():
            old = self.folder / f".{name}.old-{uuid.uuid4().hex[:12]}"
            os.rename(target, old)
            os.rename(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, target)
        fsync_dir(self.folder)
        return target

    def entries(self) -> list[Path]:
        """The entries, oldest name first (hidden staging folders left out)."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.is_dir() and not p.name.startswith("."))

    def read(self, entry: Path) -> Delivery:
        """An entry's state; one whose state file is unreadable counts as pending since the folder was made."""
        try:
            return Delivery(**json.loads((entry / STATE).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return Delivery(queued=entry.stat().st_mtime)

    def write(self, entry: Path, delivery: Delivery) -> None:
        """Replace an entry's state (atomically)."""
        write_text_atomic(entry / STATE, json.dumps(asdict(delivery)) + "\n")

    def files(self, entry: Path) -> list[Path]:
        return sorted(entry.glob("*.dcm"))

    def request_resend(self, entry: Path) -> Path:
        """Ask the courier (of a running service, or the next one started) to send ``entry`` again now."""
        return write_text_atomic(entry / RESEND, time.strftime("%Y-%m-%dT%H:%M:%S") + "\n")

    def find(self, case: str, patient_key: str | None = None) -> Path | None:
        """The entry named ``case``, else the newest entry of the patient with key ``patient_key``."""
        if (self.folder / case).is_dir() and not case.startswith("."):
            return self.folder / case
        mine = [p for p in self.entries() if patient_key and p.name.startswith(f"{patient_key}-")]
        return mine[-1] if mine else None


class Courier(threading.Thread):
    """Sends the outbox's due entries to the destination, one at a time, until ``stop`` is set."""

    def __init__(self, settings: ServiceSettings, outbox: Outbox, stop: threading.Event) -> None:
        super().__init__(name="accumulate-courier", daemon=True)
        self.settings, self.outbox, self.stop = settings, outbox, stop
        s = settings
        self._tls = s.tls.client_context(s.tls.ca) if s.destination and s.destination.tls and s.tls else None

    def run(self) -> None:
        run_steps(self.step, self.stop, self.settings.poll_s, "courier")

    def step(self, now: float | None = None) -> bool:
        """Take resend requests, then attempt at most one due entry; ``True`` if one was attempted."""
        now = time.time() if now is None else now
        destination = self.settings.destination
        for entry in self.outbox.entries():
            delivery = self.outbox.read(entry)
            if (entry / RESEND).exists():
                delivery = Delivery(queued=now, due=now)
                self.outbox.write(entry, delivery)
                (entry / RESEND).unlink(missing_ok=True)
                log.info("case %s: results queued again", entry.name)
            if destination is None or delivery.state != PENDING or delivery.due > now:
                continue
            self._attempt(entry, delivery)
            return True
        return False

    def _attempt(self, entry: Path, delivery: Delivery) -> None:
        destination = self.settings.destination
        try:
            send_files(self.outbox.files(entry), destination, self.settings.ae_title, tls=self._tls)
        except Exception as exc:  # DeliveryError, or an unreadable result file: either way retried later
            attempts, now = delivery.attempts + 1, time.time()
            error = f"{type(exc).__name__}: {exc}"
            if now - delivery.queued >= destination.give_up_s:
                self.outbox.write(entry, replace(delivery, attempts=attempts, state=GIVEN_UP, error=error))
                log.error("case %s: results not delivered to %s after %d attempts, given up (accumulate serve --resend %s "
                          "sends them again): %s", entry.name, destination.where, attempts, entry.name, error)  # fmt: skip
                return
            wait = destination.retry_after(attempts)
            self.outbox.write(entry, replace(delivery, attempts=attempts, due=now + wait, error=error))
            log.warning("case %s: results not delivered to %s (attempt %d), next attempt in %.0f s: %s",
                        entry.name, destination.where, attempts, wait, error)  # fmt: skip
            return
        self.outbox.write(entry, replace(delivery, attempts=delivery.attempts + 1, state=DELIVERED, error=""))
        log.info("case %s: results sent to %s", entry.name, destination.where)
