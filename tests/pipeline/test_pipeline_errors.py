"""Incomplete exports and impossible requests fail early, naming the course and what is missing."""

from __future__ import annotations

import shutil
import textwrap

import pytest

from accumulate import InputError
from accumulate.cli import main
from accumulate.phantom import write_demo_case
from accumulate.pipeline import run


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return write_demo_case(tmp_path_factory.mktemp("case") / "hn", size="test")


def _copy(case, tmp_path):
    prior, reirr = tmp_path / "prior", tmp_path / "reirr"
    shutil.copytree(case.prior.folder, prior)
    shutil.copytree(case.reirradiation.folder, reirr)
    return prior, reirr


def _write(tmp_path, prior, reirr, extra: str = "") -> object:
    path = tmp_path / "run.toml"
    path.write_text(
        textwrap.dedent(f"""
    [[course]]
    name = "prior"
    dicom = "{prior}"
    [[course]]
    name = "reirr"
    dicom = "{reirr}"
    [output]
    dir = "{tmp_path / "out"}"
    """)
        + textwrap.dedent(extra)
    )
    return path


def test_missing_rtdose_names_the_course(case, tmp_path):
    prior, reirr = _copy(case, tmp_path)
    (prior / "RD.dcm").unlink()
    with pytest.raises(InputError, match=f"course 'prior': no RTDOSE in {prior}"):
        run(_write(tmp_path, prior, reirr), progress=lambda line: None)


def test_reference_without_structures(case, tmp_path):
    prior, reirr = _copy(case, tmp_path)
    (reirr / "RS.dcm").unlink()
    with pytest.raises(InputError, match="reference course 'reirr' has no RTSTRUCT"):
        run(
            _write(tmp_path, prior, reirr, '[registration]\ndvf = "' + str(case.true_field_path) + '"\n'),
            progress=lambda line: None,
        )


def test_registration_needs_both_cts(case, tmp_path):
    prior, reirr = _copy(case, tmp_path)
    for ct in prior.glob("CT*.dcm"):
        ct.unlink()
    with pytest.raises(InputError, match="cannot register course 'prior': course 'prior' has no CT series.*'dvf'"):
        run(_write(tmp_path, prior, reirr), progress=lambda line: None)


def test_unknown_structure_in_the_configuration(case, tmp_path):
    prior, reirr = _copy(case, tmp_path)
    extra = f'[registration]\ndvf = "{case.true_field_path}"\n[radiobiology.alpha_beta]\nOpticChiasm = 2.0\n'
    with pytest.raises(
        InputError, match=r"absent from the reference course: .*OpticChiasm \(named in \[radiobiology.alpha_beta\]\).*SpinalCord"
    ):
        run(_write(tmp_path, prior, reirr, extra), progress=lambda line: None)


def test_cli_exit_codes(case, tmp_path, capsys):
    prior, reirr = _copy(case, tmp_path)
    (prior / "RD.dcm").unlink()
    assert main(["run", str(_write(tmp_path, prior, reirr))]) == 3  # bad input
    assert "accumulate run: error: course 'prior': no RTDOSE" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[[course]]\nname = 1\n")
    assert main(["run", str(bad)]) == 5  # configuration


def test_structure_rename_of_an_absent_structure_names_it(case, tmp_path):
    extra = '[structures.rename]\n"Cord PRV" = "SpinalCord"\n'
    with pytest.raises(InputError, match=r"no structure named \['Cord PRV'\]"):
        run(_write(tmp_path, case.prior.folder, case.reirradiation.folder, extra), progress=lambda line: None)
