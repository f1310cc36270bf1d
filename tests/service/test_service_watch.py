"""``accumulate watch INBOX``: exports run once quiet, then moved to done/ or failed/ with the reason."""

from __future__ import annotations

import json
import shutil
import threading

import pydicom
from dicom_nodes import assert_matches_analytic_eqd2

from accumulate.cli import main
from accumulate.service import _watch
from accumulate.service._settings import Profile
from accumulate.service._watch import Inbox


def _export(demo, folder, *, without=()):
    """The two courses and the REG as one export folder, less the files named in ``without``."""
    for course in (demo.prior, demo.reirradiation):
        shutil.copytree(course, folder / course.name, ignore=shutil.ignore_patterns(*without))
    shutil.copy(demo.reg, folder / "REG.dcm")
    return folder


def test_watch_once_runs_complete_exports_and_fails_incomplete_ones_with_the_reason(demo, tmp_path, capsys):
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    _export(demo, inbox / "case-complete")
    _export(demo, inbox / "case-no-dose", without=("RD.dcm",))
    (inbox / "notes.txt").write_text("a loose file is left alone")
    profile = tmp_path / "profile.toml"
    profile.write_text(
        '[radiobiology]\nalpha_beta_default = 3.0\n[recovery.BODY]\nmodel = "constant"\nrecovered = 0.3\n'
        '[constraints]\n[[constraints.constraint]]\nstructure = "Brianstem"\nmetric = "Dmax"\nlimit = 60.0\n'
    )

    code = main(["watch", str(inbox), "--settings", str(profile), "--outbox", str(outbox), "--quiet", "0", "--once"])
    assert code == 1  # one export failed
    printed = capsys.readouterr().out
    assert "done: case-complete" in printed and "failed: case-no-dose" in printed

    done = inbox / "done" / "case-complete"
    assert (done / "results" / "report.html").is_file() and (done / "export" / "prior" / "RD.dcm").is_file()
    assert sorted(p.name for p in (outbox / "case-complete").iterdir()) == sorted(
        ["cumulative_eqd2.dcm", "remaining_dose.dcm", "field_course1_20210315.dcm"]
    )
    assert_matches_analytic_eqd2(pydicom.dcmread(outbox / "case-complete" / "cumulative_eqd2.dcm"), demo.case, tmp_path)

    # the run completed, but its constraint's structure is absent (a typo): recorded as incomplete, as the run says
    status = json.loads((done / "status.json").read_text())
    assert status["state"] == "incomplete" and status["exit_code"] == 12
    assert any("Brianstem Dmax <= 60: structure absent" in r for r in status["reasons"])

    reason = (inbox / "failed" / "case-no-dose" / "reason.txt").read_text()
    assert "incomplete" in reason and "RTDOSE" in reason
    assert sorted(p.name for p in inbox.iterdir()) == [".processing", "done", "failed", "notes.txt"]
    assert not list((inbox / ".processing").iterdir())


def test_watch_once_leaves_an_export_that_is_still_being_written(demo, tmp_path, capsys):
    inbox = tmp_path / "inbox"
    _export(demo, inbox / "arriving")
    (inbox / "just-created").mkdir()  # nothing in it yet: its own creation time says it is not quiet
    assert main(["watch", str(inbox), "--quiet", "3600", "--once"]) == 0
    printed = capsys.readouterr().out
    assert "left for the next run: arriving" in printed and "just-created" in printed
    assert (inbox / "arriving" / "REG.dcm").is_file() and (inbox / "just-created").is_dir()
    assert not (inbox / "done").exists() and not (inbox / "failed").exists()


def test_watch_goes_on_when_exports_vanish_or_change_under_it(demo, tmp_path, monkeypatch):
    inbox = tmp_path / "inbox"
    for name in ("a-deleted-while-running", "b-renamed-before-claim", "c-files-vanishing", "d-complete", "e-all-gone"):
        _export(demo, inbox / name)
    profile = Profile(tmp_path / "profile.toml", {"warp": {"method": "direct"}})
    watcher = Inbox(inbox, profile, quiet_s=0.0)
    original_link, original_claim = _watch.link_objects, watcher._claim

    def link(source, target):
        if source.parent.name == "a-deleted-while-running":
            shutil.rmtree(source)  # the planning system deletes the claimed export as it is being run
        if source.parent.name == "e-all-gone":
            shutil.rmtree(source.parent)  # the whole claimed folder, .processing/<export>, removed by hand
        if source.parent.name == "c-files-vanishing":
            (source / "prior" / "RD.dcm").unlink()  # a file gone between the listing and the linking
        return original_link(source, target)

    def claim(export):
        if export.name == "b-renamed-before-claim":
            export.rename(inbox / ".b-hidden-now")
        return original_claim(export)

    monkeypatch.setattr(_watch, "link_objects", link)
    monkeypatch.setattr(watcher, "_claim", claim)
    outcomes = watcher.poll()
    assert list(outcomes) == ["a-deleted-while-running", "c-files-vanishing", "d-complete", "e-all-gone"]
    assert "vanished" in outcomes["e-all-gone"] and not (inbox / "failed" / "e-all-gone").exists()
    assert "vanished while it was being run" in outcomes["a-deleted-while-running"]
    assert "RTDOSE" in outcomes["c-files-vanishing"]  # run with what was left, which lacks the prior dose
    assert outcomes["d-complete"] is None and (inbox / "done" / "d-complete" / "results" / "report.html").is_file()
    assert "vanished" in (inbox / "failed" / "a-deleted-while-running" / "reason.txt").read_text()
    assert (inbox / ".b-hidden-now" / "REG.dcm").is_file()  # left alone where it went
    assert not list((inbox / ".processing").iterdir())


def test_watch_keeps_polling_after_an_error(tmp_path, monkeypatch):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    watcher = Inbox(inbox, Profile(tmp_path / "profile.toml", {}), quiet_s=0.0)
    polls, stop = [], threading.Event()

    def poll():
        polls.append(len(polls))
        if len(polls) >= 3:
            stop.set()
        raise RuntimeError("an unforeseen error in one poll")

    monkeypatch.setattr(watcher, "poll", poll)
    watcher.watch(0.01, stop)
    assert polls == [0, 1, 2]
