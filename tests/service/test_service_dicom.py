"""The DICOM receiver against real clients on loopback: dcmtk's echoscu and storescu, pynetdicom, raw sockets.

The service runs in this process on a free port; a pynetdicom node stands in for the planning
system that receives the results. The two-course demo case goes in with a deformable REG of its
true field, so the cumulative EQD2 that comes back must equal the analytic answer.
"""

from __future__ import annotations

import shutil
import socket
import subprocess

import numpy as np
import pydicom
import pytest
from dicom_nodes import (
    HOST,
    SERVICE_AE,
    assert_matches_analytic_eqd2,
    associate,
    echoscu,
    free_port,
    needs_dcmtk,
    sop_uids,
    storescu,
    storescu_command,
    wait_until,
    write_service_toml,
)
from pydicom.dataset import Dataset, FileMetaDataset

from accumulate.cli import main
from accumulate.errors import ConfigError
from accumulate.service._service import Service
from accumulate.service._settings import load_service_settings

pytestmark = needs_dcmtk
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def _copy_with(path, folder, **attributes):
    """A copy of a DICOM file with new attribute values and a new SOP Instance UID."""
    ds = pydicom.dcmread(path)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    folder.mkdir(parents=True, exist_ok=True)
    ds.save_as(folder / path.name, enforce_file_format=True)
    return folder / path.name


def _stored_files(service):
    return [p for p in service.storage.incoming.rglob("*") if p.is_file() and p.name != ".case.json"]


def test_two_course_case_from_storescu_returns_the_analytic_cumulative_eqd2(
    demo, destination, make_service, tmp_path, service_log
):
    port = free_port()
    config = write_service_toml(tmp_path, port, destination_port=destination.port)
    service = make_service(config)
    assert echoscu(port).returncode == 0

    # another patient's two doses without plans, run at once by a trigger: that case fails, and must not hold up the next
    other = tmp_path / "other"
    for course in (demo.case.prior, demo.case.reirradiation):
        _copy_with(course.dose_path, other / course.key, PatientID="OTHER-7", PatientName="Other^Patient")
    assert "Success" in storescu(port, other).stdout
    assert main(["serve", "--config", str(config), "--trigger", "OTHER-7"]) == 0
    failed = wait_until(lambda: list(service.storage.failed.iterdir()), 30, "the triggered case to fail")
    assert "RTPLAN was not received" in (failed[0] / "reason.txt").read_text()

    sent = storescu(port, demo.prior, demo.reirradiation, demo.reg)
    assert sent.returncode == 0 and "Error" not in sent.stdout, sent.stdout
    wait_until(lambda: len(destination.received()) >= 3, 90, "the three result objects at the destination")

    results = destination.results()
    assert len(destination.received()) == 3
    assert_matches_analytic_eqd2(results["cumulative"], demo.case, tmp_path)
    remaining = results["remaining"].pixel_array * float(results["remaining"].DoseGridScaling)
    # no constraints, no limit anywhere: the cap, the 35 Gy prescription of the re-irradiation (also its dose maximum)
    np.testing.assert_allclose(remaining, demo.case.reirradiation.prescription_gy, rtol=1e-3)
    reg = results["reg"]
    assert reg.DeformableRegistrationSequence[0].SourceFrameOfReferenceUID == demo.case.prior.frame_of_reference_uid
    assert reg.FrameOfReferenceUID == demo.case.reirradiation.frame_of_reference_uid

    # nothing received is lost: every object sent is in the settled case; the report is kept
    (done,) = list(service.storage.done.iterdir())
    assert sop_uids(done / "input") == sop_uids(demo.prior, demo.reirradiation, demo.reg)
    assert (tmp_path / "reports" / done.name / "report.html").is_file()
    assert not list(service.storage.incoming.iterdir()) and not list(service.storage.processing.iterdir())
    # phi_in_logs = false: the log names patients by key only
    text = "\n".join(service_log)
    assert "ACC-DEMO-HN" not in text and "OTHER-7" not in text and "Demo^HeadNeck" not in text
    assert service.storage.patient_key("ACC-DEMO-HN") in text


def test_malformed_objects_get_a_failure_status_and_the_service_keeps_working(demo, make_service, tmp_path, monkeypatch):
    port = free_port()
    service = make_service(write_service_toml(tmp_path, port))
    cts = sorted(demo.prior.glob("CT*.dcm"))
    bad = tmp_path / "bad"
    no_patient = _copy_with(cts[0], bad / "a", PatientID="")
    truncated = pydicom.dcmread(cts[1])
    truncated.PixelData = truncated.PixelData[:100]
    truncated.save_as(bad / "truncated.dcm")
    sent = storescu(port, no_patient, bad / "truncated.dcm", cts[2])
    statuses = [line for line in sent.stdout.splitlines() if "Received Store Response" in line]
    assert [("DataSetDoesNotMatchSOPClass" in s, "Success" in s) for s in statuses] == [
        (True, False),
        (True, False),
        (False, True),
    ]

    # bytes that do not decode (a sequence of garbage), sent raw by pynetdicom: "cannot understand"
    from pynetdicom import _config

    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)  # send the file's bytes as they are
    head = Dataset()
    head.SOPClassUID, head.SOPInstanceUID = CT_IMAGE, pydicom.uid.generate_uid()
    head.file_meta = FileMetaDataset()
    head.file_meta.MediaStorageSOPClassUID, head.file_meta.MediaStorageSOPInstanceUID = CT_IMAGE, head.SOPInstanceUID
    head.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    head.save_as(bad / "garbage.dcm", enforce_file_format=True)
    with open(bad / "garbage.dcm", "ab") as handle:  # then a sequence of undefined length holding junk
        handle.write(b"\x08\x00\x40\x11SQ\x00\x00\xff\xff\xff\xff" + b"junk" * 9)
    assoc = associate(port, [CT_IMAGE])
    try:
        assert 0xC000 <= assoc.send_c_store(bad / "garbage.dcm").Status <= 0xCFFF
    finally:
        assoc.release()

    assert echoscu(port).returncode == 0
    assert {p.stem for p in _stored_files(service)} == {str(pydicom.dcmread(cts[2]).SOPInstanceUID)}


def test_disallowed_calling_ae_titles_are_rejected(demo, make_service, tmp_path):
    port = free_port()
    config = write_service_toml(tmp_path, port)
    service = make_service(config)
    refused = echoscu(port, calling="INTRUDER")
    assert refused.returncode != 0 and "Calling AE Title Not Recognized" in refused.stdout
    assert storescu(port, demo.prior, calling="INTRUDER").returncode != 0
    # the service's own title is the health check's: it may C-ECHO but not store
    assert main(["serve", "--config", str(config), "--check"]) == 0
    assoc = associate(port, [CT_IMAGE], calling=SERVICE_AE)
    try:
        assert assoc.send_c_store(sorted(demo.prior.glob("CT*.dcm"))[0]).Status == 0x0124
    finally:
        assoc.release()
    assert _stored_files(service) == []


def test_health_check_follows_the_service_and_a_taken_port_is_a_config_error(make_service, tmp_path):
    port = free_port()
    config = write_service_toml(tmp_path, port)
    service = make_service(config)
    assert main(["serve", "--config", str(config), "--check"]) == 0
    with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
        Service(load_service_settings(config)).start()
    service.stop()
    assert main(["serve", "--config", str(config), "--check"]) == 1


def test_a_sender_that_disconnects_mid_association_leaves_what_was_acknowledged(demo, make_service, tmp_path):
    port = free_port()
    service = make_service(write_service_toml(tmp_path, port, quiet_seconds=600))
    cts = sorted(demo.prior.glob("CT*.dcm"))[:3]
    assoc = associate(port, [CT_IMAGE])
    assert [assoc.send_c_store(path).Status for path in cts] == [0, 0, 0]
    assoc.abort()
    with socket.create_connection((HOST, port), timeout=10) as raw:  # half an A-ASSOCIATE-RQ, then gone
        raw.sendall(b"\x01\x00\x00\x00\x01\x00\x00\x01")
    with socket.create_connection((HOST, port), timeout=10) as raw:  # not DICOM at all
        raw.sendall(b"GET / HTTP/1.0\r\n\r\n")

    assert echoscu(port).returncode == 0
    stored = {p.stem: p for p in _stored_files(service)}
    assert set(stored) == sop_uids(*cts)
    for path in cts:  # complete and identical to what was sent
        sent = pydicom.dcmread(path)
        np.testing.assert_array_equal(pydicom.dcmread(stored[str(sent.SOPInstanceUID)]).pixel_array, sent.pixel_array)


def test_two_senders_at_once_lose_nothing(demo, make_service, tmp_path, capsys):
    port = free_port()
    config = write_service_toml(tmp_path, port, quiet_seconds=600)
    service = make_service(config)
    senders = [
        subprocess.Popen(storescu_command(port, folder, calling=aet), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for aet, folder in (("TPS", demo.prior), ("TPS2", demo.reirradiation))
    ]
    outputs = [sender.communicate(timeout=120)[0] for sender in senders]
    assert [sender.returncode for sender in senders] == [0, 0]
    assert all("Error" not in output for output in outputs)
    assert {p.stem for p in _stored_files(service)} == sop_uids(demo.prior, demo.reirradiation)
    assert main(["serve", "--config", str(config), "--status"]) == 0
    status = capsys.readouterr().out
    assert f"{service.storage.patient_key('ACC-DEMO-HN')}  2 course(s) with a dose" in status and ": ready" in status


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_attribute_text_never_leaves_the_storage_folder(demo, make_service, tmp_path):
    port = free_port()
    service = make_service(write_service_toml(tmp_path, port, quiet_seconds=600))
    ct = sorted(demo.prior.glob("CT*.dcm"))[0]
    hostile = [
        _copy_with(ct, tmp_path / "p1", PatientID="../../../escaped"),
        _copy_with(ct, tmp_path / "p2", PatientID="/tmp/absolute", SeriesInstanceUID="1.2.3"),
    ]
    bad_uid = pydicom.dcmread(ct)
    bad_uid.SOPInstanceUID = bad_uid.file_meta.MediaStorageSOPInstanceUID = "../../x"
    bad_uid.save_as(tmp_path / "baduid.dcm")
    before = {p for p in tmp_path.rglob("*")}
    assoc = associate(port, [CT_IMAGE])
    try:
        assert [assoc.send_c_store(p).Status for p in hostile] == [0, 0]
        assert assoc.send_c_store(tmp_path / "baduid.dcm").Status == 0xA900
    finally:
        assoc.release()
    created = {p for p in tmp_path.rglob("*")} - before
    assert created and all(p.is_relative_to(service.storage.root) for p in created)
    keys = {p.relative_to(service.storage.incoming).parts[0] for p in _stored_files(service)}
    assert keys == {service.storage.patient_key("../../../escaped"), service.storage.patient_key("/tmp/absolute")}


def test_storage_over_its_limit_refuses_with_out_of_resources(demo, make_service, tmp_path):
    port = free_port()
    service = make_service(write_service_toml(tmp_path, port, max_storage_gb=0.000001))  # 1 kB
    sent = storescu(port, sorted(demo.prior.glob("CT*.dcm"))[0])
    assert "OutOfResources" in sent.stdout or "Out of Resources" in sent.stdout, sent.stdout
    assert _stored_files(service) == []
    assert echoscu(port).returncode == 0


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_with_a_self_signed_certificate(demo, make_service, tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                    "-subj", "/CN=accumulate-test", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    port = free_port()
    config = write_service_toml(tmp_path, port, tables='[service.tls]\ncert = "cert.pem"\nkey = "key.pem"')
    make_service(config)
    silent = socket.create_connection((HOST, port), timeout=10)  # no TLS handshake, ever: must not stall the listener
    assert main(["serve", "--config", str(config), "--check"]) == 0  # the health check speaks TLS
    silent.close()
    assert echoscu(port).returncode != 0  # plain TCP is not answered
    over_tls = echoscu(port, "+tls", str(key), str(cert), "+cf", str(cert))
    if "unknown option" in over_tls.stdout.lower() or "not compiled" in over_tls.stdout.lower():
        pytest.skip("this dcmtk has no TLS support")
    assert over_tls.returncode == 0, over_tls.stdout
