"""read_plan on real plans and a synthetic ion plan; the structure-name synonym table."""

from __future__ import annotations

import datetime as dt

import pydicom
import pytest
from io_synthetic import DICOMPYLER, ECLIPSE, PYDICOM_RT

from accumulate.errors import InputError
from accumulate.io import find_structure, read_plan
from accumulate.names import normalise, synonym_groups

ECLIPSE_PLAN = next((ECLIPSE / "dicom-prostate").glob("RP.*.dcm"))


@pytest.mark.parametrize(
    ("path", "fractions", "prescription", "plan_date"),
    [
        (PYDICOM_RT / "rtplan.dcm", 30, 30.826203, dt.date(2003, 9, 3)),  # only a COORDINATES target
        (DICOMPYLER / "rtplan.dcm", 7, 14.0, dt.date(1901, 1, 1)),  # SITE target 14 Gy beats the 11.3 Gy calc point
        (ECLIPSE_PLAN, 23, 46.0, dt.date(2011, 9, 22)),
    ],
    ids=["pydicom", "dicompyler", "eclipse"],
)
def test_real_plans(path, fractions, prescription, plan_date):
    ds = pydicom.dcmread(path, force=True)
    plan = read_plan(path)
    assert plan.sop_instance_uid == ds.SOPInstanceUID
    assert plan.fractions == fractions == int(ds.FractionGroupSequence[0].NumberOfFractionsPlanned)
    assert plan.prescription_gy == pytest.approx(prescription)
    assert plan.plan_date == plan_date
    assert plan.radiation_type == "PHOTON" and not plan.rbe_weighted
    assert plan.structure_set_uid == ds.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID


def test_carbon_ion_plan_is_rbe_weighted(tmp_path):
    ds = pydicom.dcmread(PYDICOM_RT / "rtplan.dcm", force=True)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.481.8"
    beam = ds.BeamSequence[0]
    beam.RadiationType, beam.RadiationAtomicNumber = "ION", 6
    ds.IonBeamSequence = [beam]
    del ds.BeamSequence
    ds.save_as(tmp_path / "ion.dcm")
    plan = read_plan(tmp_path / "ion.dcm")
    assert (plan.radiation_type, plan.atomic_number, plan.rbe_weighted) == ("ION", 6, True)


def test_not_a_plan():
    with pytest.raises(InputError, match=r"ct\.0\.dcm: not an RT Plan"):
        read_plan(DICOMPYLER / "ct.0.dcm")


def test_synonym_table_loads_and_no_name_is_in_two_entries():
    groups = synonym_groups()  # raises ConfigError on a name in two entries
    assert groups[normalise("Myelon")] == groups[normalise("Spinal Cord")]
    assert normalise("Spinal_Cord ") == "spinalcord"


@pytest.mark.parametrize(
    ("available", "wanted", "found"),
    [
        (["BODY", "SpinalCord", "PTV"], "Spinal Cord", "SpinalCord"),
        (["CORD", "PTV"], "spinal cord", "CORD"),
        (["Myelon", "PTV"], "SPINAL_CORD", "Myelon"),
        (["Lt Lung", "Heart"], "Lung L", "Lt Lung"),
        (["Femoral Head Lt", "Femoral Head RT"], "Femoral Head R", "Femoral Head RT"),
        (["Cord", "Spinal Cord"], "spinal cord", "Spinal Cord"),  # an exact spelling wins over a synonym
    ],
)
def test_find_structure(available, wanted, found):
    assert find_structure(available, wanted) == found
    assert find_structure({name: None for name in available}, wanted) == found


def test_find_structure_refusals():
    with pytest.raises(InputError, match=r"no structure matches 'Brainstem'.*available: \['CORD', 'PTV'\]"):
        find_structure(["CORD", "PTV"], "Brainstem")
    with pytest.raises(
        InputError, match=r"(?s)'Spinal Cord' is ambiguous: the case has \['CORD', 'Myelon'\].*\[structures.rename\]"
    ):
        find_structure(["CORD", "Myelon"], "Spinal Cord")
