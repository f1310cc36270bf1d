"""The listening side: a DICOM Storage SCP that answers C-ECHO and stores RT objects before acknowledging them.

Accepted: CT Image, RT Dose, RT Structure Set, RT (Ion) Plan, Spatial and Deformable Spatial
Registration, in the uncompressed transfer syntaxes. Each object is decoded completely (a
malformed one is refused, never stored), checked for valid SOP Instance and Series UIDs and a
PatientID, written durably, and only then answered with success. Failure statuses:
``0xC000`` cannot be decoded, ``0xA900`` identifiers missing or invalid or pixel data truncated, ``0xA700`` storage full
or not writable, ``0x0124`` the health-check AE title (allowed to C-ECHO only) tried to store.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field

import pydicom
from pydicom.dataset import Dataset

from ..errors import ConfigError
from ..io._dicom import CT_IMAGE, DEFORMABLE_REG, RT_DOSE, RT_ION_PLAN, RT_PLAN, RT_STRUCT, SPATIAL_REG
from ._sender import SUCCESS, VERIFICATION, require_pynetdicom
from ._settings import ServiceSettings
from ._storage import Storage, StorageFull, is_uid

log = logging.getLogger(__name__)

STORAGE_CLASSES = {CT_IMAGE: "CT", RT_DOSE: "RTDOSE", RT_STRUCT: "RTSTRUCT", RT_PLAN: "RTPLAN", RT_ION_PLAN: "RTIONPLAN",
                   SPATIAL_REG: "REG", DEFORMABLE_REG: "REG"}  # fmt: skip
NOT_AUTHORISED, OUT_OF_RESOURCES, NOT_MATCHING, CANNOT_UNDERSTAND = 0x0124, 0xA700, 0xA900, 0xC000


class Refused(Exception):
    """An object answered with a failure ``status``; the message never quotes attribute values."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def decode(encoded: bytes) -> Dataset:
    """Decode every element of a DICOM file's bytes; :class:`Refused` (0xC000) if any cannot be."""
    try:
        ds = pydicom.dcmread(io.BytesIO(encoded))
        for _ in ds.iterall():  # pydicom defers parsing: touch every element, sequences included
            pass
    except Exception as exc:  # pydicom raises many types on garbage
        raise Refused(CANNOT_UNDERSTAND, f"cannot be decoded ({type(exc).__name__})") from None
    return ds


def identity(ds: Dataset, sop_class: str, sop_instance: str) -> tuple[str, str, str]:
    """(PatientID, SeriesInstanceUID, SOPInstanceUID) checked against the C-STORE request; else :class:`Refused` (0xA900)."""
    if str(ds.get("SOPClassUID", "")) != sop_class:
        raise Refused(NOT_MATCHING, "its SOPClassUID differs from the C-STORE request's")
    sop, series = str(ds.get("SOPInstanceUID", "")), str(ds.get("SeriesInstanceUID", ""))
    if not is_uid(sop) or sop != sop_instance:
        raise Refused(NOT_MATCHING, "its SOPInstanceUID is missing, not a valid UID or differs from the request's")
    if not is_uid(series):
        raise Refused(NOT_MATCHING, "its SeriesInstanceUID is missing or not a valid UID")
    patient_id = str(ds.get("PatientID", "") or "").strip()
    if not patient_id:
        raise Refused(NOT_MATCHING, "it has no PatientID, so it cannot be grouped with a patient's other objects")
    if "PixelData" in ds and len(ds.PixelData) < _pixel_bytes(ds):
        raise Refused(NOT_MATCHING, f"its pixel data is truncated ({len(ds.PixelData)} bytes, {_pixel_bytes(ds)} needed)")
    return patient_id, series, sop


def _pixel_bytes(ds: Dataset) -> int:
    """Bytes the image pixel module calls for (uncompressed)."""
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    return int(ds.get("Rows", 0)) * int(ds.get("Columns", 0)) * frames * samples * int(ds.get("BitsAllocated", 8)) // 8


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
        self._server = None
        self._tallies: dict[int, _Tally] = {}

    def start(self) -> None:
        """Listen on the configured address (in background threads, one per association)."""
        pynetdicom = require_pynetdicom()
        evt, s = pynetdicom.evt, self.settings
        ae = pynetdicom.AE(ae_title=s.ae_title)
        ae.maximum_associations = s.max_associations
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = s.network_timeout_seconds
        if s.allowed_ae_titles:
            ae.require_calling_aet = [*s.allowed_ae_titles, s.ae_title]  # our own title: the health check's C-ECHO
        for sop_class in (VERIFICATION, *STORAGE_CLASSES):
            ae.add_supported_context(sop_class)
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_REJECTED, self._on_rejected),
                    (evt.EVT_ABORTED, self._on_aborted), (evt.EVT_CONN_CLOSE, self._on_close)]  # fmt: skip
        context = s.tls.server_context() if s.tls is not None else None
        try:
            self._server = ae.start_server((s.bind, s.port), block=False, ssl_context=context, evt_handlers=handlers)
        except OSError as exc:
            raise ConfigError(
                f"{s.source}: [service] cannot listen on {s.bind}:{s.port} ({exc}); another program may use the port, "
                "or a port below 1024 needs privileges"
            ) from None
        log.info("listening as %s on %s:%d%s", s.ae_title, s.bind, s.port, " (TLS)" if context else "")

    def stop(self) -> None:
        """Stop listening and close the open associations."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def _label(self, patient_id: str) -> str:
        key = self.storage.patient_key(patient_id)
        return f"{key} (PatientID {patient_id})" if self.settings.phi_in_logs else key

    @staticmethod
    def _peer(event) -> str:
        requestor = event.assoc.requestor
        return f"AE {requestor.ae_title!r} at {requestor.address}"

    def _on_store(self, event) -> int:
        tally = self._tallies.setdefault(id(event.assoc), _Tally())
        calling = event.assoc.requestor.ae_title
        try:
            if self.settings.allowed_ae_titles and calling not in self.settings.allowed_ae_titles:
                raise Refused(NOT_AUTHORISED, f"{calling!r} is the health-check title, allowed to C-ECHO only")
            request = event.request
            encoded = event.encoded_dataset(include_meta=True)
            patient_id, series, sop = identity(decode(encoded), request.AffectedSOPClassUID, request.AffectedSOPInstanceUID)
            self.storage.store(encoded, patient_id, series, sop, calling)
        except Refused as exc:
            tally.refused += 1
            log.warning("refused an object from %s with status 0x%04X: %s", self._peer(event), exc.status, exc)
            return exc.status
        except (StorageFull, OSError) as exc:
            tally.refused += 1
            log.error("refused an object from %s: out of resources: %s", self._peer(event), exc)
            return OUT_OF_RESOURCES
        tally.stored += 1
        tally.patients.add(self._label(patient_id))
        log.debug("stored %s %s", STORAGE_CLASSES.get(request.AffectedSOPClassUID, "object"), sop)
        return SUCCESS

    def _on_rejected(self, event) -> None:
        log.warning(
            "rejected an association from %s (calling AE title not allowed, or max_associations reached)", self._peer(event)
        )

    def _on_aborted(self, event) -> None:
        log.warning("association with %s aborted", self._peer(event))

    def _on_close(self, event) -> None:
        tally = self._tallies.pop(id(event.assoc), None)
        if tally is not None:
            patients = ", ".join(sorted(tally.patients)) or "none"
            log.info("%s: %d objects stored, %d refused; patients %s", self._peer(event), tally.stored, tally.refused, patients)
