"""Where pynetdicom writes each C-STORE data set as it arrives: a size-capped file in the storage folder, never memory.

With pynetdicom's ``_config.STORE_RECV_CHUNKED_DATASET`` a received data set is written, fragment
by fragment, to a temporary file (the C-STORE handler gets its path, ``event.dataset_path``),
so an object is never held whole in memory. pynetdicom creates that file with
``tempfile.NamedTemporaryFile`` in the system's temporary folder and without a limit;
:func:`route_to` has the connections of one receiver use a :class:`Spool` instead: files in
``storage/spool/`` (the same file system as the stored objects, so keeping one is a rename), each
capped at ``max_object_bytes``, all of them together at ``budget_bytes`` (:func:`install` once, then
:func:`route_to` for each connection). Past a cap a file keeps
counting but writes nothing more (the disk it took is freed at once) and the handler answers the
object with Out of Resources.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import uuid
import weakref
from pathlib import Path

from ..errors import BackendUnavailable
from ._sender import require_pynetdicom

_ROUTES: weakref.WeakKeyDictionary[threading.Thread, Spool] = weakref.WeakKeyDictionary()
_INSTALL = threading.Lock()


class SpoolFile:
    """One data set being received: the file-like object pynetdicom writes to (``write``, ``file.flush``, ``name``, ``close``)."""

    def __init__(self, spool: Spool, path: Path) -> None:
        self.spool, self.path, self.name = spool, path, str(path)
        self.file = self  # pynetdicom flushes ``file``, as on a NamedTemporaryFile
        self.received = 0  # bytes pynetdicom handed over, written or not
        self.written = 0  # bytes in the file (reserved in the spool's budget)
        self.refusal: str | None = None  # why the data set is not kept, once a cap was passed or a write failed
        self._handle = open(path, "wb")  # noqa: SIM115 (closed by close(), which pynetdicom calls)

    def write(self, data: bytes) -> int:
        self.received += len(data)
        if self.refusal is None:
            self.refusal = self.spool.reserve(self, len(data))
            if self.refusal is None:
                try:
                    self._handle.write(data)
                    self.written += len(data)
                except OSError as exc:
                    self.spool.unreserve(len(data))
                    self.refusal = f"it could not be written to {self.spool.folder} ({exc.strerror})"
            if self.refusal is not None:  # free the disk now; the rest of the data set is counted, not written
                self._handle.close()
                with contextlib.suppress(OSError):
                    self.path.unlink()
                self.spool.unreserve(self.written)
                self.written = 0
        return len(data)

    def flush(self) -> None:
        if not self._handle.closed:
            self._handle.flush()

    def keep(self) -> Path:
        """Close (everything written); the path, for the receiver to check and move into the storage (which fsyncs it)."""
        self.close()
        return self.path

    def close(self) -> None:
        self._handle.close()
        self.spool.forget(self)


class Spool:
    """The spool folder of one receiver, with its caps (bytes) on one data set and on all the open ones together."""

    def __init__(self, folder: Path, max_object_bytes: int, budget_bytes: int) -> None:
        self.folder, self.max_object_bytes, self.budget_bytes = folder, max_object_bytes, budget_bytes
        self._lock = threading.Lock()
        self._open: dict[str, SpoolFile] = {}
        self._reserved = 0

    def clear(self) -> None:
        """Create the folder, removing what a stop or a crash left in it (data sets never acknowledged)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.folder.iterdir():
            with contextlib.suppress(OSError):
                leftover.unlink()

    def new_path(self, suffix: str = ".dcm") -> Path:
        return self.folder / f"{uuid.uuid4().hex}{suffix}"

    def open(self) -> SpoolFile:
        spooled = SpoolFile(self, self.new_path())
        with self._lock:
            self._open[spooled.name] = spooled
        return spooled

    def find(self, path: str | os.PathLike[str]) -> SpoolFile | None:
        """The spool file pynetdicom reports as ``event.dataset_path``, while it is open."""
        with self._lock:
            return self._open.get(str(path))

    def reserve(self, spooled: SpoolFile, more: int) -> str | None:
        """Reserve ``more`` bytes for ``spooled``, or say which cap they would pass."""
        if spooled.received > self.max_object_bytes:
            return f"it is larger than max_object_mb ({self.max_object_bytes / 2**20:g} MiB)"
        with self._lock:
            if self._reserved + more > self.budget_bytes:
                return f"the objects being received fill the spool ({self.budget_bytes / 2**20:g} MiB); send it again later"
            self._reserved += more
        return None

    def unreserve(self, size: int) -> None:
        with self._lock:
            self._reserved -= size

    def forget(self, spooled: SpoolFile) -> None:
        """``spooled`` is closed: its bytes leave the budget (kept ones are counted by the storage from now on)."""
        with self._lock:
            if self._open.pop(spooled.name, None) is not None:
                self._reserved -= spooled.written

    @property
    def reserved_bytes(self) -> int:
        """Bytes the data sets being received take in the folder now."""
        with self._lock:
            return self._reserved


def _named_temporary_file(*args, **kwargs):
    """pynetdicom's NamedTemporaryFile: a spool file on a routed connection's thread, else the standard one."""
    spool = _ROUTES.get(threading.current_thread())
    return spool.open() if spool is not None else tempfile.NamedTemporaryFile(*args, **kwargs)  # noqa: SIM115


def install() -> None:
    """Have pynetdicom spool received data sets (``STORE_RECV_CHUNKED_DATASET``) into the files of :func:`route_to`.

    :class:`BackendUnavailable` if this pynetdicom creates its spool files some other way.
    """
    require_pynetdicom()
    from pynetdicom import _config, dimse_messages

    with _INSTALL:
        if dimse_messages.NamedTemporaryFile is not _named_temporary_file:
            if getattr(dimse_messages, "NamedTemporaryFile", None) is not tempfile.NamedTemporaryFile:
                raise BackendUnavailable(
                    "this pynetdicom no longer spools received data sets through tempfile.NamedTemporaryFile; "
                    "install a pynetdicom 2.1 to 3.x (pip install 'pynetdicom>=2.1,<4')"
                )
            dimse_messages.NamedTemporaryFile = _named_temporary_file
        _config.STORE_RECV_CHUNKED_DATASET = True


def route_to(spool: Spool, reactor: threading.Thread) -> None:
    """Have the data sets that ``reactor`` (an association's DUL thread, which decodes its P-DATA) receives go to ``spool``."""
    with _INSTALL:
        _ROUTES[reactor] = spool
