"""The re-irradiation pipeline: :func:`run` a configuration end to end (see :mod:`accumulate.config`).

A run keeps its preparation (courses read, fields, warped doses) in ``RunResult.prepared``;
:func:`evaluate` re-runs only the voxelwise stages (EQD2, recovery, remaining dose, DVHs,
verdicts) on it under other radiobiology settings: ``evaluate(result.prepared.variant(other))``.
"""

from ._evaluate import Evaluation, evaluate
from ._outputs import UNCONSTRAINED_GY
from ._prepare import Prepared
from ._run import RunResult, run

__all__ = ["UNCONSTRAINED_GY", "Evaluation", "Prepared", "RunResult", "evaluate", "run"]
