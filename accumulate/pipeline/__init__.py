"""The re-irradiation pipeline: :func:`run` a configuration end to end (see :mod:`accumulate.config`).

A run keeps its preparation (courses read, fields, warped doses) in ``RunResult.prepared``;
:func:`evaluate` re-runs only the voxelwise stages (EQD2, recovery, remaining dose, DVHs,
verdicts) on it under other radiobiology settings: ``evaluate(result.prepared.variant(other))``;
:func:`dir_uncertainty` the registration-uncertainty bound (``[uncertainty]``) on it.
"""

from ._command import print_summary
from ._dicom_outputs import remaining_dose_cap
from ._evaluate import Evaluation, evaluate
from ._prepare import Preflight, Prepared, preflight
from ._result import RunResult
from ._run import run
from ._status import RunStatus, run_status
from ._uncertainty import Uncertainty, dir_uncertainty

__all__ = [
    "Evaluation",
    "Preflight",
    "Prepared",
    "RunResult",
    "RunStatus",
    "Uncertainty",
    "dir_uncertainty",
    "evaluate",
    "preflight",
    "print_summary",
    "remaining_dose_cap",
    "run",
    "run_status",
]
