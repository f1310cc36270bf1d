"""``[uncertainty]`` in the run configuration: the default, the documented keys, mistakes naming the file and the key."""

from __future__ import annotations

import textwrap

import pytest

from accumulate import ConfigError
from accumulate.config import load_config

COURSES = """
[[course]]
name = "prior"
dicom = "a"
[[course]]
name = "reirradiation"
dicom = "b"
[registration]
dvf = "field.mha"
"""


@pytest.fixture
def write(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "field.mha").write_bytes(b"")

    def _write(extra: str):
        path = tmp_path / "run.toml"
        path.write_text(textwrap.dedent(COURSES) + textwrap.dedent(extra))
        return path

    return _write


def test_default_is_no_uncertainty_and_the_documented_keys_parse(write):
    config = load_config(write(""))
    assert (config.uncertainty_method, config.uncertainty_radius_mm) == ("none", 3.0)
    config = load_config(write('[uncertainty]\nmethod = "shift"\nradius_mm = 2\n'))
    assert (config.uncertainty_method, config.uncertainty_radius_mm) == ("shift", 2.0)
    assert load_config(write('[uncertainty]\nmethod = "shift"\nradius_mm = 0\n')).uncertainty_radius_mm == 0.0


@pytest.mark.parametrize(
    "extra, message",
    [
        ('[uncertainty]\nmethod = "ensemble"\n', r"\[uncertainty\]\.method must be one of \['none', 'shift'\]"),
        ("[uncertainty]\nradius_mm = -1\n", r"\[uncertainty\]\.radius_mm must be >= 0"),
        ('[uncertainty]\nradius_mm = "3 mm"\n', r"\[uncertainty\]\.radius_mm must be a"),
        ("[uncertainty]\nradius = 3\n", r"\[uncertainty\]: unknown key\(s\) \['radius'\]"),
    ],
)
def test_mistakes_name_the_file_and_key(write, extra, message):
    path = write(extra)
    with pytest.raises(ConfigError, match=message) as error:
        load_config(path)
    assert str(path) in str(error.value)
