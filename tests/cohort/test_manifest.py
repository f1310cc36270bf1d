"""Manifests (CSV and TOML): what they say, and errors that name the manifest, the row or patient and the column."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from accumulate import ConfigError
from accumulate.cohort import read_manifest
from accumulate.cohort._manifest import merged_settings, patient_config


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_csv_rows_become_courses_with_paths_relative_to_the_manifest(tmp_path):
    for folder in ("a/2019", "a/2023"):
        (tmp_path / folder).mkdir(parents=True)
    manifest = _write(
        tmp_path,
        "cohort.csv",
        """
    # comment lines and blank lines are skipped
    patient,course,folder,date,fractions,interval_months,rename

    HN 001,prior,a/2019,2019-03-01,35,,Cord PRV0=SpinalCord; Parotid Lt = Parotid_L
    HN 001,reirr,a/2023,,5,,
    """,
    )
    (patient,) = read_manifest(manifest).patients
    assert patient.id == "HN 001" and patient.folder_name == "HN_001"
    assert patient.courses == (
        {"name": "prior", "dicom": str(tmp_path / "a/2019"), "date": dt.date(2019, 3, 1), "fractions": 35.0},
        {"name": "reirr", "dicom": str(tmp_path / "a/2023"), "fractions": 5.0},
    )
    assert patient.rename == {"Cord PRV0": "SpinalCord", "Parotid Lt": "Parotid_L"}
    assert patient.where == "lines 4, 5"


def test_given_fields_and_their_inverses_are_paths_relative_to_the_manifest(tmp_path):
    csv_manifest = _write(
        tmp_path,
        "cohort.csv",
        """
    patient,course,folder,dvf,dvf_inverse
    P1,prior,a/2019,f/forward.mha,f/backward.mha
    P1,reirr,a/2023,,
    """,
    )
    (patient,) = read_manifest(csv_manifest).patients
    assert (patient.courses[0]["dvf"], patient.courses[0]["dvf_inverse"]) == (
        str(tmp_path / "f/forward.mha"), str(tmp_path / "f/backward.mha"))  # fmt: skip
    toml_manifest = _write(
        tmp_path,
        "cohort.toml",
        """
    [[patient]]
    id = "P1"
    [[patient.course]]
    name = "prior"
    dicom = "a/2019"
    dvf = "f/forward.mha"
    dvf_inverse = "f/backward.mha"
    rigid_start = "a/REG.dcm"
    [[patient.course]]
    name = "reirr"
    dicom = "a/2023"
    """,
    )
    (patient,) = read_manifest(toml_manifest).patients
    prior = patient.courses[0]
    assert (prior["dvf_inverse"], prior["rigid_start"]) == (str(tmp_path / "f/backward.mha"), str(tmp_path / "a/REG.dcm"))


@pytest.mark.parametrize(
    "body, message",
    [
        ("patient,folder,dose\nP1,a,1\n", r"cohort.csv line 1: unknown column\(s\) \['dose'\]"),
        ("patient,course\nP1,prior\n", r"cohort.csv line 1: the header lacks the column\(s\) \['folder'\]"),
        ("patient,folder,fractions\nP1,a,35\nP1,b,five\n", r"cohort.csv line 3, column 'fractions': 'five' is not a number"),
        ("patient,folder,date\nP1,a,01/03/2019\n", r"line 2, column 'date': '01/03/2019' is not a date written YYYY-MM-DD"),
        ("patient,folder\n,a\n", r"line 2, column 'patient': empty"),
        ("patient,folder,rename\nP1,a,Cord\n", r"line 2, column 'rename': 'Cord' is not 'case name=settings name'"),
        ("patient,folder\nP/1,a\nP 1,b\n", r"patients 'P/1' and 'P 1' would share the output folder 'P_1'"),
        ("patient,folder\n", r"cohort.csv: the manifest lists no patient"),
    ],
)
def test_csv_errors_name_the_line_and_column(tmp_path, body, message):
    with pytest.raises(ConfigError, match=message):
        read_manifest(_write(tmp_path, "cohort.csv", body))


@pytest.mark.parametrize(
    "body, message",
    [
        ('[[patient]]\nid = "P1"\ncourses = []\n', r"patient 'P1': unknown key\(s\) \['courses'\]"),
        ('[[patient]]\nid = "P1"\n', r"patient 'P1': needs its courses as \[\[patient.course\]\] tables"),
        ('[[patient]]\n[[patient.course]]\ndicom = "a"\n', r"patient 1: 'id' is required"),
        ('[[patient]]\nid = "P1"\n[[patient.course]]\ndicom = "a"\nfraction = 3\n',
         r"patient 'P1', course 1: unknown key\(s\) \['fraction'\]"),
        ('[[patient]]\nid = "P1"\n[patient.settings.output]\ndir = "x"\n[[patient.course]]\ndicom = "a"\n',
         r"patient 'P1': settings.output cannot be set per patient"),
        ('[[patient]]\nid = "P1"\nrename = { BODY = 3 }\n[[patient.course]]\ndicom = "a"\n', r"patient 'P1': rename must be"),
        ('[[patient]]\nid = "P1"\n[[patient.course]]\ndicom = "a"\n[[patient]]\nid = "P1"\n[[patient.course]]\ndicom = "b"\n',
         r"patient 'P1' is listed twice"),
        ('[cohort]\nname = "x"\n', r"unknown top-level key\(s\) \['cohort'\]"),
    ],
)  # fmt: skip
def test_toml_errors_name_the_patient_and_key(tmp_path, body, message):
    with pytest.raises(ConfigError, match=message):
        read_manifest(_write(tmp_path, "cohort.toml", body))


def test_other_formats_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"must be a .csv or .toml file"):
        read_manifest(_write(tmp_path, "cohort.json", "{}"))


def test_patient_settings_override_the_base_and_the_course_is_checked(case, tmp_path):
    manifest = _write(
        tmp_path,
        "cohort.toml",
        f"""
    [[patient]]
    id = "P1"
    rename = {{ BODY = "Everything" }}
    [patient.settings.radiobiology]
    alpha_beta_default = 10.0
    [patient.settings.recovery.SpinalCord]
    model = "constant"
    recovered = 0.2
    [[patient.course]]
    dicom = "{case.prior.folder}"
    [[patient.course]]
    dicom = "{case.reirradiation.folder}"
    fractions = 7
    [[patient]]
    id = "P2"
    [[patient.course]]
    dicom = "missing/export"
    [[patient.course]]
    dicom = "{case.reirradiation.folder}"
    """,
    )
    base = {"radiobiology": {"alpha_beta_default": 3.0, "alpha_beta": {"Brainstem": 2.0}},
            "recovery": {"SpinalCord": {"model": "table", "months": [0, 6], "recovered": [0, 0.25]}}}  # fmt: skip
    first, second = read_manifest(manifest).patients
    config = patient_config(first, base, manifest)
    assert config.alpha_beta_default == 10.0 and dict(config.alpha_beta) == {"Brainstem": 2.0}  # merged key by key
    assert config.recovery["SpinalCord"].describe() == "constant 20 % recovered"  # a recovery table is replaced whole
    assert dict(config.structure_rename) == {"BODY": "Everything"}
    assert config.courses[1].fractions == 7 and config.reference_index == 1
    message = r"cohort.toml#P2: course 1.dicom: .*missing/export does not exist \(the patient's \[\[patient\]\] table 2 in"
    with pytest.raises(ConfigError, match=message):
        patient_config(second, base, manifest)


def test_merge_replaces_constraints_whole():
    base = {"constraints": {"set": "hn-reirradiation"}, "warp": {"method": "mass", "subsamples": 2}}
    override = {"constraints": {"constraint": [{"structure": "SpinalCord", "metric": "Dmax", "limit": 45.0}]},
                "warp": {"subsamples": 3}}  # fmt: skip
    merged = merged_settings(base, override)
    assert merged == {"constraints": override["constraints"], "warp": {"method": "mass", "subsamples": 3}}


def test_the_example_manifests_agree_and_the_example_settings_are_valid():
    from accumulate._resources import resource_dir
    from accumulate.cohort import read_grid
    from accumulate.config import parse_settings, read_toml

    examples = resource_dir("configs") / "examples"
    from_csv = read_manifest(examples / "cohort-manifest.csv").patients
    from_toml = read_manifest(examples / "cohort-manifest.toml").patients
    assert [(p.id, p.courses, p.rename) for p in from_csv] == [(p.id, p.courses, p.rename) for p in from_toml]
    assert [len(p.courses) for p in from_csv] == [2, 2, 3]
    parse_settings(read_toml(examples / "cohort-base.toml"), examples / "cohort-base.toml")
    assert len(read_grid(examples / "cohort-sensitivity.toml").points()) == 12
