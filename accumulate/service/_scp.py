"""The listening side: a DICOM Storage SCP that answers C-ECHO and stores RT objects before acknowledging them.

Accepted: CT Image, RT Dose, RT Structure Set, RT (Ion) Plan, Spatial and Deformable Spatial
Registration, in Implicit and Explicit VR Little Endian and Deflated Explicit VR Little Endian.
Each data set is written to a spool file as it arrives (never held whole in memory), a deflated
one inflated (bounded), its structure checked element by element without loading it, its SOP
Instance and Series UIDs and PatientID checked, then it is moved into the storage durably, and
only then answered with success. Failure statuses: ``0xC000`` cannot be decoded (structure broken),
``0xA900`` identifiers missing or invalid or pixel data truncated, ``0xA700`` out of resources
(larger than ``max_object_mb`` once inflated, the spool or the storage full, not writable),
``0x0124`` the health-check AE title (allowed to C-ECHO only) tried to store. Connections are
admitted and watched by :mod:`._guard`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socketserver
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.filereader import read_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian

from ..errors import ConfigError
from ..io.uids import CT_IMAGE, DEFORMABLE_REG, RT_DOSE, RT_ION_PLAN, RT_PLAN, RT_STRUCT, SPATIAL_REG
from ._guard import MAX_PDU_BYTES, Gate, GuardedSSLSocket
from ._inspect import TRANSFER_SYNTAXES, Header, Malformed, TooLarge, inflate, inspect
from ._logtext import printable
from ._sender import SUCCESS, VERIFICATION, require_pynetdicom
from ._settings import ServiceSettings
from ._spool import Spool, install, route_to
from ._storage import Storage, StorageFull, is_uid

log = logging.getLogger(__name__)

STORAGE_CLASSES = {CT_IMAGE: "CT", RT_DOSE: "RTDOSE", RT_STRUCT: "RTSTRUCT", RT_PLAN: "RTPLAN", RT_ION_PLAN: "RTIONPLAN",
                   SPATIAL_REG: "REG", DEFORMABLE_REG: "REG"}  # fmt: skip
NOT_AUTHORISED, OUT_OF_RESOURCES, NOT_MATCHING, CANNOT_UNDERSTAND = 0x0124, 0xA700, 0xA900, 0xC000
#: A-ASSOCIATE-RJ (result, source, reason): rejected transient, by the presentation service provider, local limit exceeded
LOCAL_LIMIT_EXCEEDED = (0x02, 0x03, 0x02)


class Refused(Exception):
    """An object answered with a failure ``status``; the message never quotes attribute values."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def readable(path: Path, spool: Spool) -> Path:
    """A received file ready for :func:`._inspect.inspect`: itself, or inflated into a new spool file (``path`` removed).

    :class:`Refused` with 0xA700 if it inflates beyond the spool's ``max_object_bytes``, 0xC000 if it cannot be read.
    """
    try:
        syntax = read_file_meta_info(path).TransferSyntaxUID
    except Exception as exc:  # pydicom raises many types on a broken file meta
        raise Refused(CANNOT_UNDERSTAND, f"its file meta information cannot be read ({type(exc).__name__})") from None
    if syntax != DeflatedExplicitVRLittleEndian:
        return path
    target = spool.new_path()
    try:
        return inflate(path, target, spool.max_object_bytes)
    except TooLarge as exc:
        target.unlink(missing_ok=True)
        raise Refused(OUT_OF_RESOURCES, f"its deflated data set {exc} (max_object_mb); not inflated further") from None
    except Malformed as exc:
        target.unlink(missing_ok=True)
        raise Refused(CANNOT_UNDERSTAND, str(exc)) from None
    finally:
        path.unlink(missing_ok=True)


def identity(header: Header, sop_class: str, sop_instance: str) -> tuple[str, str, str]:
    """(PatientID, SeriesInstanceUID, SOPInstanceUID) checked against the C-STORE request; else :class:`Refused` (0xA900)."""
    ds = header.dataset
    try:
        found_class, sop, series = (str(ds.get(k, "")) for k in ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID"))
        patient_id = str(ds.get("PatientID", "") or "").strip()
        needed = _pixel_bytes(ds)
    except Exception as exc:  # a value pydicom cannot convert
        raise Refused(CANNOT_UNDERSTAND, f"an identifier or the image size cannot be decoded ({type(exc).__name__})") from None
    if found_class != sop_class:
        raise Refused(NOT_MATCHING, "its SOPClassUID differs from the C-STORE request's")
    if not is_uid(sop) or sop != sop_instance:
        raise Refused(NOT_MATCHING, "its SOPInstanceUID is missing, not a valid UID or differs from the request's")
    if not is_uid(series):
        raise Refused(NOT_MATCHING, "its SeriesInstanceUID is missing or not a valid UID")
    if not patient_id:
        raise Refused(NOT_MATCHING, "it has no PatientID, so it cannot be grouped with a patient's other objects")
    if header.pixel_bytes is not None and header.pixel_bytes < needed:
        raise Refused(NOT_MATCHING, f"its pixel data is truncated ({header.pixel_bytes} bytes, {needed} needed)")
    return patient_id, series, sop


def _pixel_bytes(ds) -> int:
    """Bytes the image pixel module calls for (uncompressed)."""
    frames, samples = int(ds.get("NumberOfFrames", 1) or 1), int(ds.get("SamplesPerPixel", 1) or 1)
    rows, columns, bits = (int(ds.get(k, 0) or 0) for k in ("Rows", "Columns", "BitsAllocated"))
    return rows * columns * frames * samples * (bits or 8) // 8


@functools.cache
def _server_class():
    """pynetdicom's threaded association server, with connections accepted and admitted by a :class:`._guard.Gate`."""
    transport = require_pynetdicom().transport

    class GuardedServer(transport.ThreadedAssociationServer):
        request_queue_size = 256  # the listen backlog: a burst of connections is accepted (and sorted out), not dropped
        daemon_threads = True

        def __init__(self, *args, gate: Gate, **kwargs) -> None:
            self.gate = gate
            super().__init__(*args, **kwargs)

        def get_request(self):
            return self.gate.accept(self.socket, self.ssl_context)

        def verify_request(self, request, client_address) -> bool:
            return self.gate.admit(request, str(client_address[0]))

        def shutdown(self) -> None:
            socketserver.BaseServer.shutdown(self)  # made with AE.make_server: not in the AE's list of servers
            self.server_close()

    return GuardedServer


@dataclass
class _Tally:
    """What one connection did, for the log line when it closes."""

    stored: int = 0
    refused: int = 0
    patients: set[str] = field(default_factory=set)


class Receiver:
    """The Storage SCP of a service; objects go into ``storage`` (see :mod:`._storage`)."""

    def __init__(self, settings: ServiceSettings, storage: Storage) -> None:
        self.settings, self.storage = settings, storage
        limits = settings.limits
        self.gate = Gate(limits, settings.allowed_ae_titles)
        self.spool = Spool(storage.spool, settings.max_object_bytes, settings.max_object_bytes * limits.max_associations)
        self._server = None
        self._stop = threading.Event()
        self._tallies: dict[int, _Tally] = {}

    def start(self) -> None:
        """Listen on the configured address (in background threads, one per association) and start the watchdog."""
        pynetdicom = require_pynetdicom()
        evt, s = pynetdicom.evt, self.settings
        ae = pynetdicom.AE(ae_title=s.ae_title)
        # the gate enforces the limits; pynetdicom's own count includes connections still closing, so it is set out of the way
        ae.maximum_associations = 4 * s.limits.max_connections
        ae.maximum_pdu_size = MAX_PDU_BYTES
        ae.acse_timeout = s.limits.request_timeout_s  # the ARTIM timer: a connection's A-ASSOCIATE-RQ must come in this time
        # the time between whole PDUs; the gate's watchdog cuts silence far sooner (network_timeout_seconds)
        ae.dimse_timeout = ae.network_timeout = s.limits.pdu_timeout_s
        if s.allowed_ae_titles:
            ae.require_calling_aet = [*s.allowed_ae_titles, s.ae_title]  # our own title: the health check's C-ECHO
        for sop_class in (VERIFICATION, *STORAGE_CLASSES):
            ae.add_supported_context(sop_class, list(TRANSFER_SYNTAXES))
        handlers = [(evt.EVT_CONN_OPEN, self._on_open), (evt.EVT_REQUESTED, self._on_requested),
                    (evt.EVT_C_STORE, self._on_store), (evt.EVT_REJECTED, self._on_rejected),
                    (evt.EVT_ABORTED, self._on_aborted), (evt.EVT_CONN_CLOSE, self._on_close)]  # fmt: skip
        context = s.tls.server_context() if s.tls is not None else None
        if context is not None:
            context.sslsocket_class = GuardedSSLSocket
        install()
        self.spool.clear()
        try:
            self._server = ae.make_server((s.bind, s.port), ssl_context=context, evt_handlers=handlers,
                                          server_class=_server_class(), gate=self.gate)  # fmt: skip
        except OSError as exc:
            raise ConfigError(
                f"{s.source}: [service] cannot listen on {s.bind}:{s.port} ({exc}); another program may use the port, "
                "or a port below 1024 needs privileges"
            ) from None
        self._stop.clear()
        threading.Thread(target=self._server.serve_forever, name="accumulate-receiver", daemon=True).start()
        threading.Thread(target=self.gate.watch, args=(self._stop,), name="accumulate-watchdog", daemon=True).start()
        log.info("listening as %s on %s:%d%s", s.ae_title, s.bind, s.port, " (TLS)" if context else "")

    def stop(self) -> None:
        """Stop listening and cut the open connections (an object not yet acknowledged is sent again by its sender)."""
        if self._server is not None:
            self._stop.set()
            self._server.shutdown()
            self.gate.drop_all("the service is stopping")
            self._server = None

    def _label(self, patient_id: str) -> str:
        key = self.storage.patient_key(patient_id)
        return f"{key} (PatientID {printable(patient_id)})" if self.settings.phi_in_logs else key

    @staticmethod
    def _peer(event) -> str:
        requestor = event.assoc.requestor
        return f"AE {printable(requestor.ae_title)!r} at {requestor.address}"

    def _on_open(self, event) -> None:
        route_to(self.spool, event.assoc.dul)  # its data sets are decoded on the association's DUL thread

    def _on_requested(self, event) -> None:
        calling = str(event.assoc.requestor.primitive.calling_ae_title).strip()
        if not self.gate.request(event.assoc.dul.socket.socket, calling):
            log.warning("association from AE %r at %s rejected: all %d association slots are taken (max_associations)",
                        printable(calling), event.assoc.requestor.address, self.settings.limits.max_associations)  # fmt: skip
            event.assoc.acse.send_reject(*LOCAL_LIMIT_EXCEEDED)
            event.assoc.kill()  # as pynetdicom does after its own rejections: waits (acse_timeout at most) for the RJ to go out

    def _on_store(self, event) -> int:
        connection = getattr(event.assoc.dul.socket.socket, "connection", None)
        if connection is not None:
            connection.busy = True  # the sender waits for our answer: not silence
        try:
            return self._store(event)
        finally:
            if connection is not None:
                connection.busy, connection.last_activity = False, time.monotonic()

    def _store(self, event) -> int:
        tally = self._tallies.setdefault(id(event.assoc), _Tally())
        calling = event.assoc.requestor.ae_title
        request = event.request
        path = None
        try:
            if self.settings.allowed_ae_titles and calling not in self.settings.allowed_ae_titles:
                raise Refused(NOT_AUTHORISED, f"{printable(calling)!r} is the health-check title, allowed to C-ECHO only")
            spooled = self.spool.find(event.dataset_path)
            if spooled is None:
                raise Refused(OUT_OF_RESOURCES, "its data set was not written to the spool")
            if spooled.refusal is not None:
                raise Refused(OUT_OF_RESOURCES, f"{spooled.refusal} ({spooled.received} bytes received)")
            path = readable(spooled.keep(), self.spool)
            try:
                header = inspect(path)
            except Malformed as exc:
                raise Refused(CANNOT_UNDERSTAND, f"cannot be decoded: {exc}") from None
            patient_id, series, sop = identity(header, request.AffectedSOPClassUID, request.AffectedSOPInstanceUID)
            self.storage.store(path, patient_id, series, sop, calling)
        except Refused as exc:
            tally.refused += 1
            log.warning("refused an object from %s with status 0x%04X: %s", self._peer(event), exc.status, exc)
            return exc.status
        except (StorageFull, OSError) as exc:
            tally.refused += 1
            log.error("refused an object from %s: out of resources: %s", self._peer(event), exc)
            return OUT_OF_RESOURCES
        finally:
            if path is not None:
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)  # a refused object's spool file (a stored one was moved away)
        tally.stored += 1
        tally.patients.add(self._label(patient_id))
        log.debug("stored %s %s", STORAGE_CLASSES.get(request.AffectedSOPClassUID, "object"), sop)
        return SUCCESS

    def _on_rejected(self, event) -> None:
        log.warning("rejected an association from %s (calling AE title not allowed, or no association slot free)",
                    self._peer(event))  # fmt: skip

    def _on_aborted(self, event) -> None:
        log.warning("association with %s aborted", self._peer(event))

    def _on_close(self, event) -> None:
        if event.assoc.is_acceptor and event.assoc.requestor.primitive is None:
            # closed before an A-ASSOCIATE-RQ: pynetdicom's association thread would wait for one until acse_timeout,
            # counted against maximum_associations (a burst of connect+close locked senders out); let it end now
            event.assoc.dul.to_user_queue.put(None)
        tally = self._tallies.pop(id(event.assoc), None)
        if tally is not None:
            patients = ", ".join(sorted(tally.patients)) or "none"
            log.info("%s: %d objects stored, %d refused; patients %s", self._peer(event), tally.stored, tally.refused, patients)
