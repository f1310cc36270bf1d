"""Stage 7: the run's files, each written atomically into the run's staging folder.

DICOM (see ``_dicom_outputs`` for what each says it is): cumulative_eqd2.dcm (EFFECTIVE),
cumulative_physical.dcm, warped_<course>.dcm and remaining_dose.dcm, on the reference dose grid
in the reference frame of reference; field_<course>.dcm (deformable REG) beside
field_<course>.mha; remaining_dose_nolimit.mha and remaining_dose_regions.dcm (RTSTRUCT); uncertainty_<eqdx>.mha
(the DIR uncertainty band's width, with an ``[uncertainty] method``). Then
the report package writes what a person reads from the result (:func:`accumulate.report.write_run_report`):
dvh.csv, report.html, report.pdf and summary.json.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..report import write_run_report
from ._dicom_outputs import remaining_dose_cap, write_dicom_outputs
from ._result import RunResult
from ._uncertainty import write_uncertainty


def write_outputs(result: RunResult, stage_s: Mapping[str, float]) -> None:
    """Write every output of a run into ``result.output_dir``; fills ``result.files`` and ``result.summary``."""
    result.files.update(write_dicom_outputs(result))
    result.files.update(write_uncertainty(result.uncertainty, result.output_dir, result.evaluation.quantity))
    result.files.update(write_run_report(result, stage_s, remaining_dose_cap(result.prepared.reference)))
