"""The calling side of the service: C-ECHO (the health check) and C-STORE of a case's results."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pydicom

from ..distribution import install_hint
from ..errors import AccumulateError, BackendUnavailable
from ..io.uids import VERIFICATION
from ._settings import Destination

log = logging.getLogger(__name__)

SUCCESS = 0x0000
STORE_WARNINGS = (0xB000, 0xB006, 0xB007)  # coercion of data elements, elements discarded: the object was stored


class DeliveryError(AccumulateError, RuntimeError):
    """The destination node could not be reached or did not store a result object."""


def require_pynetdicom() -> ModuleType:
    """The pynetdicom module, or :class:`BackendUnavailable` saying how to install it."""
    try:
        import pynetdicom
    except ImportError:
        raise BackendUnavailable(
            f"the DICOM service needs pynetdicom, which is not installed: {install_hint('service')}"
        ) from None
    return pynetdicom


def _associate(calling_ae: str, host: str, port: int, called_ae: str, sop_classes: Sequence[str],
               tls: ssl.SSLContext | None, timeout_s: float):  # fmt: skip
    pynetdicom = require_pynetdicom()
    ae = pynetdicom.AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = timeout_s
    for sop_class in sop_classes:
        ae.add_requested_context(sop_class, [pydicom.uid.ExplicitVRLittleEndian, pydicom.uid.ImplicitVRLittleEndian])
    return ae.associate(host, port, ae_title=called_ae, tls_args=(tls, host) if tls is not None else None)


def echo(host: str, port: int, called_ae: str, calling_ae: str, *, tls: ssl.SSLContext | None = None,
         timeout_s: float = 10.0) -> str | None:  # fmt: skip
    """C-ECHO a node: ``None`` when it answered success, else what went wrong (in words)."""
    assoc = _associate(calling_ae, host, port, called_ae, [VERIFICATION], tls, timeout_s)
    if not assoc.is_established:
        return f"no association with {called_ae}@{host}:{port} (refused, rejected or not listening)"
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    code = status.get("Status") if status else None
    return None if code == SUCCESS else f"C-ECHO to {called_ae}@{host}:{port} answered status {code!r}"


def _store_all(assoc, datasets: Sequence[tuple[Path, pydicom.Dataset]], where: str) -> None:
    for path, ds in datasets:
        status = assoc.send_c_store(ds)
        code = status.get("Status") if status else None
        if code != SUCCESS and code not in STORE_WARNINGS:
            raise DeliveryError(f"{where} did not store {path.name}: status {code!r}")


def send_files(paths: Sequence[Path], destination: Destination, calling_ae: str, *,
               tls: ssl.SSLContext | None = None) -> None:  # fmt: skip
    """C-STORE ``paths`` (DICOM files) to ``destination`` in one association (one attempt; the courier retries).

    Each step (connect, associate, each C-STORE) waits at most ``destination.timeout_s``;
    :class:`DeliveryError` if the association fails or an object is not stored.
    """
    datasets = [(path, pydicom.dcmread(path)) for path in paths]
    sop_classes = sorted({str(ds.SOPClassUID) for _, ds in datasets})
    where = destination.where
    assoc = _associate(calling_ae, destination.host, destination.port, destination.ae_title, sop_classes, tls,
                       destination.timeout_s)  # fmt: skip
    if not assoc.is_established:
        raise DeliveryError(f"no association with {where} (refused, rejected, not listening or not answering)")
    try:
        _store_all(assoc, datasets, where)
    except BaseException:
        assoc.abort()  # not a release, which would wait for an answer once more
        raise
    assoc.release()
