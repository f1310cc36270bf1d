"""``[uncertainty]`` in the run configuration: the default, the documented keys, mistakes naming the file and the key."""

from __future__ import annotations

import textwrap

import pytest

from accumulate import ConfigError
from accumulate.config import load_config
from accumulate.uncertainty import DEFAULT_MINIMUM_MM, DEFAULT_SCALE

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
    assert not config.registration.inverse_consistency


def test_a_given_field_may_come_with_its_inverse(write, tmp_path):
    (tmp_path / "back.mha").write_bytes(b"")
    text = write("").read_text().replace('dicom = "a"\n', 'dicom = "a"\ndvf_inverse = "back.mha"\n')
    (tmp_path / "run.toml").write_text(text)
    assert load_config(tmp_path / "run.toml").courses[0].dvf_inverse == (tmp_path / "back.mha").resolve()
    alone = text.replace('[registration]\ndvf = "field.mha"\n', "")
    (tmp_path / "run.toml").write_text(alone)
    with pytest.raises(ConfigError, match="course 'prior': dvf_inverse is a given field's other direction"):
        load_config(tmp_path / "run.toml")
    (tmp_path / "run.toml").write_text(text.replace("back.mha", "gone.mha"))
    with pytest.raises(ConfigError, match=r"course 'prior'.dvf_inverse: .*gone.mha does not exist"):
        load_config(tmp_path / "run.toml")


def test_inverse_consistency_method_reads_its_keys_and_registers_both_ways(write):
    config = load_config(write('[uncertainty]\nmethod = "inverse-consistency"\n'))
    assert config.uncertainty_method == "inverse-consistency"
    assert (config.uncertainty_minimum_mm, config.uncertainty_scale) == (DEFAULT_MINIMUM_MM, DEFAULT_SCALE)
    assert config.registration.inverse_consistency  # implied: the evidence needs the registration the other way round
    config = load_config(write('[uncertainty]\nmethod = "inverse-consistency"\nminimum_mm = 0\nscale = 2\n'))
    assert (config.uncertainty_minimum_mm, config.uncertainty_scale) == (0.0, 2.0)


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            '[uncertainty]\nmethod = "ensemble"\n',
            r"\[uncertainty\]\.method must be one of \['none', 'shift', 'inverse-consistency'\]",
        ),
        ('[uncertainty]\nmethod = "shift"\nradius_mm = -1\n', r"\[uncertainty\]\.radius_mm must be >= 0"),
        ('[uncertainty]\nmethod = "shift"\nradius_mm = "3 mm"\n', r"\[uncertainty\]\.radius_mm must be a"),
        ("[uncertainty]\nradius = 3\n", r"\[uncertainty\]: unknown key\(s\) \['radius'\]"),
        # a key of another method is a mistake: it would silently not be used
        (
            '[uncertainty]\nmethod = "shift"\nminimum_mm = 1\n',
            r"\['minimum_mm'\] do not apply to method = 'shift', which reads \['radius_mm'\]",
        ),
        (
            '[uncertainty]\nmethod = "inverse-consistency"\nradius_mm = 3\n',
            r"\['radius_mm'\] do not apply to method = 'inverse-consistency'",
        ),
        ("[uncertainty]\nradius_mm = 3\n", r"\['radius_mm'\] do not apply to method = 'none', which reads no other key"),
        ('[uncertainty]\nmethod = "inverse-consistency"\nscale = -0.5\n', r"\[uncertainty\]\.scale must be >= 0"),
        (
            'inverse_consistency = false\n[uncertainty]\nmethod = "inverse-consistency"\n',  # in [registration]
            r"registers both ways, but \[registration\] inverse_consistency = false",
        ),
    ],
)
def test_mistakes_name_the_file_and_key(write, extra, message):
    path = write(extra)
    with pytest.raises(ConfigError, match=message) as error:
        load_config(path)
    assert str(path) in str(error.value)
