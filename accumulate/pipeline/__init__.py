"""The re-irradiation pipeline: :func:`run` a configuration end to end (see :mod:`accumulate.config`)."""

from ._outputs import UNCONSTRAINED_GY
from ._run import RunResult, run

__all__ = ["UNCONSTRAINED_GY", "RunResult", "run"]
