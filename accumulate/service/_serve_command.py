"""``accumulate serve --config SERVICE.toml``: the DICOM receiver, and its health check, trigger and status."""

from __future__ import annotations

import sys
import time
from pathlib import Path

HELP = "receive planning-system exports by DICOM (C-STORE), run each complete case and send the results back"


def configure(parser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="service settings (SERVICE.toml, see configs/service/)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--check", action="store_true", help="health check: C-ECHO the running service; exit 0 if it answers, 1 if not"
    )
    action.add_argument("--trigger", metavar="PATIENT", help="run this patient's pending case now, complete or not (a PatientID, "
                        "or the patient key the log shows)")  # fmt: skip
    action.add_argument(
        "--status",
        action="store_true",
        help="list the pending cases and what each still waits for, and the results not yet delivered",
    )
    action.add_argument("--resend", metavar="CASE", help="send a case's results to the destination again (the case name the "
                        "log shows, or a PatientID or patient key: that patient's latest case)")  # fmt: skip
    parser.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS", help="with --check: keep trying this long (start-up)"
    )


def run(args) -> int:
    from ._settings import load_service_settings

    settings = load_service_settings(args.config)
    if args.check:
        return _check(settings, args.wait)
    if args.trigger is not None:
        return _trigger(settings, args.trigger)
    if args.status:
        return _status(settings)
    if args.resend is not None:
        return _resend(settings, args.resend)
    return _serve(settings)


def _serve(settings) -> int:
    from . import log_to_console, stop_on_signals
    from ._service import Service

    log_to_console()
    stop = stop_on_signals()
    service = Service(settings).start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        service.stop()
    return 0


def _check(settings, wait_s: float) -> int:
    from ._sender import echo

    tls = settings.tls.client_context(settings.tls.ca or settings.tls.cert, check_hostname=False) if settings.tls else None
    deadline = time.monotonic() + wait_s
    while True:
        problem = echo(settings.check_host, settings.port, settings.ae_title, settings.ae_title, tls=tls, timeout_s=5.0)
        if problem is None or time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    if problem is not None:
        print(f"accumulate serve --check: {problem}", file=sys.stderr)
        return 1
    print(f"{settings.ae_title} at {settings.check_host}:{settings.port} answers C-ECHO")
    return 0


def _trigger(settings, patient: str) -> int:
    from ..errors import InputError
    from ._storage import Storage

    storage = Storage(settings.storage)
    key = storage.key_for(patient)
    if not (storage.incoming / key).is_dir():
        raise InputError(f"no pending case for patient {patient!r} in {storage.incoming}; see --status for the pending ones")
    storage.request_trigger(key)
    print(f"case of patient {key} triggered: the service runs it within {settings.poll_s:g} s (or after its current case)")
    return 0


def _status(settings) -> int:
    from ..errors import AccumulateError
    from ._cases import assess
    from ._storage import Storage, newest_change

    storage = Storage(settings.storage)
    pending = storage.pending() if storage.incoming.is_dir() else []
    for key in pending:
        folder = storage.incoming / key
        quiet = time.time() - newest_change(folder)
        try:
            found = assess(folder)
            state = "ready" if found.ready else "waiting for " + "; ".join(found.waiting_for)
            courses = len(found.courses)
        except AccumulateError as exc:
            state, courses = f"unreadable: {exc}", 0
        print(f"{key}  {courses} course(s) with a dose, last object {quiet:.0f} s ago: {state}")
    running = sorted(p.name for p in storage.processing.iterdir()) if storage.processing.is_dir() else []
    print(f"{len(pending)} pending case(s); running: {', '.join(running) or 'none'}")
    _deliveries(storage)
    return 0


def _deliveries(storage) -> None:
    from ._courier import DELIVERED, GIVEN_UP, Outbox

    outbox = Outbox(storage.outbox)
    undelivered = [(entry, outbox.read(entry)) for entry in outbox.entries()]
    undelivered = [(entry, d) for entry, d in undelivered if d.state != DELIVERED]
    for entry, d in undelivered:
        due = f", next attempt in {max(0.0, d.due - time.time()):.0f} s" if d.state != GIVEN_UP else ""
        print(f"results of {entry.name}: {d.state}, {d.attempts} attempt(s){due}" + (f": {d.error}" if d.error else ""))
    print(f"{len(undelivered)} case(s) with results not delivered")


def _resend(settings, case: str) -> int:
    from ..errors import InputError
    from ._courier import Outbox
    from ._storage import Storage

    if settings.destination is None:
        raise InputError(f"{settings.source}: no [destination] to send results to")
    storage = Storage(settings.storage)
    outbox = Outbox(storage.outbox)
    entry = outbox.find(case, case) or outbox.find(case, storage.patient_key(case))  # a case, a patient key, a PatientID
    if entry is None:
        raise InputError(f"no results of case {case!r} in {outbox.folder} (expired after retention_days, or never run); "
                         "see --status")  # fmt: skip
    outbox.request_resend(entry)
    print(f"results of {entry.name} queued again: the service sends them to {settings.destination.where} "
          f"within {settings.poll_s:g} s (or after the delivery in progress)")  # fmt: skip
    return 0
