"""The planning-system export hook: ``accumulate serve`` (a DICOM receiver) and ``accumulate watch`` (a folder).

Both group what a planning system exports into re-irradiation cases, run the pipeline on each
complete case with a settings profile, deliver the results (C-STORE to a destination node, or an
outbox folder) and settle the case in ``done/`` or ``failed/`` (with ``reason.txt``). See
``configs/service/`` for an example SERVICE.toml, a systemd unit and the health check.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable

LOGGER_NAME = "accumulate.service"


def log_to_console() -> None:
    """Informational lines of the service on stderr (the journal under systemd), apart from the pipeline's log.

    Every record is one line: text from outside (a PatientID, an AE title, a file name) cannot start
    a line of its own (see :mod:`._logtext`). pynetdicom's warnings and errors go to the same place.
    """
    from ._logtext import OneLineFilter

    for name, level in ((LOGGER_NAME, logging.INFO), ("pynetdicom", logging.WARNING)):
        logger = logging.getLogger(name)
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            handler.addFilter(OneLineFilter())
            logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False  # not into a running case's accumulate.log


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT (systemd stop, Ctrl-C).

    Returns
    -------
    threading.Event
        Set when either signal arrives (call from the main thread).
    """
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    return stop


def run_steps(step: Callable[[], bool], stop: threading.Event, interval_s: float, what: str) -> None:
    """Call ``step`` until ``stop`` is set, waiting ``interval_s`` after one that found nothing to do or failed.

    A failure (e.g. the storage briefly unreadable) is logged with its traceback, then tried again.

    Parameters
    ----------
    step : callable
        One round of work; returns True when it did something (the next round follows at once).
    stop : threading.Event
        Ends the loop (checked before each round and during the waits).
    interval_s : float
        Seconds to wait after an idle or failed round.
    what : str
        Names the loop in the log.

    Examples
    --------
    >>> import threading
    >>> stop, rounds = threading.Event(), []
    >>> def step():
    ...     rounds.append(len(rounds))
    ...     if len(rounds) == 3:
    ...         stop.set()
    ...     return True
    >>> run_steps(step, stop, interval_s=60.0, what="example")  # busy rounds do not wait
    >>> rounds
    [0, 1, 2]
    """
    while not stop.is_set():
        try:
            busy = step()
        except Exception:
            logging.getLogger(LOGGER_NAME).exception("%s step failed", what)
            busy = False
        if not busy:
            stop.wait(interval_s)
