"""Run configuration: the documented schema parses; every mistake names the file and the key."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from accumulate import ConfigError
from accumulate.config import config_with_courses, load_config, read_toml

VALID = """
[[course]]
name = "prior"
dicom = "exports/2023-01"
date = 2023-03-01
[[course]]
name = "reirradiation"
dicom = "exports/2025-02"
fractions = 5

[registration]
dvf = "field.mha"

[warp]
method = "direct"

[radiobiology]
alpha_beta_default = 3.0
reference_dose_per_fraction = 1.8
[radiobiology.alpha_beta]
SpinalCord = 2.0
PTV = 10.0

[recovery.SpinalCord]
model = "table"
months = [0, 6, 12]
recovered = [0.0, 0.25, 0.5]

[constraints]
set = "hn-reirradiation"
"""


@pytest.fixture
def case(tmp_path):
    (tmp_path / "exports" / "2023-01").mkdir(parents=True)
    (tmp_path / "exports" / "2025-02").mkdir(parents=True)
    (tmp_path / "field.mha").write_bytes(b"")

    def write(text: str):
        path = tmp_path / "run.toml"
        path.write_text(textwrap.dedent(text))
        return path

    return tmp_path, write


def test_documented_example_parses(case):
    root, write = case
    config = load_config(write(VALID))
    prior, new = config.courses
    assert prior.dicom == (root / "exports" / "2023-01").resolve() and prior.date == dt.date(2023, 3, 1)
    assert config.reference is new and new.fractions == 5.0
    assert prior.dvf == (root / "field.mha").resolve() and new.dvf is None  # the shared dvf belongs to the single prior
    assert config.warp_method == "direct" and config.reference_dose_per_fraction == 1.8
    assert dict(config.alpha_beta) == {"SpinalCord": 2.0, "PTV": 10.0}
    assert config.recovery["SpinalCord"].recovered(12) == 0.5
    assert config.constraints.name == "hn-reirradiation"
    assert config.output_dir == (root / "out").resolve() and config.backend == "auto"


@pytest.mark.parametrize(
    "change, message",
    [
        (('[warp]\nmethod = "direct"', '[warp]\nmethod = "nearest"'), r"\[warp\]\.method must be one of \['mass', 'direct'\]"),
        (("fractions = 5", "fractions = 0"), r"course 'reirradiation'\.fractions must be > 0"),
        (("fractions = 5", 'fractions = "five"'), r"course 'reirradiation'\.fractions must be a int or float"),
        (("fractions = 5", "fraction = 5"), r"course 'reirradiation': unknown key\(s\) \['fraction'\]"),
        (('2025-02"', '2099-01"'), r"course 'reirradiation'\.dicom: .*2099-01 does not exist"),
        (("SpinalCord = 2.0", "SpinalCord = -2.0"), r"\[radiobiology.alpha_beta\]\.SpinalCord must be > 0"),
        (("recovered = [0.0, 0.25, 0.5]", "recovered = [0.0, 0.25, 1.5]"), r"\[recovery.SpinalCord\]: .*\[0, 1\], got 1.5"),
        (('set = "hn-reirradiation"', 'set = "hn"'), "unknown constraint set 'hn'"),
        (("[warp]", "[warps]"), r"unknown key\(s\) \['warps'\]"),
    ],
)
def test_mistakes_name_the_file_and_key(case, change, message):
    root, write = case
    path = write(VALID.replace(*change))
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    if "constraint set" not in message:
        assert str(path) in str(info.value)


def test_needs_two_courses(case):
    _, write = case
    with pytest.raises(ConfigError, match="needs at least two"):
        load_config(write('[[course]]\nname = "only"\ndicom = "exports/2023-01"\n'))


def test_reference_flag_and_unique_names(case):
    _, write = case
    config = load_config(
        write(
            VALID.replace('name = "prior"\n', 'name = "prior"\nreference = true\n').replace(
                '[registration]\ndvf = "field.mha"\n', ""
            )
        )
    )
    assert config.reference.name == "prior"
    with pytest.raises(ConfigError, match="course names must be unique"):
        load_config(write(VALID.replace('"reirradiation"', '"prior"')))


def test_not_toml_and_missing_file(case, tmp_path):
    _, write = case
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write("[[course]\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_settings_join_courses_from_elsewhere(case):
    # a service profile or a cohort's base file: everything but [[course]], joined to course tables later
    root, _ = case
    settings = read_toml(_settings_file(root))
    config = config_with_courses(
        settings,
        [
            {"name": "old", "dicom": str(root / "exports" / "2023-01")},
            {"name": "new", "dicom": str(root / "exports" / "2025-02")},
        ],
        root / "profile.toml",
    )
    assert [c.name for c in config.courses] == ["old", "new"] and config.reference.name == "new"
    assert config.structure_rename == {"Cord PRV0": "SpinalCord"}
    assert config.alpha_beta == {"SpinalCord": 2.0, "PTV": 10.0}


def _settings_file(root):
    text = VALID.split("[registration]")[1]
    path = root / "profile.toml"
    path.write_text("[registration]" + text + '\n[structures.rename]\n"Cord PRV0" = "SpinalCord"\n')
    return path


def test_structure_rename_must_map_names_to_names(case):
    _, write = case
    with pytest.raises(ConfigError, match=r"\[structures.rename\].Cord must be a str"):
        load_config(write(VALID + "\n[structures.rename]\nCord = 3\n"))
