"""What a run produced (:class:`RunResult`), shared by the stages that fill it and the outputs that read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..evaluation import Verdict
from ..geometry import Volume
from ._evaluate import Evaluation
from ._prepare import Prepared
from ._status import RunStatus
from ._uncertainty import Uncertainty


@dataclass
class RunResult:
    """What a run produced: the volumes on the reference dose grid, the verdicts, the status and the output paths.

    ``status`` says whether the run passed (see :mod:`accumulate.pipeline._status`); ``prepared``
    and ``evaluation`` keep the intermediate results, so that stages 5-6 can be evaluated again
    under other settings: ``evaluate(result.prepared.variant(config))``.
    """

    config: RunConfig
    output_dir: Path
    cumulative_eqd2: Volume
    cumulative_physical: Volume
    remaining_dose: Volume
    warped: dict[str, Volume]
    verdicts: list[Verdict]
    summary: dict[str, Any]
    status: RunStatus
    files: dict[str, Path] = field(default_factory=dict)
    prepared: Prepared | None = field(default=None, repr=False)
    evaluation: Evaluation | None = field(default=None, repr=False)
    uncertainty: Uncertainty | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        """True only when every constraint was evaluated and met on checked inputs (status "passed")."""
        return self.status.state == "passed"
