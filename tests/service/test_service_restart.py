"""``accumulate serve`` as a separate process, killed with SIGKILL twice in the middle of a case: nothing acknowledged is lost.

First kill: after part of the prior course was acknowledged. Second kill: while the complete case
is being run. After each restart the service carries on from its storage folder; the planning
system resends the whole export (what it does after a failed transfer) and the results arrive.
"""

from __future__ import annotations

import dicom_nodes as nodes
import pydicom

from accumulate.service._storage import Storage

pytestmark = nodes.needs_dcmtk


def _send_some(port, paths):
    """C-STORE ``paths`` one by one; the SOP Instance UIDs acknowledged with success."""
    assoc = nodes.associate(port, [str(pydicom.dcmread(paths[0], stop_before_pixels=True).SOPClassUID)])
    return nodes.sop_uids(*[p for p in paths if assoc.send_c_store(p).Status == 0x0000])  # not released: killed while open


def test_kill_and_restart_in_the_middle_of_a_case(demo, destination, tmp_path):
    port = nodes.free_port()
    config = nodes.write_service_toml(tmp_path, port, destination_port=destination.port)
    storage = Storage(tmp_path / "storage")
    serve = nodes.ServeProcess(config, port, tmp_path / "serve.log")
    try:
        serve.start()
        acknowledged = _send_some(port, sorted(demo.prior.glob("CT*.dcm"))[:6])
        serve.kill()
        assert len(acknowledged) == 6
        assert {p.stem for p in storage.incoming.rglob("*.dcm")} == acknowledged  # on disk before the acknowledgement

        serve.start()
        sent = nodes.storescu(port, demo.prior, demo.reirradiation, demo.reg)
        assert sent.returncode == 0 and "Error" not in sent.stdout, sent.stdout
        nodes.wait_until(lambda: list(storage.processing.glob("*/.attempts")), 60, "the case to start running")
        serve.kill()

        serve.start()
        nodes.wait_until(lambda: len(destination.received()) >= 3, 120, "the results at the destination")
    finally:
        serve.stop()

    (done,) = list(storage.done.iterdir())
    assert nodes.sop_uids(done / "input") == nodes.sop_uids(demo.prior, demo.reirradiation, demo.reg)
    assert (done / ".attempts").read_text() == "2"  # interrupted once, then run to the end
    assert not list(storage.incoming.iterdir()) and not list(storage.failed.iterdir())
    nodes.assert_matches_analytic_eqd2(destination.results()["cumulative"], demo.case, tmp_path)
