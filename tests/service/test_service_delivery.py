"""Delivering results: an outbox the courier works through off the worker's thread, with back-off, restarts and resends.

The courier is stepped by hand (its clock given) where the test is about the schedule; the
destination is a pynetdicom node on loopback, down (nothing listening on its port), back, or
hanging (a listening socket that never answers).
"""

from __future__ import annotations

import shutil
import threading

import pydicom
import pytest
from dicom_nodes import HangingNode, StoreNode, free_port, needs_dcmtk, sop_uids, storescu, wait_until, write_service_toml

from accumulate.cli import main
from accumulate.service._courier import DELIVERED, GIVEN_UP, PENDING, Courier, Outbox
from accumulate.service._settings import Destination, load_service_settings
from accumulate.service._storage import Storage

CASE = "0123456789abcdef-20260101T120000"


def _results(demo, folder):
    """Two result-like objects (the demo doses, under distinct names) standing in for a case's results."""
    folder.mkdir()
    courses = (demo.case.prior, demo.case.reirradiation)
    return [shutil.copyfile(course.dose_path, folder / f"{course.key}.dcm") for course in courses]


def _courier(config):
    settings = load_service_settings(config)
    storage = Storage(settings.storage)
    storage.open()
    return Courier(settings, Outbox(storage.outbox), threading.Event())


def test_results_wait_for_a_destination_that_is_down_across_a_restart_and_can_be_sent_again(demo, tmp_path, capsys):
    port = free_port()  # nothing listens there yet: the destination is down
    delivery = {"retry_seconds": 30, "timeout_seconds": 5}
    config = write_service_toml(tmp_path, free_port(), destination_port=port, delivery=delivery)
    courier = _courier(config)
    entry = courier.outbox.put(CASE, _results(demo, tmp_path / "results"))
    assert courier.step() is True
    failed = courier.outbox.read(entry)
    assert (failed.state, failed.attempts) == (PENDING, 1) and "no association" in failed.error
    assert failed.due - failed.queued >= 30  # retry_seconds
    assert courier.step(now=failed.due - 1) is False  # not due yet: nothing sent

    assert main(["serve", "--config", str(config), "--status"]) == 0
    assert f"results of {CASE}: pending, 1 attempt(s)" in capsys.readouterr().out

    restarted = _courier(config)  # a new service on the same storage carries on from the saved state
    node = StoreNode(tmp_path / "destination", port=port)
    try:
        assert restarted.step(now=failed.due + 1) is True
        assert restarted.outbox.read(entry).state == DELIVERED
        assert {str(ds.SOPInstanceUID) for ds in node.received()} == sop_uids(*courier.outbox.files(entry))

        for path in node.folder.iterdir():  # the planning system lost them: send the case again
            path.unlink()
        assert main(["serve", "--config", str(config), "--resend", CASE]) == 0
        assert "queued again" in capsys.readouterr().out
        assert restarted.step() is True
        assert len(node.received()) == 2 and restarted.outbox.read(entry).state == DELIVERED
    finally:
        node.stop()


def test_a_delivery_is_given_up_after_its_hours_and_a_resend_by_patient_revives_it(demo, tmp_path, capsys):
    port = free_port()
    config = write_service_toml(tmp_path, free_port(), destination_port=port, delivery={"give_up_hours": 1, "timeout_seconds": 5})
    courier = _courier(config)
    entry = courier.outbox.put(CASE, _results(demo, tmp_path / "results"), now=0.0)  # queued long ago
    assert courier.step(now=1.0) is True
    assert courier.outbox.read(entry).state == GIVEN_UP
    assert courier.step() is False  # given up: no more attempts
    assert main(["serve", "--config", str(config), "--status"]) == 0
    assert f"results of {CASE}: given up, 1 attempt(s): DeliveryError" in capsys.readouterr().out
    assert main(["serve", "--config", str(config), "--resend", "0123456789abcdef"]) == 0  # the patient key: its latest case
    node = StoreNode(tmp_path / "destination", port=port)
    try:
        assert courier.step() is True
        assert courier.outbox.read(entry).state == DELIVERED and len(node.received()) == 2
    finally:
        node.stop()
    assert main(["serve", "--config", str(config), "--resend", "no-such-case"]) == 3  # InputError, naming the outbox


def test_retries_back_off_doubling_up_to_their_cap():
    destination = Destination("TPS", "127.0.0.1", 104, retry_s=10.0, max_retry_s=45.0)
    assert [destination.retry_after(n) for n in range(1, 6)] == [10.0, 20.0, 40.0, 45.0, 45.0]


@needs_dcmtk
def test_a_hanging_destination_does_not_hold_up_the_next_case(demo, make_service, tmp_path):
    hanging = HangingNode()
    port = free_port()
    config = write_service_toml(tmp_path, port, destination_port=hanging.port, delivery={"timeout_seconds": 60})
    service = make_service(config)
    entry = Outbox(service.storage.outbox).put(CASE, _results(demo, tmp_path / "results"))
    try:
        wait_until(lambda: hanging.connections() >= 1, 30, "the courier to connect to the hanging destination")

        # meanwhile the worker takes the next case (another patient's doses without plans: it fails at once)
        other = tmp_path / "other"
        for course in (demo.case.prior, demo.case.reirradiation):
            ds = pydicom.dcmread(course.dose_path)
            ds.PatientID, ds.SOPInstanceUID = "OTHER-7", pydicom.uid.generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            (other / course.key).mkdir(parents=True)
            ds.save_as(other / course.key / "RD.dcm", enforce_file_format=True)
        assert storescu(port, other).returncode == 0
        assert main(["serve", "--config", str(config), "--trigger", "OTHER-7"]) == 0
        wait_until(lambda: list(service.storage.failed.iterdir()), 30, "the next case to be run and settled")
        assert service.courier.outbox.read(entry).attempts == 0  # the delivery is still waiting for an answer
    finally:
        hanging.stop()  # the destination goes away: the attempt ends
    failed = wait_until(lambda: service.courier.outbox.read(entry).attempts == 1, 60, "the attempt to be recorded")
    assert failed and service.courier.outbox.read(entry).state == PENDING


@pytest.mark.parametrize("key, message", [("timeout_seconds", r"timeout_seconds must be > 0"),
                                          ("retry_seconds", r"retry_seconds must be > 0")])  # fmt: skip
def test_delivery_settings_are_validated(tmp_path, key, message):
    from accumulate.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_service_settings(write_service_toml(tmp_path, free_port(), destination_port=104, delivery={key: 0}))
