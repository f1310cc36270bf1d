"""SERVICE.toml: the receiver's settings, validated at start; every error names the file and the key.

Schema (relative paths are relative to the file)::

    [service]
    ae_title = "ACCUMULATE"           # this node's AE title (the called AE title senders use)
    bind = "127.0.0.1"                # listen address (an IP); the default listens on loopback only
    port = 11112
    storage = "/var/lib/accumulate"   # received objects and case folders (required)
    reports = "reports"               # each case's report.html and summary.json (default <storage>/reports)
    allowed_ae_titles = ["TPS"]       # calling AE titles accepted; required unless bind is a loopback address
    quiet_seconds = 60                # a complete case runs once no object arrived for this long
    give_up_hours = 24                # an incomplete case with no new object for this long moves to failed/
    retention_days = 30               # done/ and failed/ cases older than this are deleted
    report_retention_days = 365       # optional: reports/<case>/ older than this are deleted (default: kept)
    max_storage_gb = 50               # optional: beyond it new objects are refused (status 0xA700)
    phi_in_logs = false               # false: logs name a patient only by a pseudonymous key
    poll_seconds = 1.0                # how often the worker looks for ready cases and triggers
    max_object_mb = 1024              # an object larger than this (inflated) is refused (status 0xA700)
    max_associations = 10             # associations at once (senders); more are rejected (local limit exceeded)
    max_connections = 64              # TCP connections at once, associated or not; idle ones make room for new ones
    max_connections_per_address = 16  # ... from one IP address
    request_timeout_seconds = 10      # a connection must complete its A-ASSOCIATE-RQ within this
    network_timeout_seconds = 30      # an association silent this long (no byte, no PDU) is aborted
    pdu_timeout_seconds = 120         # a PDU (64 KiB at most) must arrive whole within this: a slow sender is not cut off

    [service.tls]                     # optional: DICOM over TLS
    cert = "server.pem"               # PEM certificate (chain) and key
    key = "server.key"
    ca = "ca.pem"                     # optional: clients must then present a certificate signed by it

    [destination]                     # optional: the node the results are sent to (C-STORE)
    ae_title = "TPS"
    host = "192.0.2.10"
    port = 104
    tls = false                       # true: TLS, [service.tls] cert/key as client certificate, ca (or the system's) to verify
    timeout_seconds = 60              # each step of a delivery (connect, associate, each C-STORE) must answer within this
    retry_seconds = 60                # an undelivered result is retried after this, then twice as long each time ...
    max_retry_seconds = 3600          # ... at most this long apart
    give_up_hours = 72                # and given up after this (``accumulate serve --resend CASE`` queues it again)

    [profile]
    settings = "profile.toml"         # run settings (accumulate.config without [[course]]); default: built-in defaults

    [profiles.TPS_RESEARCH]           # a calling AE title with its own run settings
    settings = "research.toml"
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import TableReader, parse_settings, read_toml
from ..errors import ConfigError
from ._guard import Limits

SECTIONS = ("service", "destination", "profile", "profiles")
SERVICE_KEYS = ("ae_title", "bind", "port", "storage", "reports", "allowed_ae_titles", "quiet_seconds", "give_up_hours",
                "retention_days", "report_retention_days", "max_storage_gb", "phi_in_logs", "poll_seconds", "max_object_mb",
                "max_associations", "max_connections", "max_connections_per_address", "request_timeout_seconds",
                "network_timeout_seconds", "pdu_timeout_seconds", "tls")  # fmt: skip
DESTINATION_KEYS = ("ae_title", "host", "port", "tls", "timeout_seconds", "retry_seconds", "max_retry_seconds", "give_up_hours")
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # printable ASCII but backslash, 16 at most


@dataclass(frozen=True)
class Profile:
    """Run settings (a validated settings table) and the file they came from (for relative paths and messages)."""

    source: Path
    table: Mapping[str, Any]

    @property
    def label(self) -> str:
        """For the log: the file name, or "built-in defaults" for an empty table."""
        return str(self.source) if self.table else "built-in defaults"


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path
    ca: Path | None

    def server_context(self) -> ssl.SSLContext:
        """The listening side: our certificate; with ``ca``, clients must present one signed by it."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        if self.ca is not None:
            context.load_verify_locations(self.ca)
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    def client_context(self, verify_with: Path | None, *, check_hostname: bool = True) -> ssl.SSLContext:
        """The calling side: our certificate as client certificate; the peer checked with ``verify_with`` (None: system CAs)."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=verify_with)
        context.check_hostname = check_hostname
        context.load_cert_chain(self.cert, self.key)
        return context


@dataclass(frozen=True)
class Destination:
    """The node results are sent to, and how deliveries are timed (seconds)."""

    ae_title: str
    host: str
    port: int
    tls: bool = False
    timeout_s: float = 60.0
    retry_s: float = 60.0
    max_retry_s: float = 3600.0
    give_up_s: float = 72 * 3600.0

    @property
    def where(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"

    def retry_after(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt: ``retry_s``, doubling, at most ``max_retry_s``."""
        return min(self.max_retry_s, self.retry_s * 2.0 ** min(attempts - 1, 40))


@dataclass(frozen=True)
class ServiceSettings:
    """A validated SERVICE.toml (see the module docstring); durations in seconds, sizes in bytes."""

    source: Path
    storage: Path
    reports: Path
    profile: Profile
    ae_title: str = "ACCUMULATE"
    bind: str = "127.0.0.1"
    port: int = 11112
    allowed_ae_titles: tuple[str, ...] = ()
    quiet_s: float = 60.0
    give_up_s: float = 24 * 3600.0
    retention_s: float = 30 * 86400.0
    report_retention_s: float | None = None
    max_storage_bytes: int | None = None
    phi_in_logs: bool = False
    poll_s: float = 1.0
    max_object_bytes: int = 1024 * 2**20
    limits: Limits = field(default_factory=Limits)
    tls: Tls | None = None
    destination: Destination | None = None
    profiles: Mapping[str, Profile] = field(default_factory=dict)

    def profile_for(self, calling_ae_title: str | None) -> Profile:
        """The run settings for objects sent by ``calling_ae_title``: its own profile, else the default."""
        return self.profiles.get(calling_ae_title or "", self.profile)

    @property
    def check_host(self) -> str:
        """Where a local health check connects: the bind address, loopback for a wildcard one."""
        address = ipaddress.ip_address(self.bind)
        if address.is_unspecified:
            return "::1" if address.version == 6 else "127.0.0.1"
        return self.bind


def _ae_title(reader: TableReader, key: str, default: str | None = None) -> str:
    value = reader.get(key, str, default)
    if value is None:
        raise ConfigError(f"{reader.where}.{key} is required (an AE title)")
    return _checked_ae_title(value, f"{reader.where}.{key}")


def _checked_ae_title(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _AE_TITLE.match(value) or value.strip() != value or not value.strip():
        raise ConfigError(
            f"{where}: {value!r} is not a valid AE title (1 to 16 printable ASCII characters, no backslash, "
            "no leading or trailing spaces)"
        )
    return value


def _port(reader: TableReader, key: str, default: int | None = None) -> int:
    value = reader.get(key, int, default)
    if value is None or isinstance(value, bool) or not 1 <= value <= 65535:
        raise ConfigError(f"{reader.where}.{key} must be a TCP port number 1 to 65535, got {value!r}")
    return value


def _existing(reader: TableReader, key: str, base: Path, required: bool) -> Path | None:
    path = reader.path(key, base)
    if path is None and required:
        raise ConfigError(f"{reader.where}.{key} is required")
    if path is not None and not path.is_file():
        raise ConfigError(f"{reader.where}.{key}: {path} does not exist")
    return path


def load_profile(path: Path) -> Profile:
    """Read and validate a run-settings file (a run configuration without [[course]])."""
    settings = read_toml(path)
    if "course" in settings:
        raise ConfigError(f"{path}: a settings profile holds run settings only; remove its [[course]] tables")
    parse_settings(settings, path)  # validates every section; errors name the profile file and the key
    return Profile(path, settings)


def _profile(table: Any, where: str, base: Path) -> Profile:
    reader = TableReader(table, where, ("settings",))
    return load_profile(_existing(reader, "settings", base, required=True))


def _tls(table: Any, where: str, base: Path) -> Tls:
    reader = TableReader(table, where, ("cert", "key", "ca"))
    tls = Tls(_existing(reader, "cert", base, True), _existing(reader, "key", base, True), _existing(reader, "ca", base, False))
    try:
        tls.server_context()
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"{where}: cannot use cert {tls.cert} / key {tls.key} / ca {tls.ca}: {exc}") from None
    return tls


def _bind(reader: TableReader) -> str:
    value = reader.get("bind", str, "127.0.0.1")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError(f"{reader.where}.bind must be an IP address such as 127.0.0.1 or 0.0.0.0, got {value!r}") from None
    return value


def _allowed(reader: TableReader, bind: str) -> tuple[str, ...]:
    titles = reader.get("allowed_ae_titles", list, [])
    allowed = tuple(_checked_ae_title(t, f"{reader.where}.allowed_ae_titles") for t in titles)
    if not allowed and not ipaddress.ip_address(bind).is_loopback:
        raise ConfigError(
            f"{reader.where}: bind = {bind!r} listens beyond this machine, so allowed_ae_titles is required "
            "(the calling AE titles of the planning systems that may send)"
        )
    return allowed


def _count(reader: TableReader, key: str, default: int, at_most: tuple[str, int] | None = None) -> int:
    value = reader.get(key, int, default)
    if isinstance(value, bool) or value < 1:
        raise ConfigError(f"{reader.where}.{key} must be a whole number >= 1, got {value!r}")
    if at_most is not None and value > at_most[1]:
        raise ConfigError(f"{reader.where}.{key} = {value} is more than {at_most[0]} = {at_most[1]}; lower it or raise that")
    return value


def _limits(service: TableReader) -> Limits:
    connections = _count(service, "max_connections", Limits.max_connections)
    cap = ("max_connections", connections)
    return Limits(
        max_connections=connections,
        max_connections_per_address=_count(service, "max_connections_per_address",
                                           min(Limits.max_connections_per_address, connections), cap),
        max_associations=_count(service, "max_associations", min(Limits.max_associations, connections), cap),
        request_timeout_s=service.number("request_timeout_seconds", Limits.request_timeout_s),
        network_timeout_s=service.number("network_timeout_seconds", Limits.network_timeout_s),
        pdu_timeout_s=service.number("pdu_timeout_seconds", Limits.pdu_timeout_s),
    )  # fmt: skip


def _destination(top: TableReader, where: str, has_tls: bool) -> Destination:
    dest = TableReader(top.get("destination", dict), f"{where}: [destination]", DESTINATION_KEYS)
    host = dest.get("host", str)
    if not host:
        raise ConfigError(f"{dest.where}.host is required (the destination's IP address or host name)")
    destination = Destination(_ae_title(dest, "ae_title"), host, _port(dest, "port"), dest.get("tls", bool, False),
                              timeout_s=dest.number("timeout_seconds", 60.0), retry_s=dest.number("retry_seconds", 60.0),
                              max_retry_s=dest.number("max_retry_seconds", 3600.0),
                              give_up_s=3600.0 * dest.number("give_up_hours", 72.0))  # fmt: skip
    if destination.tls and not has_tls:
        raise ConfigError(f"{dest.where}.tls = true needs [service.tls] (the certificate to present)")
    return destination


def parse_service_settings(table: Mapping[str, Any], source: Path) -> ServiceSettings:
    """Validate a SERVICE.toml table read from ``source`` (relative paths are resolved against its folder)."""
    where, base = str(source), source.parent
    top = TableReader(table, where, SECTIONS)
    service = TableReader(top.get("service", dict, {}), f"{where}: [service]", SERVICE_KEYS)
    storage = service.path("storage", base)
    if storage is None:
        raise ConfigError(f"{service.where}.storage is required: the folder for received objects and cases")
    bind = _bind(service)
    allowed = _allowed(service, bind)
    max_gb = service.number("max_storage_gb")
    report_days = service.number("report_retention_days")
    tls_table = service.get("tls", dict)
    destination = _destination(top, where, tls_table is not None) if "destination" in table else None
    default = _profile(top.get("profile", dict), f"{where}: [profile]", base) if "profile" in table else Profile(source, {})
    profiles = {}
    for title, spec in top.get("profiles", dict, {}).items():
        _checked_ae_title(title, f"{where}: [profiles.{title}]")
        if allowed and title not in allowed:
            raise ConfigError(f"{where}: [profiles.{title}]: {title!r} is not in [service].allowed_ae_titles {list(allowed)}")
        profiles[title] = _profile(spec, f"{where}: [profiles.{title}]", base)
    return ServiceSettings(
        source=source,
        storage=storage,
        reports=service.path("reports", base) or storage / "reports",
        profile=default,
        ae_title=_ae_title(service, "ae_title", "ACCUMULATE"),
        bind=bind,
        port=_port(service, "port", 11112),
        allowed_ae_titles=allowed,
        quiet_s=service.number("quiet_seconds", 60.0, strict=False),
        give_up_s=3600.0 * service.number("give_up_hours", 24.0),
        retention_s=86400.0 * service.number("retention_days", 30.0),
        report_retention_s=None if report_days is None else 86400.0 * report_days,
        max_storage_bytes=None if max_gb is None else int(max_gb * 1e9),
        phi_in_logs=service.get("phi_in_logs", bool, False),
        poll_s=service.number("poll_seconds", 1.0),
        max_object_bytes=int(service.number("max_object_mb", 1024.0) * 2**20),
        limits=_limits(service),
        tls=None if tls_table is None else _tls(tls_table, f"{where}: [service.tls]", base),
        destination=destination,
        profiles=profiles,
    )


def load_service_settings(path: str | Path) -> ServiceSettings:
    """Read and validate a SERVICE.toml file."""
    source = Path(path).resolve()
    return parse_service_settings(read_toml(source), source)
