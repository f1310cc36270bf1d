"""Storage and worker without the network: durable names, crash leftovers, giving up, retention, resuming."""

from __future__ import annotations

import os
import shutil
import threading
import time

import pydicom
import pytest
from dicom_nodes import free_port, write_service_toml

from accumulate.service._settings import load_service_settings
from accumulate.service._storage import INPUT, Storage, object_path, sender
from accumulate.service._worker import Worker

DAY = 86400.0


def _store(storage, path, calling="TPS"):
    """Store a copy of ``path`` as the receiver does: a file in the spool moved into place."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    storage.spool.mkdir(exist_ok=True)
    received = storage.spool / f"{ds.SOPInstanceUID}.dcm"
    shutil.copyfile(path, received)
    return storage.store(received, str(ds.PatientID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID), calling)


@pytest.fixture
def worker(tmp_path):
    settings = load_service_settings(write_service_toml(tmp_path, free_port()))
    storage = Storage(settings.storage, settings.max_storage_bytes)
    storage.open()
    return Worker(settings, storage, threading.Event())


def test_objects_are_named_by_uids_under_a_pseudonymous_patient_key(demo, tmp_path):
    storage = Storage(tmp_path / "storage")
    storage.open()
    ct = sorted(demo.prior.glob("CT*.dcm"))[0]
    path = _store(storage, ct)
    ds = pydicom.dcmread(ct)
    key = storage.patient_key("ACC-DEMO-HN")
    assert path == storage.incoming / key / ds.SeriesInstanceUID / f"{ds.SOPInstanceUID}.dcm"
    assert path.read_bytes() == ct.read_bytes() and "ACC-DEMO-HN" not in key
    assert Storage(tmp_path / "storage").patient_key("ACC-DEMO-HN") == key  # stable across restarts
    assert Storage(tmp_path / "other").patient_key("ACC-DEMO-HN") != key  # but keyed by the storage's secret
    assert storage.key_for("ACC-DEMO-HN") == storage.key_for(key) == key
    assert oct(os.stat(tmp_path / "storage" / "service.key").st_mode & 0o777) == "0o600"
    with pytest.raises(ValueError):
        object_path(storage.incoming, "1.2.3", "../../etc/passwd")


def test_a_restart_removes_half_written_files_and_keeps_the_rest(demo, tmp_path):
    storage = Storage(tmp_path / "storage")
    storage.open()
    stored = _store(storage, sorted(demo.prior.glob("CT*.dcm"))[0])
    leftover = stored.parent / ".x.tmp-0123456789ab.dcm"  # what a kill during a write leaves
    leftover.write_bytes(b"partial")
    Storage(tmp_path / "storage").open()
    assert stored.is_file() and not leftover.exists()


def test_the_last_sender_chooses_the_profile(demo, worker):
    cts = sorted(demo.prior.glob("CT*.dcm"))
    _store(worker.storage, cts[0], calling="TPS")
    _store(worker.storage, cts[1], calling="TPS2")
    (key,) = worker.storage.pending()
    assert sender(worker.storage.incoming / key) == "TPS2"


def test_an_incomplete_case_is_given_up_after_the_quiet_limit_then_expires(demo, worker):
    _store(worker.storage, demo.case.prior.dose_path)
    now = time.time()
    assert worker.step(now + 10) is False  # quiet, but incomplete: it waits
    assert worker.step(now + 25 * 3600) is True  # give_up_hours = 24 by default
    (failed,) = list(worker.storage.failed.iterdir())
    reason = (failed / "reason.txt").read_text()
    assert "incomplete" in reason and "a second course" in reason
    assert {p.name for p in (failed / INPUT).rglob("*.dcm")} == {
        f"{pydicom.dcmread(demo.case.prior.dose_path).SOPInstanceUID}.dcm"
    }
    worker.step(now + 25 * 3600 + 31 * DAY)  # retention_days = 30 by default
    assert not failed.exists()


def test_a_case_that_stopped_the_service_three_times_is_given_up(demo, worker):
    case = worker.storage.processing / "0123456789abcdef-20240101T000000"
    (case / INPUT).mkdir(parents=True)
    (case / ".attempts").write_text("3")
    worker.resume()
    reason = (worker.storage.failed / case.name / "reason.txt").read_text()
    assert "stopped 3 times" in reason


def test_a_folder_being_filled_is_never_given_up_nor_claimed_from_under_a_store(demo, worker):
    # the race two senders on two cores once hit: the worker saw a patient folder that storing had
    # just created (still empty), took it for a case quiet since 1970 and gave it up, moving away
    # the objects stored meanwhile
    key = worker.storage.patient_key("ACC-DEMO-HN")
    (worker.storage.incoming / key).mkdir()
    assert worker.step() is False  # just created, empty: an object is being stored, wait
    assert list(worker.storage.failed.iterdir()) == []

    stored = _store(worker.storage, demo.case.prior.dose_path)
    seen = os.stat(stored).st_mtime - 1.0  # what a decision taken just before that store saw
    assert worker.storage.claim(key, unchanged_since=seen) is None  # something arrived since: not claimed
    assert stored.is_file()
    assert worker.storage.claim(key, unchanged_since=time.time() + 1.0) is not None


@pytest.mark.parametrize("report_days", [None, 90])
def test_reports_are_kept_unless_a_report_retention_is_set(tmp_path, report_days):
    extra = {} if report_days is None else {"report_retention_days": report_days}
    settings = load_service_settings(write_service_toml(tmp_path, free_port(), **extra))
    storage = Storage(settings.storage)
    storage.open()
    old, recent = settings.reports / "case-old", settings.reports / "case-recent"
    for folder in (old, recent):
        folder.mkdir(parents=True)
        (folder / "report.html").write_text("<html></html>")
    now = time.time()
    os.utime(old, (now - 100 * DAY, now - 100 * DAY))
    os.utime(recent, (now - 10 * DAY, now - 10 * DAY))
    Worker(settings, storage, threading.Event()).step(now)
    assert recent.is_dir() and old.is_dir() == (report_days is None)
