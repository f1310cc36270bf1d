"""SERVICE.toml validation: defaults, the shipped example, and errors that name the file, the key and the fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from accumulate.errors import ConfigError
from accumulate.service._settings import load_service_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "service" / "service.toml"


def _write(folder: Path, text: str, **files: str) -> Path:
    for name, content in files.items():
        (folder / name).write_text(textwrap.dedent(content))
    path = folder / "service.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_defaults_listen_on_loopback_and_keep_patient_data_out_of_logs(tmp_path):
    settings = load_service_settings(_write(tmp_path, '[service]\nstorage = "store"\n'))
    assert (settings.bind, settings.port, settings.ae_title) == ("127.0.0.1", 11112, "ACCUMULATE")
    assert settings.phi_in_logs is False and settings.allowed_ae_titles == () and settings.destination is None
    assert settings.storage == tmp_path / "store" and settings.reports == tmp_path / "store" / "reports"
    assert (settings.quiet_s, settings.retention_s) == (60.0, 30 * 86400.0)
    assert settings.profile.table == {}  # the built-in run defaults
    limits = settings.limits
    assert (limits.max_connections, limits.max_connections_per_address, limits.max_associations) == (64, 16, 10)
    assert limits.request_timeout_s < limits.network_timeout_s < limits.pdu_timeout_s  # silence is cut long before slowness
    assert settings.max_object_bytes == 1024 * 2**20


def test_the_shipped_example_is_valid_and_chooses_a_profile_per_calling_ae_title():
    settings = load_service_settings(EXAMPLE)
    assert settings.allowed_ae_titles == ("TPS", "TPS_RESEARCH") and settings.destination.port == 104
    assert settings.profile_for("TPS").source.name == "profile.toml"
    assert settings.profile_for("TPS_RESEARCH").source.name == "profile-research.toml"
    assert settings.profile_for(None) is settings.profile


@pytest.mark.parametrize(
    "text, message",
    [
        ('[service]\nport = 104\n', r"\[service\]\.storage is required"),
        ('[service]\nstorage = "s"\nport = 70000\n', r"\[service\]\.port must be a TCP port"),
        ('[service]\nstorage = "s"\nquiet = 5\n', r"unknown key\(s\) \['quiet'\]"),
        ('[service]\nstorage = "s"\nrequest_timeout_seconds = 0\n', r"\[service\]\.request_timeout_seconds must be > 0"),
        ('[service]\nstorage = "s"\nmax_object_mb = -1\n', r"\[service\]\.max_object_mb must be > 0"),
        ('[service]\nstorage = "s"\nmax_connections = 4\nmax_connections_per_address = 8\n',
         r"max_connections_per_address = 8 is more than max_connections = 4"),
        ('[service]\nstorage = "s"\nmax_connections = 8\nmax_associations = 20\n',
         r"max_associations = 20 is more than max_connections = 8"),
        ('[service]\nstorage = "s"\nmax_connections = 0\n', r"max_connections must be a whole number >= 1, got 0"),
        ('[service]\nstorage = "s"\nbind = "0.0.0.0"\n', r"allowed_ae_titles is required"),
        ('[service]\nstorage = "s"\nbind = "localhost"\n', r"\[service\]\.bind must be an IP address"),
        ('[service]\nstorage = "s"\nae_title = "MUCH_TOO_LONG_A_TITLE"\n', r"\[service\]\.ae_title: .* not a valid AE title"),
        ('[service]\nstorage = "s"\nallowed_ae_titles = ["A\\\\B"]\n', r"allowed_ae_titles: .* not a valid AE title"),
        ('[service]\nstorage = "s"\n[destination]\nae_title = "TPS"\nhost = "127.0.0.1"\nport = 104\ntls = true\n',
         r"\[destination\]\.tls = true needs \[service\.tls\]"),
        ('[service]\nstorage = "s"\n[service.tls]\ncert = "missing.pem"\nkey = "missing.key"\n',
         r"\[service\.tls\]\.cert: .* does not exist"),
        ('[service]\nstorage = "s"\nallowed_ae_titles = ["TPS"]\n[profiles.OTHER]\nsettings = "p.toml"\n',
         r"\[profiles\.OTHER\]: 'OTHER' is not in \[service\]\.allowed_ae_titles"),
    ],
)  # fmt: skip
def test_invalid_settings_are_refused_naming_file_and_key(tmp_path, text, message):
    path = _write(tmp_path, text, **{"p.toml": "[warp]\nmethod = 'direct'\n"})
    with pytest.raises(ConfigError, match=message) as error:
        load_service_settings(path)
    assert str(path) in str(error.value)


def test_a_profile_is_validated_as_run_settings(tmp_path):
    text = '[service]\nstorage = "s"\n[profile]\nsettings = "profile.toml"\n'
    with pytest.raises(ConfigError, match=r"profile\.toml: \[warp\]\.method must be one of"):
        load_service_settings(_write(tmp_path, text, **{"profile.toml": "[warp]\nmethod = 'nearest'\n"}))
    with pytest.raises(ConfigError, match=r"profile\.toml: a settings profile holds run settings only"):
        load_service_settings(_write(tmp_path, text, **{"profile.toml": "[[course]]\nname = 'x'\ndose = 'rd.dcm'\n"}))
    with pytest.raises(ConfigError, match=r"\[profile\]\.settings: .*nothing\.toml does not exist"):
        load_service_settings(_write(tmp_path, '[service]\nstorage = "s"\n[profile]\nsettings = "nothing.toml"\n'))


def test_a_health_check_reaches_a_wildcard_bind_over_loopback(tmp_path):
    settings = load_service_settings(
        _write(tmp_path, '[service]\nstorage = "s"\nbind = "0.0.0.0"\nallowed_ae_titles = ["TPS"]\n')
    )
    assert settings.check_host == "127.0.0.1"
