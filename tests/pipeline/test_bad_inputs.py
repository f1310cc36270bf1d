"""A corpus of malformed inputs: each gets its documented exit code and a message naming the file, never a traceback.

Every mutation is made on copies of the test-size phantom's two exports (and on configurations
and output folders). The run goes through the command line (``accumulate run``), as a user's
would. For each: the exit code is the documented one, the message names the file (or key) and
the problem, there is no traceback, and the output folder holds the previous run's results
untouched (a complete earlier result is put there first) or, for a run that completes
incomplete, the complete new result.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from case_copies import edit

from accumulate.cli import main
from accumulate.phantom import write_demo_case

BAD_INPUT, GEOMETRY, CONFIGURATION, OUTPUT, INCOMPLETE = 3, 4, 5, 8, 12


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return write_demo_case(tmp_path_factory.mktemp("case") / "hn", size="test")


@dataclass
class Setup:
    prior: Path
    reirr: Path
    config: Path
    out: Path
    field: Path

    def write(self, extra: str = "", prior_keys: str = "", out: Path | None = None) -> Path:
        text = f"""
        [[course]]
        name = "prior"
        dicom = "{self.prior}"
        {prior_keys}
        [[course]]
        name = "reirr"
        dicom = "{self.reirr}"
        [registration]
        dvf = "{self.field}"
        [radiobiology]
        alpha_beta_default = 3.0
        [constraints]
        [[constraints.constraint]]
        structure = "SpinalCord"
        metric = "D0.03cc"
        limit = 50.0
        [output]
        dir = "{out or self.out}"
        """
        self.config.write_text(textwrap.dedent(text) + textwrap.dedent(extra))
        return self.config


@pytest.fixture(scope="module")
def previous(case, tmp_path_factory):
    """A complete earlier result, copied into each test's output folder before the bad run."""
    root = tmp_path_factory.mktemp("previous")
    setup = Setup(case.prior.folder, case.reirradiation.folder, root / "run.toml", root / "out", case.true_field_path)
    assert main(["run", str(setup.write())]) == 0
    return setup.out


@pytest.fixture
def setup(case, tmp_path, previous):
    prior, reirr = tmp_path / "prior", tmp_path / "reirr"
    shutil.copytree(case.prior.folder, prior)
    shutil.copytree(case.reirradiation.folder, reirr)
    out = tmp_path / "out"
    shutil.copytree(previous, out)
    return Setup(prior, reirr, tmp_path / "run.toml", out, case.true_field_path)


def _listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- the mutations: (what they do to the setup) ------------------------------------------------------
def truncate(name: str, course: str = "prior", keep: float = 0.5):
    def mutate(s: Setup):
        path = getattr(s, course) / name
        path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])

    return mutate


def replace_bytes(name: str, data: bytes, course: str = "prior"):
    def mutate(s: Setup):
        (getattr(s, course) / name).write_bytes(data)

    return mutate


def dicom_edit(name: str, change, course: str = "prior"):
    def mutate(s: Setup):
        edit(getattr(s, course) / name, change)

    return mutate


def every_file(change, course: str = "prior"):
    def mutate(s: Setup):
        for path in sorted(getattr(s, course).glob("*.dcm")):
            edit(path, change)

    return mutate


def delete(name: str, course: str = "prior"):
    def mutate(s: Setup):
        (getattr(s, course) / name).unlink()

    return mutate


def duplicate_slice(s: Setup):
    ds = pydicom.dcmread(s.prior / "CT.005.dcm")
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(s.prior / "CT.005b.dcm")


def shift_contours(mm: float):
    def change(ds):
        for roi in ds.ROIContourSequence:
            for contour in roi.ContourSequence:
                points = [float(v) for v in contour.ContourData]
                contour.ContourData = [v + mm if i % 3 == 2 else v for i, v in enumerate(points)]

    return change


def only_points(ds):
    for roi in ds.ROIContourSequence:
        for contour in roi.ContourSequence:
            contour.ContourGeometricType = "POINT"
            contour.ContourData = [float(v) for v in contour.ContourData][:3]
            contour.NumberOfContourPoints = 1


def setattr_(keyword, value):
    def change(ds):
        setattr(ds, keyword, value)

    return change


def raw_text(keyword, text, item=None):
    """Store ``text`` where a number belongs (as an LO element: pydicom refuses to encode it as DS/IS)."""

    def change(ds):
        target = item(ds) if item else ds
        tag = pydicom.datadict.tag_for_keyword(keyword)
        del target[tag]
        target.add_new(tag, "LO", text)

    return change


def delattr_(keyword):
    def change(ds):
        delattr(ds, keyword)

    return change


def scale_dose(factor):
    def change(ds):
        ds.DoseGridScaling = f"{float(ds.DoseGridScaling) * factor:.9e}"

    return change


def shift_dose(mm):
    def change(ds):
        ds.ImagePositionPatient = [float(v) + mm for v in ds.ImagePositionPatient]

    return change


def fraction_groups(value):
    def change(ds):
        ds.FractionGroupSequence[0].NumberOfFractionsPlanned = value

    return change


NEW_UID = "1.2.826.0.1.3680043.8.498.1"
# (id, mutation of the exports, exit code, what the message must say (regex))
FILE_CORPUS = [
    ("rtdose-truncated", truncate("RD.dcm"), BAD_INPUT, r"prior/RD\.dcm.*(truncated|cannot)"),
    ("rtstruct-truncated", truncate("RS.dcm", "reirr"), BAD_INPUT, r"reirr/RS\.dcm"),
    ("rtplan-truncated", truncate("RP.dcm", keep=0.3), BAD_INPUT, r"prior/RP\.dcm"),
    ("ct-slice-truncated", truncate("CT.004.dcm"), BAD_INPUT, r"CT\.004\.dcm"),
    ("rtdose-empty", replace_bytes("RD.dcm", b""), BAD_INPUT, r"RD\.dcm: the file is empty"),
    ("rtstruct-empty", replace_bytes("RS.dcm", b"", "reirr"), BAD_INPUT, r"RS\.dcm: the file is empty"),
    ("ct-slice-empty", replace_bytes("CT.002.dcm", b""), BAD_INPUT, r"CT\.002\.dcm: the file is empty"),
    ("rtdose-text", replace_bytes("RD.dcm", b"this is not a dose\n" * 50), BAD_INPUT, r"no RTDOSE in .*prior"),
    ("rtplan-png", replace_bytes("RP.dcm", b"\x89PNG\r\n\x1a\n" + bytes(300)), BAD_INPUT, r"fractions is unknown|RTPLAN"),
    (
        "dose-scaling-missing",
        dicom_edit("RD.dcm", delattr_("DoseGridScaling")),
        BAD_INPUT,
        r"RD\.dcm: DoseGridScaling .* is missing",
    ),
    (
        "dose-scaling-zero",
        dicom_edit("RD.dcm", setattr_("DoseGridScaling", "0")),
        BAD_INPUT,
        r"RD\.dcm: attribute DoseGridScaling must be > 0",
    ),
    ("dose-scaling-text", dicom_edit("RD.dcm", raw_text("DoseGridScaling", "abc")), BAD_INPUT, r"RD\.dcm.*DoseGridScaling"),
    ("dose-scaling-1e6", dicom_edit("RD.dcm", scale_dose(1e6)), BAD_INPUT, r"course\.prior\.dose_max_gy = .* outside"),
    (
        "dose-one-hundredth",
        dicom_edit("RD.dcm", scale_dose(0.01)),
        BAD_INPUT,
        r"dose_max_over_prescription .* below|dose maximum / prescription",
    ),
    (
        "dose-frame-offsets-missing",
        dicom_edit("RD.dcm", delattr_("GridFrameOffsetVector")),
        BAD_INPUT,
        r"RD\.dcm: required attribute GridFrameOffsetVector",
    ),
    ("dose-rows-missing", dicom_edit("RD.dcm", delattr_("Rows")), BAD_INPUT, r"RD\.dcm.*Rows"),
    (
        "dose-spacing-negative",
        dicom_edit("RD.dcm", setattr_("PixelSpacing", [-4, 4])),
        BAD_INPUT,
        r"RD\.dcm: attribute PixelSpacing must be > 0",
    ),
    ("dose-2m-away", dicom_edit("RD.dcm", shift_dose(2000.0)), GEOMETRY, r"RD\.dcm .* lies outside its CT"),
    ("dose-in-air", dicom_edit("RD.dcm", shift_dose(150.0)), GEOMETRY, r"RD\.dcm .*(high-dose region|lies outside)"),
    (
        "dose-other-frame",
        dicom_edit("RD.dcm", setattr_("FrameOfReferenceUID", NEW_UID)),
        GEOMETRY,
        r"RTDOSE RD\.dcm is in frame of reference",
    ),
    (
        "rtstruct-other-frame",
        dicom_edit(
            "RS.dcm", lambda ds: setattr(ds.ReferencedFrameOfReferenceSequence[0], "FrameOfReferenceUID", NEW_UID), "reirr"
        ),
        GEOMETRY,
        r"RTSTRUCT RS\.dcm is in frame of reference",
    ),
    (
        "rtstruct-other-patient",
        dicom_edit("RS.dcm", setattr_("PatientID", "SOMEONE-ELSE"), "reirr"),
        BAD_INPUT,
        r"course 'reirr': its files belong to different patients .*RTSTRUCT RS\.dcm: 'SOMEONE-ELSE'",
    ),
    (
        "prior-other-patient",
        every_file(setattr_("PatientID", "SOMEONE-ELSE")),
        BAD_INPUT,
        r"the courses belong to different patients",
    ),
    ("prior-other-birth-date", every_file(setattr_("PatientBirthDate", "19000101")), BAD_INPUT, r"different birth dates"),
    (
        "contours-off-every-slice",
        dicom_edit("RS.dcm", shift_contours(500.0), "reirr"),
        GEOMETRY,
        r"RS\.dcm: no structure has a voxel",
    ),
    (
        "rtstruct-no-contours",
        dicom_edit("RS.dcm", delattr_("ROIContourSequence"), "reirr"),
        BAD_INPUT,
        r"RS\.dcm: the structure set holds no closed planar contours",
    ),
    (
        "rtstruct-points-only",
        dicom_edit("RS.dcm", only_points, "reirr"),
        BAD_INPUT,
        r"RS\.dcm: the structure set holds no closed planar contours",
    ),
    (
        "contour-data-garbage",
        dicom_edit(
            "RS.dcm", raw_text("ContourData", "1\\2\\abc", lambda ds: ds.ROIContourSequence[1].ContourSequence[0]), "reirr"
        ),
        BAD_INPUT,
        r"RS\.dcm: ContourData of ROI .* not numbers",
    ),
    (
        "roi-number-garbage",
        dicom_edit("RS.dcm", raw_text("ROINumber", "x1", lambda ds: ds.StructureSetROISequence[0]), "reirr"),
        BAD_INPUT,
        r"RS\.dcm: attribute ROINumber must be numeric",
    ),
    (
        "fractions-missing",
        dicom_edit("RP.dcm", fraction_groups("")),
        BAD_INPUT,
        r"number of fractions is unknown \(RTPLAN RP\.dcm states none\)",
    ),
    (
        "fractions-garbage",
        dicom_edit("RP.dcm", fraction_groups("3.5")),
        BAD_INPUT,
        r"RP\.dcm: attribute NumberOfFractionsPlanned must be a whole number",
    ),
    ("fractions-200", dicom_edit("RP.dcm", fraction_groups("200")), BAD_INPUT, r"course\.prior\.fractions = 200 is outside"),
    ("plan-uid-missing", dicom_edit("RP.dcm", delattr_("SOPInstanceUID")), BAD_INPUT, r"RP\.dcm|RTPLAN"),
    ("ct-slice-missing", delete("CT.005.dcm"), GEOMETRY, r"slice\(s\) missing"),
    ("ct-slice-duplicated", duplicate_slice, BAD_INPUT, r"duplicated slice"),
    (
        "ct-position-missing",
        dicom_edit("CT.003.dcm", delattr_("ImagePositionPatient")),
        BAD_INPUT,
        r"CT\.003\.dcm: required attribute ImagePositionPatient",
    ),
    ("ct-slope-garbage", dicom_edit("CT.003.dcm", raw_text("RescaleSlope", "x")), BAD_INPUT, r"CT\.003\.dcm.*RescaleSlope"),
    (
        "ct-other-patient-slice",
        dicom_edit("CT.003.dcm", setattr_("PatientID", "SOMEONE-ELSE")),
        BAD_INPUT,
        r"CT slices disagree on PatientID",
    ),
]


@pytest.mark.parametrize("mutate, code, message", [c[1:] for c in FILE_CORPUS], ids=[c[0] for c in FILE_CORPUS])
def test_a_bad_file_is_refused_clearly_and_leaves_the_previous_results(setup, capsys, mutate, code, message):
    before = _listing(setup.out)
    mutate(setup)
    assert main(["run", str(setup.write())]) == code
    err = capsys.readouterr().err
    assert err.startswith("accumulate run: error: ") and "Traceback" not in err
    assert re.search(message, err, re.S), err
    assert _listing(setup.out) == before  # the previous complete result, untouched


def test_an_input_without_a_frame_of_reference_makes_the_run_incomplete(setup, capsys):
    edit(setup.prior / "RD.dcm", delattr_("FrameOfReferenceUID"))
    assert main(["run", str(setup.write())]) == INCOMPLETE
    printed = capsys.readouterr().out
    assert "INCOMPLETE" in printed and "RTDOSE RD.dcm names no frame of reference" in printed
    summary = json.loads((setup.out / "summary.json").read_text())
    assert summary["status"]["state"] == "incomplete"  # the new, complete result replaced the previous one


CONFIG_CORPUS = [
    ("fractions-nan", lambda s: s.write(prior_keys="fractions = nan"), r"fractions must be a finite number"),
    ("fractions-negative", lambda s: s.write(prior_keys="fractions = -5"), r"fractions must be > 0"),
    ("interval-text", lambda s: s.write(prior_keys='interval_months = "soon"'), r"interval_months must be a int or float"),
    ("unknown-key", lambda s: s.write(prior_keys="fractoins = 30"), r"unknown key\(s\) \['fractoins'\]"),
    ("unknown-section", lambda s: s.write("[radiobiologie]\nx = 1\n"), r"unknown key\(s\) \['radiobiologie'\]"),
    ("bad-toml", lambda s: s.config.write_text("[[course]\nname = "), r"not valid TOML"),
    ("binary", lambda s: s.config.write_bytes(os.urandom(2048)), r"not a text file|not valid TOML"),
    ("empty", lambda s: s.config.write_text(""), r"needs at least two \[\[course\]\] tables"),
    ("one-course", lambda s: s.config.write_text(f'[[course]]\nname = "x"\ndicom = "{s.prior}"\n'), r"at least two"),
    (
        "missing-folder",
        lambda s: s.write(prior_keys='dose = "nowhere.dcm"').write_text(
            s.config.read_text().replace(f'dicom = "{s.prior}"\n', "", 1)
        ),
        r"nowhere\.dcm does not exist",
    ),
    (
        "limit-in-cgy",
        lambda s: s.config.write_text(s.write().read_text().replace("limit = 50.0", "limit = 5000.0")),
        r"5000 looks like cGy",
    ),
    (
        "recovery-text",
        lambda s: s.write('[recovery.SpinalCord]\nmodel = "exponential"\nr_max = "half"\ntau_months = 6\n'),
        r"\[recovery\.SpinalCord\]",
    ),
    ("backend-unknown", lambda s: s.write('[run]\nbackend = "gpu"\n'), r"\[run\]\.backend must be one of"),
]


@pytest.mark.parametrize("write, message", [c[1:] for c in CONFIG_CORPUS], ids=[c[0] for c in CONFIG_CORPUS])
def test_a_bad_configuration_is_refused_clearly(setup, capsys, write, message):
    before = _listing(setup.out)
    write(setup)
    assert main(["run", str(setup.config)]) == CONFIGURATION
    err = capsys.readouterr().err
    assert "Traceback" not in err and re.search(message, err), err
    assert str(setup.config) in err or "run.toml" in err or "nowhere" in err
    assert _listing(setup.out) == before


def test_a_folder_as_configuration(setup, capsys):
    assert main(["run", str(setup.prior)]) == CONFIGURATION
    assert "is a folder, not a run configuration" in capsys.readouterr().err


def test_unusable_output_folders(setup, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["run", str(setup.write(out=blocker))]) == OUTPUT
    assert f"cannot write the outputs to {blocker}: it is a file" in capsys.readouterr().err
    assert main(["run", str(setup.write(out=blocker / "sub"))]) == OUTPUT  # a file where a parent folder should be
    assert "cannot write the outputs to" in capsys.readouterr().err
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "thesis.docx").write_text("precious")
    assert main(["run", str(setup.write(out=foreign))]) == OUTPUT
    assert "holds files that are not an earlier run's outputs" in capsys.readouterr().err
    assert (foreign / "thesis.docx").read_text() == "precious" and len(list(foreign.iterdir())) == 1


def test_a_full_disk_leaves_the_previous_results(setup, tmp_path):
    # a 1 MB file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored): the displacement field (about 1.2 MB) fails with EFBIG
    before = _listing(setup.out)
    config = setup.write()
    script = textwrap.dedent(f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
        from accumulate.cli import main
        sys.exit(main(["run", {str(config)!r}]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == OUTPUT, done.stderr
    assert "cannot write the outputs of the run" in done.stderr and "File too large" in done.stderr
    assert "Traceback" not in done.stderr
    assert "partial outputs and the log:" in done.stderr
    assert _listing(setup.out) == before
    assert not list(tmp_path.glob(".out.partial-*"))  # the staging folder was moved aside, not left half-named
