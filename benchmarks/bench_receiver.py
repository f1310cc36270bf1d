"""The receiver under attack: time to store a case with 200 idle connections open, and its memory; JSON to benchmarks/results/.

Usage: python benchmarks/bench_receiver.py [--repeats 3] [--out FILE]

``accumulate serve`` runs in a process of its own on loopback. Store time: dcmtk's storescu sends
the test-size demo case (both courses, 67 objects) in one association, best of ``--repeats``,
first with no other connection, then while 200 idle TCP connections are held open by a thread
that opens a new one whenever the service drops one (the same address as the sender: the hard
case for per-address caps); the ratio of the two is the figure. Memory: the service's peak
resident memory (VmHWM) after start and a first case, then after receiving a 512 MiB CT, after
refusing a 1 GiB CT over ``max_object_mb = 600`` and after refusing a deflate bomb (1 MB that
inflates to 1 GiB).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "service"))
import dicom_nodes as nodes  # noqa: E402
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian  # noqa: E402

import accumulate  # noqa: E402
from accumulate.phantom import write_demo_case  # noqa: E402

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def _store_case_s(port: int, case, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        sent = nodes.storescu(port, case.prior.folder, case.reirradiation.folder)
        elapsed = time.perf_counter() - start
        if sent.returncode != 0 or "Error" in sent.stdout:
            raise SystemExit(f"storescu failed:\n{sent.stdout[-2000:]}")
        best = min(best, elapsed)
    return best


def _send_raw(port: int, path: Path, syntax) -> int:
    """C-STORE a file's bytes as they are (pynetdicom's chunked send); the status."""
    from pynetdicom import AE, _config

    _config.STORE_SEND_CHUNKED_DATASET = True
    ae = AE("TPS")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 300
    ae.add_requested_context(CT_IMAGE, syntax)
    assoc = ae.associate(nodes.HOST, port, ae_title=nodes.SERVICE_AE)
    try:
        return int(assoc.send_c_store(path).Status)
    finally:
        assoc.release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "receiver_attack.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-receiver-"))
    case = write_demo_case(work / "hn", size="test")
    port = nodes.free_port()
    config = nodes.write_service_toml(work, port, quiet_seconds=3600, max_object_mb=600)
    serve = nodes.ServeProcess(config, port, work / "serve.log")
    serve.start()
    try:
        quiet_s = _store_case_s(port, case, args.repeats)
        attacker = nodes.Attacker(port)
        attacker.start()
        attacker.opened.wait(60)
        try:
            attacked_s = _store_case_s(port, case, args.repeats)
        finally:
            attacker.stop.set()
            attacker.join(30)
        memory = {"after_start_and_a_case_mib": serve.peak_rss_mib()}
        template = sorted(case.prior.folder.glob("CT*.dcm"))[0]
        for key, side, deflate in (("after_512mib_ct_stored", 16384, False), ("after_1gib_ct_refused", 23170, False),
                                   ("after_1gib_deflate_bomb_refused", 23170, True)):  # fmt: skip
            path = nodes.write_large_ct(template, work / "large.dcm", side, deflate=deflate)
            status = _send_raw(port, path, DeflatedExplicitVRLittleEndian if deflate else ExplicitVRLittleEndian)
            path.unlink()
            memory[f"{key}_mib"] = serve.peak_rss_mib()
            memory[f"{key}_status"] = f"0x{status:04X}"
    finally:
        serve.stop()
    cores = len(os.sched_getaffinity(0))
    result = {
        "machine": {
            "description": f"{cores} cores, shared with other work while this ran",
            "platform": platform.platform(),
            "python": platform.python_version(),
            "accumulate": accumulate.__version__,
        },  # fmt: skip
        "case_objects": 67,
        "store_case_s": {
            "no_other_connections": round(quiet_s, 2),
            "with_200_idle_connections": round(attacked_s, 2),
            "ratio": round(attacked_s / quiet_s, 2),
            "attacker_connections_opened": attacker.connects,
        },  # fmt: skip
        "peak_rss": {k: round(v, 1) if isinstance(v, float) else v for k, v in memory.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
