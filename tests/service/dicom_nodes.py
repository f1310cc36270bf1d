"""Test helpers for the DICOM service: free loopback ports, dcmtk clients, a destination node, SERVICE.toml files.

Everything listens on or connects to 127.0.0.1 only, and every wait is bounded.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest

from accumulate import read_dose, read_structures
from accumulate.io.uids import DEFORMABLE_REG

HOST = "127.0.0.1"
SERVICE_AE, SENDER_AE, DESTINATION_AE = "ACCUMULATE", "TPS", "DESTINATION"
CLIENT_TIMEOUT_S = 120

needs_dcmtk = pytest.mark.skipif(
    not (shutil.which("storescu") and shutil.which("echoscu")), reason="needs dcmtk (storescu, echoscu)"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def wait_until(condition, timeout_s: float, what: str, interval_s: float = 0.05):
    """Poll ``condition()`` until it returns something truthy (returned), or fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _client(command: list[str]) -> subprocess.CompletedProcess:
    """Run a dcmtk client; its log (stderr) is in ``stdout``."""
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=CLIENT_TIMEOUT_S)


def echoscu(port: int, *options: str, calling: str = SENDER_AE) -> subprocess.CompletedProcess:
    return _client(["echoscu", "-aet", calling, "-aec", SERVICE_AE, *options, HOST, str(port)])


def storescu_command(port: int, *paths: Path, calling: str = SENDER_AE) -> list[str]:
    """dcmtk's storescu sending files and folders (scanned recursively), proposing only the SOP classes found."""
    return ["storescu", "-aet", calling, "-aec", SERVICE_AE, "-v", "+sd", "+r", "-R", "-nh", HOST, str(port), *map(str, paths)]


def storescu(port: int, *paths: Path, calling: str = SENDER_AE) -> subprocess.CompletedProcess:
    return _client(storescu_command(port, *paths, calling=calling))


def associate(port: int, sop_classes, calling: str = SENDER_AE):
    """A pynetdicom association with the service (Explicit VR Little Endian for each SOP class)."""
    from pynetdicom import AE

    ae = AE(calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    for sop_class in sop_classes:
        ae.add_requested_context(sop_class, pydicom.uid.ExplicitVRLittleEndian)
    assoc = ae.associate(HOST, port, ae_title=SERVICE_AE)
    assert assoc.is_established
    return assoc


def sop_uids(*paths: Path) -> set[str]:
    """SOP Instance UIDs of the DICOM files under ``paths`` (files or folders)."""
    files = [f for p in paths for f in ([p] if p.is_file() else p.rglob("*.dcm"))]
    return {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files if not f.name.startswith(".")}


class StoreNode:
    """A pynetdicom Storage SCP standing in for the planning system: writes what it receives into ``folder``."""

    def __init__(self, folder: Path, ae_title: str = DESTINATION_AE, port: int | None = None) -> None:
        from pynetdicom import AE, AllStoragePresentationContexts, evt

        self.folder, self.port = folder, port or free_port()
        folder.mkdir(parents=True, exist_ok=True)
        ae = AE(ae_title)
        ae.supported_contexts = AllStoragePresentationContexts
        self._server = ae.start_server((HOST, self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._on_store)])

    def _on_store(self, event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        ds.save_as(self.folder / f"{ds.SOPInstanceUID}.tmp", enforce_file_format=True)
        os.replace(self.folder / f"{ds.SOPInstanceUID}.tmp", self.folder / f"{ds.SOPInstanceUID}.dcm")  # readers see whole files
        return 0x0000

    def received(self) -> list[pydicom.Dataset]:
        return [pydicom.dcmread(p) for p in sorted(self.folder.glob("*.dcm"))]

    def results(self) -> dict[str, pydicom.Dataset]:
        """What a case sent back, by kind: ``cumulative`` and ``remaining`` RTDOSE, ``reg`` (deformable REG)."""
        kinds = {"cumulative EQD2": "cumulative", "max added dose": "remaining"}
        found = {}
        for ds in self.received():
            if ds.SOPClassUID == DEFORMABLE_REG:
                found["reg"] = ds
            for start, kind in kinds.items():
                if str(ds.get("SeriesDescription", "")).startswith(start):
                    found[kind] = ds
        return found

    def stop(self) -> None:
        self._server.shutdown()


class HangingNode:
    """A destination that accepts TCP connections and then never answers (the kernel completes the handshake)."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind((HOST, 0))
        self.socket.listen(16)
        self.socket.setblocking(False)
        self.port = self.socket.getsockname()[1]
        self._held: list[socket.socket] = []

    def connections(self) -> int:
        """Connections made to it so far (each taken from the backlog and held open, unanswered)."""
        while True:
            try:
                self._held.append(self.socket.accept()[0])
            except BlockingIOError:
                return len(self._held)

    def stop(self) -> None:
        for held in self._held:
            held.close()
        self.socket.close()


class Attacker(threading.Thread):
    """Keeps ``count`` idle TCP connections open to ``port``, opening a new one whenever the service drops one."""

    def __init__(self, port: int, count: int = 200, max_connects: int = 50_000) -> None:
        super().__init__(daemon=True)
        self.port, self.count, self.max_connects = port, count, max_connects
        self.stop, self.opened, self.connects = threading.Event(), threading.Event(), 0

    def run(self) -> None:
        selector, held = selectors.DefaultSelector(), 0
        while not self.stop.is_set() and self.connects < self.max_connects:
            while held < self.count:
                sock = socket.create_connection((HOST, self.port), timeout=10)
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ)
                held, self.connects = held + 1, self.connects + 1
            self.opened.set()
            for key, _ in selector.select(0.05):  # dropped by the service: open another one
                selector.unregister(key.fileobj)
                key.fileobj.close()
                held -= 1
        for key in list(selector.get_map().values()):
            key.fileobj.close()


class ServeProcess:
    """``python -m accumulate.cli serve --config ...``; its log goes to ``log`` (appended across restarts)."""

    def __init__(self, config, port, log):
        self.config, self.port, self.log = config, port, log
        self.process = None

    def start(self):
        with open(self.log, "a") as log:
            command = [sys.executable, "-m", "accumulate.cli", "serve", "--config", str(self.config)]
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: echoscu(self.port).returncode == 0, 60, "the service to answer C-ECHO", interval_s=0.2)

    def peak_rss_mib(self) -> float:
        """The process's peak resident memory so far (VmHWM), MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM in /proc/<pid>/status")

    def kill(self):
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


def write_large_ct(template: Path, path: Path, side: int, *, deflate: bool = False) -> Path:
    """A CT object of ``side`` x ``side`` zero pixels (2 bytes each), written in chunks (never whole in memory).

    ``deflate``: in Deflated Explicit VR Little Endian, so a large ``side`` makes a deflate bomb
    (1 GiB of pixels deflate to about 1 MB).
    """
    ds = pydicom.dcmread(template)
    del ds.PixelData
    ds.Rows = ds.Columns = side
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    syntax = pydicom.uid.DeflatedExplicitVRLittleEndian if deflate else pydicom.uid.ExplicitVRLittleEndian
    ds.file_meta.TransferSyntaxUID = syntax
    body = pydicom.filebase.DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    pydicom.filewriter.write_dataset(body, ds)
    pixel_bytes = side * side * 2
    head = body.getvalue() + struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OW", 0, pixel_bytes)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS) if deflate else None
    zeros = bytes(1 << 24)
    with open(path, "wb") as handle:
        handle.write(b"\x00" * 128 + b"DICM")
        pydicom.filewriter.write_file_meta_info(handle, ds.file_meta)
        chunks = [head] + [zeros[: min(len(zeros), pixel_bytes - at)] for at in range(0, pixel_bytes, len(zeros))]
        for chunk in chunks:
            handle.write(compressor.compress(chunk) if compressor else chunk)
        if compressor:
            handle.write(compressor.flush())
    return path


def _toml_value(value) -> str:
    return str(value).lower() if isinstance(value, bool) else json.dumps(value)


def write_service_toml(folder: Path, port: int, *, destination_port: int | None = None, delivery: dict | None = None,
                       tables: str = "", **service) -> Path:  # fmt: skip
    """A SERVICE.toml in ``folder`` (storage, reports beside it); test profile: alpha/beta 3 Gy, 30 % recovery in BODY.

    ``service``: [service] keys replacing the defaults here; ``delivery``: more [destination] keys (timeouts,
    back-off); ``tables``: more TOML tables.
    """
    (folder / "profile.toml").write_text(
        '[radiobiology]\nalpha_beta_default = 3.0\n[recovery.BODY]\nmodel = "constant"\nrecovered = 0.3\n'
    )
    keys = {"ae_title": SERVICE_AE, "port": port, "storage": "storage", "reports": "reports",
            "allowed_ae_titles": [SENDER_AE, "TPS2"], "quiet_seconds": 1, "poll_seconds": 0.1, "network_timeout_seconds": 10,
            **service}  # fmt: skip
    lines = ["[service]", *(f"{key} = {_toml_value(value)}" for key, value in keys.items()), tables]
    if destination_port is not None:
        lines += ["[destination]", f'ae_title = "{DESTINATION_AE}"', f'host = "{HOST}"', f"port = {destination_port}"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in (delivery or {}).items()]
    lines += ["[profile]", 'settings = "profile.toml"']
    path = folder / "service.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def assert_matches_analytic_eqd2(dataset: pydicom.Dataset, case, folder: Path) -> None:
    """The cumulative EQD2 RTDOSE is the analytic one (alpha/beta 3 Gy, residual 0.7): within 1 % of max in 99 % of BODY."""
    path = folder / "cumulative_eqd2_check.dcm"
    dataset.save_as(path, enforce_file_format=True)
    cumulative = read_dose(path)
    expected = case.cumulative_eqd2_at(cumulative.grid.world_coordinates(), 3.0, residual=0.7)
    body = read_structures(case.reirradiation.structures_path, cumulative.grid)["BODY"].array
    error = np.abs(cumulative.array - expected)[body]
    assert np.quantile(error, 0.99) <= 0.01 * expected.max()
