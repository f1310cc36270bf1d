"""What the receiver does with an object: size limits, deflate bombs, bounded memory, the structure check, log fields.

The memory figures come from a service in a process of its own (its peak resident memory, VmHWM,
from /proc): receiving a 256 MiB CT, refusing a 512 MiB one over ``max_object_mb`` and a deflate
bomb that inflates to 1 GiB must each leave the peak within :data:`RSS_BOUND_MIB` of what the
service held before (it never holds a data set whole: received data goes to a spool file, the
check reads element headers only, inflation is by 1 MiB chunks).
"""

from __future__ import annotations

import copy
import logging
import struct

import numpy as np
import pydicom
import pytest
from dicom_nodes import (
    HOST,
    SERVICE_AE,
    ServeProcess,
    associate,
    free_port,
    needs_dcmtk,
    wait_until,
    write_large_ct,
    write_service_toml,
)
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from accumulate.service._inspect import MAX_DEPTH, Malformed, inspect
from accumulate.service._logtext import OneLineFilter, printable

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
RSS_BOUND_MIB = 64  # the most the service's peak memory may grow while receiving any one object
MiB = 2**20


def _send(port, path, syntax=ExplicitVRLittleEndian, calling="TPS"):
    """C-STORE the file's bytes as they are (pynetdicom's chunked send: the client does not decode them either)."""
    from pynetdicom import AE, _config

    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        ae = AE(calling)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 120
        ae.add_requested_context(CT_IMAGE, syntax)
        assoc = ae.associate(HOST, port, ae_title=SERVICE_AE)
        assert assoc.is_established
        try:
            return assoc.send_c_store(path).Status
        finally:
            assoc.release()
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = False


@pytest.mark.slow
@needs_dcmtk
def test_large_and_oversize_objects_and_a_deflate_bomb_keep_the_memory_bounded(demo, tmp_path):
    port = free_port()
    serve = ServeProcess(write_service_toml(tmp_path, port, quiet_seconds=600, max_object_mb=300), port, tmp_path / "log")
    template = sorted(demo.prior.glob("CT*.dcm"))[0]
    storage = tmp_path / "storage"
    try:
        serve.start()
        assert _send(port, template) == 0x0000  # the service has received something: its baseline
        before = serve.peak_rss_mib()
        large = write_large_ct(template, tmp_path / "large.dcm", 11585)  # 256 MiB of pixels
        assert _send(port, large) == 0x0000
        large.unlink()
        oversize = write_large_ct(template, tmp_path / "oversize.dcm", 16384)  # 512 MiB > max_object_mb = 300
        assert _send(port, oversize) == 0xA700
        oversize.unlink()
        bomb = write_large_ct(template, tmp_path / "bomb.dcm", 23170, deflate=True)  # 1 GiB of pixels in 1 MB
        assert bomb.stat().st_size < 2 * MiB
        assert _send(port, bomb, DeflatedExplicitVRLittleEndian) == 0xA700
        growth = serve.peak_rss_mib() - before
    finally:
        serve.stop()
    assert growth < RSS_BOUND_MIB, f"peak memory grew by {growth:.0f} MiB"
    stored = sorted((p.stat().st_size for p in (storage / "incoming").rglob("*.dcm")), reverse=True)
    assert len(stored) == 2 and stored[0] > 11585**2 * 2  # the large CT whole (its pixels and header); no refused one
    assert not list((storage / "spool").iterdir())
    log = (tmp_path / "log").read_text()
    assert "larger than max_object_mb (300 MiB)" in log and "inflates to more than" in log


@pytest.mark.parametrize("quota_gb, stored", [(1e-6 * 6, False), (1.0, True)], ids=["over-quota-inflated", "fits"])
def test_a_deflated_object_is_stored_inflated_and_counted_inflated(demo, make_service, tmp_path, quota_gb, stored):
    ct = sorted(demo.prior.glob("CT*.dcm"))[0]
    deflated = pydicom.dcmread(ct)
    deflated.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    deflated.save_as(tmp_path / "deflated.dcm", enforce_file_format=True)
    inflated_bytes = ct.stat().st_size
    assert (tmp_path / "deflated.dcm").stat().st_size < 6000 < inflated_bytes  # fits the quota deflated, not inflated
    port = free_port()
    service = make_service(write_service_toml(tmp_path, port, max_storage_gb=quota_gb, quiet_seconds=600))
    assert _send(port, tmp_path / "deflated.dcm", DeflatedExplicitVRLittleEndian) == (0x0000 if stored else 0xA700)
    files = list(service.storage.incoming.rglob("*.dcm"))
    assert len(files) == int(stored)
    if stored:
        back = pydicom.dcmread(files[0])
        assert back.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        np.testing.assert_array_equal(back.pixel_array, pydicom.dcmread(ct).pixel_array)


def _element(tag: int, vr: bytes, value: bytes = b"", length: int | None = None) -> bytes:
    """An Explicit VR Little Endian element (``length`` overrides the true one)."""
    length = len(value) if length is None else length
    group, element = tag >> 16, tag & 0xFFFF
    if vr in (b"SQ", b"OB", b"OW", b"UN", b"UT"):
        return struct.pack("<HH2sHL", group, element, vr, 0, length) + value
    return struct.pack("<HH2sH", group, element, vr, length) + value


def _item(content: bytes, length: int | None = None) -> bytes:
    return struct.pack("<HHL", 0xFFFE, 0xE000, len(content) if length is None else length) + content


ITEM_END, SEQ_END = struct.pack("<HHL", 0xFFFE, 0xE00D, 0), struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
SEQ = 0x00081140  # ReferencedImageSequence


def _nested(depth: int) -> bytes:
    body = _element(0x00080100, b"SH", b"AB")
    for _ in range(depth):
        body = _element(SEQ, b"SQ", _item(body))
    return body


BROKEN = {
    "value past the end": _element(0x00100010, b"PN", b"Doe", length=4000),
    "unknown VR": _element(0x00100010, b"QQ", b"Doe^"),
    "item outside a sequence": _item(b""),
    "undelimited sequence": _element(SEQ, b"SQ", _item(b"", length=0xFFFFFFFF), length=0xFFFFFFFF),
    "item longer than its sequence": _element(SEQ, b"SQ", _item(_element(0x00080100, b"SH", b"AB"), length=40), length=18),
    "undefined length not a sequence": _element(0x7FE00010, b"OB", b"\x00" * 8, length=0xFFFFFFFF),
    "too deep": _nested(MAX_DEPTH + 1),
}


def _write(tmp_path, data_set: bytes):
    ds = pydicom.Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = CT_IMAGE, "1.2.3"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = tmp_path / "object.dcm"
    with open(path, "wb") as handle:
        handle.write(b"\x00" * 128 + b"DICM")
        pydicom.filewriter.write_file_meta_info(handle, ds.file_meta)
        handle.write(data_set)
    return path


@pytest.mark.parametrize("name", BROKEN)
def test_a_broken_structure_is_malformed(tmp_path, name):
    with pytest.raises(Malformed):
        padding = _element(0xFFFCFFFC, b"OB", bytes(40))  # room after the broken part: the check must not read past it
        inspect(_write(tmp_path, _element(0x00080016, b"UI", CT_IMAGE.encode()) + BROKEN[name] + padding))


def test_the_structure_check_reads_nested_and_undelimited_sequences_and_the_identifiers(tmp_path):
    undelimited = _element(SEQ, b"SQ", _item(_element(0x00080100, b"SH", b"AB") + ITEM_END, 0xFFFFFFFF) + SEQ_END, 0xFFFFFFFF)
    path = _write(tmp_path, _element(0x00080016, b"UI", CT_IMAGE.encode()) + undelimited + _nested(MAX_DEPTH)
                  + _element(0x00100020, b"LO", b"ID-7") + _element(0x7FE00010, b"OW", b"\x00" * 64))  # fmt: skip
    header = inspect(path)
    assert header.dataset.SOPClassUID == CT_IMAGE and header.dataset.PatientID == "ID-7" and header.pixel_bytes == 64


def test_every_demo_object_passes_the_structure_check_in_either_vr_encoding(demo, tmp_path):
    for path in sorted(demo.prior.rglob("*.dcm")) + [demo.reg]:
        ds = pydicom.dcmread(path)
        header = inspect(path)
        assert header.dataset.SOPInstanceUID == ds.SOPInstanceUID
        implicit = copy.deepcopy(ds)
        implicit.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        implicit.save_as(tmp_path / "implicit.dcm", enforce_file_format=True, implicit_vr=True)
        assert inspect(tmp_path / "implicit.dcm").dataset.PatientID == ds.PatientID


FORGED = "ACC-1\n2026-01-01 00:00:00,000 INFO case forged: done in 1.0 s, all constraints met\x1b[2J"


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom: the PatientID is no valid LO
def test_a_patient_id_cannot_forge_log_lines(demo, make_service, tmp_path, service_log):
    port = free_port()
    make_service(write_service_toml(tmp_path, port, quiet_seconds=600, phi_in_logs=True))
    ct = pydicom.dcmread(sorted(demo.prior.glob("CT*.dcm"))[0])
    ct.PatientID = FORGED
    ct.SOPInstanceUID = ct.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ct.save_as(tmp_path / "forged.dcm", enforce_file_format=True)
    assoc = associate(port, [CT_IMAGE])
    try:
        assert assoc.send_c_store(tmp_path / "forged.dcm").Status == 0x0000
    finally:
        assoc.release()
    closing = wait_until(lambda: [line for line in service_log if "objects stored" in line], 10, "the connection's log line")
    assert "\n" not in closing[0] and "\x1b" not in closing[0]
    assert "PatientID ACC-1\\n2026-01-01 00:00:00,000 INFO case forged" in closing[0]
    assert all("\n" not in line for line in service_log)


def test_the_console_handler_writes_one_line_per_record(tmp_path):
    stream = tmp_path / "log.txt"
    handler = logging.FileHandler(stream)
    handler.addFilter(OneLineFilter())
    logger = logging.getLogger("accumulate.service.test-one-line")
    logger.addHandler(handler)
    try:
        logger.warning("export %s: started", "name\nwith\u2028separators\u202e")
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert stream.read_text() == "export name\\nwith\\u2028separators\\u202e: started\n"
    assert printable("x" * 300).endswith("... (300 characters)")
