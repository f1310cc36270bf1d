"""The receiver under attack on loopback: idle and churning connections, stalled and slow peers, association slots.

Every peer here runs on 127.0.0.1, so the attacker and the sender share an address: the harder
case for per-address caps (in a hospital the attacker's address would be capped on its own).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time

import pydicom
import pytest
from dicom_nodes import (
    HOST,
    SERVICE_AE,
    Attacker,
    associate,
    free_port,
    needs_dcmtk,
    sop_uids,
    storescu,
    wait_until,
    write_large_ct,
    write_service_toml,
)

from accumulate.service._guard import MAX_PDU_BYTES, Connection, Gate, GuardedSocket, Limits

VERIFICATION, CT_IMAGE = "1.2.840.10008.1.1", "1.2.840.10008.5.1.4.1.1.2"


def _closed_by_peer(sock: socket.socket, timeout_s: float) -> bool:
    """Whether the other end closes ``sock`` within ``timeout_s`` (reading and discarding what it sends)."""
    sock.settimeout(timeout_s)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except OSError:  # reset
        return True
    return True


@needs_dcmtk
def test_200_idle_connections_and_a_burst_of_connect_close_do_not_keep_a_sender_out(demo, make_service, tmp_path):
    port = free_port()
    service = make_service(write_service_toml(tmp_path, port, quiet_seconds=600))
    attacker = Attacker(port)
    attacker.start()
    try:
        assert attacker.opened.wait(60)
        sent = storescu(port, demo.prior, demo.reirradiation)
        opened_meanwhile = attacker.connects
    finally:
        attacker.stop.set()
        attacker.join(30)
    assert sent.returncode == 0 and "Error" not in sent.stdout, sent.stdout[-2000:]
    assert opened_meanwhile >= 200  # the attack ran throughout (more when the service dropped idle ones)
    stored = {p.stem for p in service.storage.incoming.rglob("*.dcm")}
    assert stored == sop_uids(demo.prior, demo.reirradiation)
    assert service.receiver.gate.counts()[0] <= 16  # max_connections_per_address: the rest were dropped

    for _ in range(200):  # a burst of connect + close
        socket.create_connection((HOST, port), timeout=10).close()
    cts = sorted(demo.prior.glob("CT*.dcm"))[:3]
    again = storescu(port, *cts)
    assert again.returncode == 0 and again.stdout.count("Received Store Response (Success)") == 3, again.stdout[-2000:]


def test_a_peer_must_make_progress_a_slow_sender_may_take_its_time(demo, make_service, tmp_path, service_log):
    port = free_port()
    make_service(write_service_toml(tmp_path, port, quiet_seconds=600, request_timeout_seconds=1, network_timeout_seconds=2,
                              pdu_timeout_seconds=4))  # fmt: skip
    huge = socket.create_connection((HOST, port), timeout=10)
    huge.sendall(struct.pack(">BBL", 0x01, 0, 1 << 30))  # announces a 1 GiB A-ASSOCIATE-RQ
    assert _closed_by_peer(huge, 5)
    silent = socket.create_connection((HOST, port), timeout=10)
    trickle = socket.create_connection((HOST, port), timeout=10)  # an A-ASSOCIATE-RQ, a byte every 0.3 s: never silent
    sent = 0
    with contextlib.suppress(OSError):  # until the service cuts it
        for byte in struct.pack(">BBL", 0x01, 0, 200) + bytes(200):
            trickle.sendall(bytes([byte]))
            sent += 1
            time.sleep(0.3)
    assert sent < 206 and _closed_by_peer(trickle, 5) and _closed_by_peer(silent, 5)

    # associated, then a P-DATA-TF that never completes, a byte every 0.5 s: cut at pdu_timeout_seconds
    stalled = associate(port, [VERIFICATION])
    raw = stalled.dul.socket.socket
    raw.sendall(struct.pack(">BBL", 0x04, 0, 1000) + struct.pack(">LBB", 994, 1, 0))  # a data set fragment, never complete
    deadline = time.monotonic() + 15
    while stalled.is_established and time.monotonic() < deadline:
        try:
            raw.sendall(b"\x00")
        except OSError:
            break
        time.sleep(0.5)
    wait_until(lambda: not stalled.is_established, 15, "the stalled association to end")

    # a slow sender: 32 kB/s, a 128 kB CT over 4 s (longer than the network timeout), never silent for long: stored
    slow_ct = write_large_ct(sorted(demo.prior.glob("CT*.dcm"))[0], tmp_path / "slow.dcm", 256)
    slow = associate(port, [CT_IMAGE])
    send = slow.dul.socket.send

    def throttled(data: bytes) -> None:
        for at in range(0, len(data), 8192):
            send(data[at : at + 8192])
            time.sleep(0.25)

    slow.dul.socket.send = throttled
    try:
        assert slow.send_c_store(slow_ct).Status == 0x0000
    finally:
        slow.release()
    text = "\n".join(service_log)
    assert "announced a PDU of 1073741824 bytes" in text
    assert "no complete association request within 1 s" in text  # the trickling one (pynetdicom's ARTIM timer or this)
    assert "a PDU not complete after" in text


def test_association_slots_are_rejected_with_local_limit_exceeded_and_freed_on_release(make_service, tmp_path):
    from pynetdicom import AE

    port = free_port()
    make_service(write_service_toml(tmp_path, port, max_associations=1))
    first = associate(port, [VERIFICATION])
    ae = AE("TPS")
    ae.add_requested_context(VERIFICATION)
    second = ae.associate(HOST, port, ae_title=SERVICE_AE)
    assert second.is_rejected and second.acceptor.primitive.diagnostic == 0x02  # local limit exceeded
    first.release()
    wait_until(lambda: ae.associate(HOST, port, ae_title=SERVICE_AE).is_established, 10, "the freed slot")


class _Peer:
    """A connected socket pair: the service's end (admitted to a gate) and the peer's."""

    def __init__(self) -> None:
        ours, self.theirs = socket.socketpair()
        self.ours = GuardedSocket(fileno=ours.detach())

    def dropped(self) -> bool:
        return _closed_by_peer(self.theirs, 1)


def test_the_gate_drops_the_oldest_idle_connection_never_an_association_in_progress():
    gate = Gate(Limits(max_connections=4, max_connections_per_address=3, max_associations=2))
    a = [_Peer() for _ in range(3)]
    assert all(gate.admit(p.ours, "10.0.0.1") for p in a)
    gate.request(a[0].ours, "TPS")  # a[0] asked for its association: it stays
    newcomer = _Peer()
    assert gate.admit(newcomer.ours, "10.0.0.1")  # same address, at its cap: the oldest idle one (a[1]) goes
    assert a[1].dropped() and not a[2].dropped() and not a[0].dropped()
    other = [_Peer() for _ in range(2)]
    assert gate.admit(other[0].ours, "10.0.0.2")  # 4 open, the total cap: the crowded address loses its oldest idle one
    assert gate.admit(other[1].ours, "10.0.0.2") and a[2].dropped()
    for peer in (newcomer, *other):
        gate.request(peer.ours, "TPS")
    assert not gate.admit(_Peer().ours, "10.0.0.3")  # every connection is an association in progress: refused
    assert gate.counts() == (4, 2)  # two hold the max_associations slots; the others were turned away
    gate.closed(a[0].ours.connection)
    assert gate.admit(_Peer().ours, "10.0.0.3")


def _pdu(kind: int, body: bytes) -> bytes:
    return struct.pack(">BBL", kind, 0, len(body)) + body


def _pdv(data: bytes, control: int) -> bytes:
    """A presentation data value: ``control`` 1 command / 0 data set, + 2 on the last fragment."""
    return struct.pack(">LBB", len(data) + 2, 1, control) + data


def _command(field: int) -> bytes:
    return struct.pack("<HHLH", 0x0000, 0x0100, 2, field)  # CommandField (0000,0100) US, Implicit VR Little Endian


def _feed(connection: Connection, stream: bytes, chunk: int = 7) -> str | None:
    """Feed ``stream`` in odd chunks (splitting headers and bodies); the first problem, or None."""
    for at in range(0, len(stream), chunk):
        problem = connection.received(stream[at : at + chunk])
        if problem:
            return problem
    return None


def test_the_pdu_and_message_boundaries_are_followed_whatever_the_chunks():
    connection = Connection("10.0.0.1", None)
    request = _pdu(0x01, b"12345")
    assert _feed(connection, request[:-1]) is None and not connection.requested
    assert _feed(connection, request[-1:]) is None and connection.requested
    fragment = bytes(MAX_PDU_BYTES - 6)
    store = _pdu(0x04, _pdv(_command(0x0001), 3)) + b"".join(_pdu(0x04, _pdv(fragment, 0)) for _ in range(16))
    assert _feed(connection, store + _pdu(0x04, _pdv(b"", 2)), chunk=4093) is None  # a 1 MiB C-STORE data set: spooled
    assert connection.pdu_started is None
    assert connection.received(struct.pack(">BBL", 0x04, 0, MAX_PDU_BYTES + 1)) == (
        f"announced a PDU of {MAX_PDU_BYTES + 1} bytes (type 0x04; at most {MAX_PDU_BYTES})"
    )


@pytest.mark.parametrize(
    "stream, problem",
    [
        (_pdu(0x04, _pdv(_command(0x0030), 3)) + b"".join(_pdu(0x04, _pdv(bytes(40_000), 0)) for _ in range(2)),
         "with a message other than C-STORE"),  # a C-ECHO with a data set: pynetdicom would keep it in memory
        (b"".join(_pdu(0x04, _pdv(bytes(40_000), 1)) for _ in range(2)), "a command set of more than"),
        (_pdu(0x04, _pdv(bytes(100), 3)[:-10]), "runs past the end of its P-DATA-TF"),
        (_pdu(0x04, struct.pack(">LBB", 1, 1, 3)), "a PDV of length 1"),
    ],
    ids=["echo-with-data-set", "endless-command", "pdv-past-pdu", "short-pdv"],
)  # fmt: skip
def test_messages_pynetdicom_would_keep_in_memory_are_cut(stream, problem):
    assert problem in (_feed(Connection("10.0.0.1", None), stream) or "")


def test_a_ct_read_back_is_the_one_sent(demo, make_service, tmp_path):
    """The receive path (spool, structure check, move) leaves the stored file byte for byte as pynetdicom received it."""
    port = free_port()
    service = make_service(write_service_toml(tmp_path, port, quiet_seconds=600))
    ct = sorted(demo.prior.glob("CT*.dcm"))[0]
    assoc = associate(port, [CT_IMAGE])
    try:
        assert assoc.send_c_store(ct).Status == 0
    finally:
        assoc.release()
    (stored,) = list(service.storage.incoming.rglob("*.dcm"))
    assert pydicom.dcmread(stored) == pydicom.dcmread(ct)
    assert not list(service.storage.spool.iterdir())
