"""Who may hold a connection to the receiver, and for how long: admission, eviction and a progress watchdog.

pynetdicom counts every open TCP connection against ``maximum_associations``, even one that never
sent a byte, so a dozen idle connections used to lock every sender out until they timed out. Here a
:class:`Gate` decides instead:

- **At accept**, a connection is admitted unless its address already holds
  ``max_connections_per_address`` or the receiver ``max_connections``. Then the oldest connection
  that has not yet sent a complete A-ASSOCIATE-RQ (of that address, or of the address holding most
  of them) is dropped to make room; only when every connection is an association in progress is
  the newcomer refused. A sender connects and asks for its association at once, so idle
  connections never keep it out.
- **At A-ASSOCIATE-RQ**, an allowed calling AE title takes one of ``max_associations`` slots, or
  is rejected (transient, local limit exceeded) when all are taken.
- **While connected**, each connection must make progress: its A-ASSOCIATE-RQ complete within
  ``request_timeout_seconds`` of connecting; no silence (no byte either way) longer than
  ``network_timeout_seconds``, except while the receiver itself is handling its request; and each
  PDU it starts complete within ``pdu_timeout_seconds``. A slow sender that keeps sending is thus
  not cut off (a PDU is at most :data:`MAX_PDU_BYTES`: 64 KiB in two minutes is 550 bytes/s),
  a silent one is, after a much shorter time. The socket timeout and pynetdicom's idle timer
  (time between whole PDUs) are set to ``pdu_timeout_seconds``, behind the watchdog.
- **Every PDU header is checked** as it arrives: a P-DATA-TF longer than the maximum we
  advertised, or any other PDU over :data:`MAX_OTHER_PDU_BYTES`, drops the connection before its
  body is read (pynetdicom would buffer a PDU of any announced length in memory). Inside the
  P-DATA-TF PDUs the message fragments are followed too (:class:`_Messages`): pynetdicom writes a
  C-STORE's data set to a spool file but keeps a command set, and any other message's data set,
  in memory however long it grows; past :data:`MAX_COMMAND_BYTES` or
  :data:`MAX_UNSPOOLED_DATA_SET_BYTES` the connection is dropped.

The sockets are :class:`GuardedSocket` (or :class:`GuardedSSLSocket` under TLS, whose handshake
then happens on the connection's own thread with the socket timeout, not in the accept loop).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MAX_PDU_BYTES = 65536  # the P-DATA-TF length we advertise (A-ASSOCIATE maximum length); peers must not exceed it
MAX_OTHER_PDU_BYTES = 1 << 20  # an A-ASSOCIATE-RQ with every presentation context fits in far less
MAX_COMMAND_BYTES = 1 << 16  # a DIMSE command set is a few hundred bytes
MAX_UNSPOOLED_DATA_SET_BYTES = 1 << 16  # pynetdicom keeps any data set but a C-STORE's in memory; none is needed here
P_DATA_TF, A_ASSOCIATE_RQ = 0x04, 0x01
C_STORE_RQ = 0x0001
_PDV_HEADER = struct.Struct(">LBB")  # item length, presentation context ID, message control header
_COMMAND_ELEMENT = struct.Struct("<HHL")  # a command set is Implicit VR Little Endian
WATCH_INTERVAL_S = 0.5
LOG_WINDOW_S = 10.0  # dropped connections: one full log line per kind of reason in this time, then a count
_HEADER = struct.Struct(">BBL")


@dataclass(frozen=True)
class Limits:
    """Caps and deadlines of the receiver's connections (see the module docstring); durations in seconds."""

    max_connections: int = 64
    max_connections_per_address: int = 16
    max_associations: int = 10
    request_timeout_s: float = 10.0
    network_timeout_s: float = 30.0
    pdu_timeout_s: float = 120.0


def _command_field(command: bytes) -> int | None:
    """The CommandField (0000,0100) of an encoded command set, or ``None``."""
    at = 0
    while at + _COMMAND_ELEMENT.size <= len(command):
        group, element, length = _COMMAND_ELEMENT.unpack_from(command, at)
        at += _COMMAND_ELEMENT.size
        if (group, element) == (0x0000, 0x0100) and length == 2 and at + 2 <= len(command):
            return struct.unpack_from("<H", command, at)[0]
        at += length
    return None


@dataclass
class _Messages:
    """The DIMSE message fragments (PDVs) in a connection's P-DATA-TF bodies, and how much of each pynetdicom keeps."""

    _header: bytearray = field(default_factory=bytearray)
    _control: int = 0
    _left: int = 0  # bytes of the current PDV's fragment still to come
    _command: bytearray = field(default_factory=bytearray)
    _spooled: bool = False  # the message being received is a C-STORE-RQ: its data set goes to a spool file
    _data_set_bytes: int = 0

    def received(self, body: memoryview) -> str | None:
        """Follow the PDVs through a piece of a P-DATA-TF body; what is wrong (in words), or ``None``."""
        i = 0
        while i < len(body):
            if not self._left and len(self._header) < _PDV_HEADER.size:
                step = min(_PDV_HEADER.size - len(self._header), len(body) - i)
                self._header += body[i : i + step]
                i += step
                if len(self._header) == _PDV_HEADER.size:
                    length, _, self._control = _PDV_HEADER.unpack(self._header)
                    if length < 2:
                        return f"sent a PDV of length {length} (at least 2)"
                    self._left = length - 2
                    if not self._left:
                        self._fragment_done()
                continue
            step = min(self._left, len(body) - i)
            problem = self._fragment(body[i : i + step])
            if problem:
                return problem
            self._left -= step
            i += step
            if not self._left:
                self._fragment_done()
        return None

    def pdu_done(self) -> str | None:
        """The P-DATA-TF ended: a PDV must not run past it."""
        if self._left or self._header:
            return "sent a PDV that runs past the end of its P-DATA-TF PDU"
        return None

    def _fragment(self, data: memoryview) -> str | None:
        if self._control & 1:  # command information
            self._command += data
            if len(self._command) > MAX_COMMAND_BYTES:
                return f"sent a command set of more than {MAX_COMMAND_BYTES} bytes"
            return None
        self._data_set_bytes += len(data)
        if not self._spooled and self._data_set_bytes > MAX_UNSPOOLED_DATA_SET_BYTES:
            return f"sent a data set of more than {MAX_UNSPOOLED_DATA_SET_BYTES} bytes with a message other than C-STORE"
        return None

    def _fragment_done(self) -> None:
        self._header.clear()
        if not self._control & 2:  # not the last fragment
            return
        if self._control & 1:
            self._spooled = _command_field(bytes(self._command)) == C_STORE_RQ
            self._command.clear()
        self._data_set_bytes = 0


@dataclass(eq=False)
class Connection:
    """One accepted TCP connection: where from, since when, how far it got, and the PDU it is sending."""

    address: str
    sock: socket.socket
    opened: float = field(default_factory=time.monotonic)
    requested: bool = False  # a complete A-ASSOCIATE-RQ arrived: an association in progress, never evicted
    sender: bool = False  # holds one of the max_associations slots
    pdu_started: float | None = None  # when the first byte of the PDU being received arrived
    last_activity: float = field(default_factory=time.monotonic)  # the last byte received or sent
    busy: bool = False  # the receiver is handling a request of this peer (which waits for the answer)
    closed: bool = False
    _header: bytearray = field(default_factory=bytearray)
    _pdu_type: int = 0
    _remaining: int = 0
    _messages: _Messages = field(default_factory=_Messages)

    def received(self, data: bytes) -> str | None:
        """Follow the PDU (and message) boundaries through ``data``; what is wrong with the stream (in words), or ``None``."""
        view, i = memoryview(data), 0
        self.last_activity = time.monotonic()
        while i < len(view):
            if self._remaining:
                step = min(self._remaining, len(view) - i)
                if self._pdu_type == P_DATA_TF:
                    problem = self._messages.received(view[i : i + step])
                    if problem:
                        return problem
                self._remaining -= step
                i += step
                if not self._remaining:
                    problem = self._pdu_done()
                    if problem:
                        return problem
                continue
            if not self._header:
                self.pdu_started = time.monotonic()
            step = min(_HEADER.size - len(self._header), len(view) - i)
            self._header += view[i : i + step]
            i += step
            if len(self._header) == _HEADER.size:
                self._pdu_type, _, self._remaining = _HEADER.unpack(self._header)
                self._header.clear()
                limit = MAX_PDU_BYTES if self._pdu_type == P_DATA_TF else MAX_OTHER_PDU_BYTES
                if self._remaining > limit:
                    return f"announced a PDU of {self._remaining} bytes (type 0x{self._pdu_type:02X}; at most {limit})"
                if not self._remaining:
                    problem = self._pdu_done()
                    if problem:
                        return problem
        return None

    def _pdu_done(self) -> str | None:
        self.pdu_started = None
        if self._pdu_type == A_ASSOCIATE_RQ:
            self.requested = True
        return self._messages.pdu_done() if self._pdu_type == P_DATA_TF else None

    def drop(self) -> bool:
        """Cut the connection now, from any thread (a read blocked on it returns at once and pynetdicom closes it).

        ``False`` if it was cut or closed before.
        """
        was_open, self.closed = not self.closed, True
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        return was_open


class _DropLog:
    """Log lines for dropped connections: the first of each kind in a :data:`LOG_WINDOW_S` in full, then counts.

    An attacker opening connections by the thousand must not flood the journal.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since = time.monotonic()
        self._counts: dict[str, int] = {}

    def note(self, address: str, kind: str, why: str) -> None:
        with self._lock:
            seen = self._counts.get(kind, 0)
            self._counts[kind] = seen + 1
        if not seen:
            log.warning("connection from %s dropped: %s", address, why)

    def flush(self, now: float) -> None:
        """Log how many more were dropped, once a window has passed."""
        with self._lock:
            if now - self._since < LOG_WINDOW_S:
                return
            more = {kind: n - 1 for kind, n in self._counts.items() if n > 1}
            self._counts, self._since = {}, now
        if more:
            counts = ", ".join(f"{n} {kind}" for kind, n in sorted(more.items()))
            log.warning("%d more connections dropped in the last %.0f s: %s", sum(more.values()), LOG_WINDOW_S, counts)


class _Guarded:
    """What the guarded sockets add: every byte received is followed by the connection's :class:`Connection`."""

    connection: Connection | None = None
    gate: Gate | None = None

    def recv(self, *args) -> bytes:
        data = super().recv(*args)
        connection = self.connection
        if data and connection is not None:
            problem = connection.received(data)
            if problem is not None:
                if self.gate is not None:
                    self.gate.drop(connection, "against the protocol or its caps", problem)
                else:
                    connection.drop()
                return b""  # pynetdicom: the connection broke
        return data

    def send(self, *args) -> int:
        if self.connection is not None:
            self.connection.last_activity = time.monotonic()
        return super().send(*args)

    def sendall(self, *args) -> None:
        if self.connection is not None:
            self.connection.last_activity = time.monotonic()
        super().sendall(*args)

    def close(self) -> None:
        if self.gate is not None and self.connection is not None:
            self.gate.closed(self.connection)
        super().close()


class GuardedSocket(_Guarded, socket.socket):
    """A plain TCP connection of the receiver."""


class GuardedSSLSocket(_Guarded, ssl.SSLSocket):
    """A TLS connection of the receiver (``SSLContext.sslsocket_class``)."""


class Gate:
    """Admission and the watchdog of one receiver's connections; thread-safe."""

    def __init__(self, limits: Limits, allowed_ae_titles: tuple[str, ...] = ()) -> None:
        self.limits, self.allowed = limits, allowed_ae_titles
        self._lock = threading.Lock()
        self._open: list[Connection] = []  # oldest first
        self._log = _DropLog()

    def accept(self, listener: socket.socket, tls: ssl.SSLContext | None) -> tuple[socket.socket, tuple]:
        """Accept a connection as a guarded socket, with the PDU timeout; TLS wrapped without a handshake yet."""
        raw, address = listener.accept()
        sock: socket.socket = GuardedSocket(raw.family, raw.type, raw.proto, fileno=raw.detach())
        sock.settimeout(self.limits.pdu_timeout_s)
        if tls is not None:  # its sslsocket_class is GuardedSSLSocket (see Receiver.start)
            sock = tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def admit(self, sock: socket.socket, address: str) -> bool:
        """Admit ``sock`` (dropping an idle connection to make room if need be), or ``False``: close it."""
        limits = self.limits
        with self._lock:
            self._open = [c for c in self._open if not c.closed]
            same = [c for c in self._open if c.address == address]
            victim, full = None, None
            if len(same) >= limits.max_connections_per_address:
                full = f"{address} holds {len(same)} connections (max_connections_per_address)"
                victim = next((c for c in same if not c.requested), None)
            elif len(self._open) >= limits.max_connections:
                full = f"the receiver holds {len(self._open)} connections (max_connections)"
                victim = self._idlest()
            if full is not None and victim is None:
                log.warning("connection from %s refused: %s, every one an association", address, full)
                return False
            if victim is not None:
                self._open.remove(victim)
                idle_s = time.monotonic() - victim.opened
                self.drop(victim, "idle, to make room", f"it sent no association request in {idle_s:.1f} s and {full}")
            connection = Connection(address, sock)
            self._open.append(connection)
        sock.connection, sock.gate = connection, self
        return True

    def _idlest(self) -> Connection | None:
        """The oldest connection without an association request, of the address holding most such connections."""
        idle = [c for c in self._open if not c.requested]
        if not idle:
            return None
        counts: dict[str, int] = {}
        for c in idle:
            counts[c.address] = counts.get(c.address, 0) + 1
        crowded = max(counts, key=counts.get)
        return next(c for c in idle if c.address == crowded)

    def request(self, sock: socket.socket, calling_ae_title: str) -> bool:
        """An A-ASSOCIATE-RQ from ``calling_ae_title`` arrived on ``sock``: ``False`` if every association slot is taken."""
        connection = getattr(sock, "connection", None)
        if connection is None:
            return True
        with self._lock:
            connection.requested = True
            if self.allowed and calling_ae_title not in self.allowed:
                return True  # pynetdicom rejects it: calling AE title not recognised
            if sum(c.sender for c in self._open if not c.closed) >= self.limits.max_associations:
                return False
            connection.sender = True
        return True

    def drop(self, connection: Connection, kind: str, why: str) -> None:
        """Cut ``connection`` and log why (``kind``: the reason's category, for the counts)."""
        if connection.drop():
            self._log.note(connection.address, kind, why)

    def closed(self, connection: Connection) -> None:
        connection.closed = True
        with self._lock:
            if connection in self._open:
                self._open.remove(connection)

    def counts(self) -> tuple[int, int]:
        """(open connections, associations holding a slot)."""
        with self._lock:
            live = [c for c in self._open if not c.closed]
            return len(live), sum(c.sender for c in live)

    def check(self, now: float | None = None) -> None:
        """Drop each connection past a deadline: its association request, its silence, or the PDU it is sending."""
        now = time.monotonic() if now is None else now
        limits = self.limits
        with self._lock:
            connections = list(self._open)
        for c in connections:
            started = c.pdu_started
            if not c.requested and now - c.opened > limits.request_timeout_s:
                why = f"no complete association request within {limits.request_timeout_s:g} s (request_timeout_seconds)"
                self.drop(c, "without an association request in time", why)
            elif not c.busy and now - c.last_activity > limits.network_timeout_s:
                self.drop(c, "silent", f"silent for {now - c.last_activity:.0f} s (network_timeout_seconds)")
            elif started is not None and now - started > limits.pdu_timeout_s:
                self.drop(c, "too slow a PDU", f"a PDU not complete after {now - started:.0f} s (pdu_timeout_seconds)")
            else:
                continue
            self.closed(c)
        self._log.flush(now)

    def watch(self, stop: threading.Event) -> None:
        """Run :meth:`check` every :data:`WATCH_INTERVAL_S` until ``stop`` is set (the watchdog thread)."""
        while not stop.wait(WATCH_INTERVAL_S):
            self.check()

    def drop_all(self, why: str) -> None:
        with self._lock:
            connections, self._open = self._open, []
        for c in connections:
            c.drop()
        if connections:
            log.info("%d connections cut: %s", len(connections), why)
