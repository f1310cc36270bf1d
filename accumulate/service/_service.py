"""One running receiver: the storage folder, the Storage SCP, the case worker and the courier, started and stopped together."""

from __future__ import annotations

import logging
import threading

from ._courier import Courier, Outbox
from ._scp import Receiver
from ._settings import ServiceSettings
from ._storage import Storage, make_dirs
from ._worker import Worker

log = logging.getLogger(__name__)


class Service:
    """``start()`` listens, runs cases and delivers results in background threads; ``stop()`` ends them.

    A running case is finished first; a delivery in progress is given ``destination.timeout_seconds``.
    """

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.storage = Storage(settings.storage, settings.max_storage_bytes)
        self.receiver = Receiver(settings, self.storage)
        self._stop = threading.Event()
        self.worker = Worker(settings, self.storage, self._stop)
        self.courier = Courier(settings, Outbox(self.storage.outbox), self._stop)

    def start(self) -> Service:
        self.storage.open()
        make_dirs(self.settings.reports)
        self.receiver.start()
        self.worker.start()
        self.courier.start()
        s = self.settings
        destination = f"{s.destination.ae_title}@{s.destination.host}:{s.destination.port}" if s.destination else "none"
        log.info("storage %s, reports %s, results to %s, profile %s", s.storage, s.reports, destination, s.profile.label)
        return self

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop listening, then let the worker finish its case (an unfinished one is resumed at the next start)."""
        self.receiver.stop()
        self._stop.set()
        if self.worker.is_alive():
            self.worker.join(timeout_s)
        if self.courier.is_alive():  # an attempt cut short by the exit is made again at the next start
            self.courier.join(self.settings.destination.timeout_s if self.settings.destination else timeout_s)

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
