"""``accumulate.run``: configuration -> courses -> fields -> warped doses -> EQD2 -> verdicts -> outputs.

The one place that knows the order of the stages: :func:`prepare` (stages 1-4, in ``_prepare``),
:func:`evaluate` (5-6, in ``_evaluate``) and the outputs (7, in ``_outputs``). Each stage is timed
and announced; the log (elastix included) goes to ``<out>/accumulate.log``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..backends import resolve
from ..config import RunConfig, load_config
from ..evaluation import Verdict
from ..geometry import Volume
from ._evaluate import Evaluation, evaluate
from ._outputs import write_outputs
from ._prepare import Prepared, prepare
from ._stages import Stages

log = logging.getLogger("accumulate")


@dataclass
class RunResult:
    """What a run produced: the volumes on the reference dose grid, the verdicts and the output paths.

    ``prepared`` and ``evaluation`` keep the intermediate results, so that stages 5-6 can be
    evaluated again under other settings: ``evaluate(result.prepared.variant(config))``.
    """

    config: RunConfig
    output_dir: Path
    cumulative_eqd2: Volume
    cumulative_physical: Volume
    remaining_dose: Volume
    warped: dict[str, Volume]
    verdicts: list[Verdict]
    summary: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)
    prepared: Prepared | None = field(default=None, repr=False)
    evaluation: Evaluation | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return all(v.passed is not False for v in self.verdicts)


def run(
    config: RunConfig | str | Path,
    *,
    output_dir: str | Path | None = None,
    backend: str | None = None,
    progress: Callable[[str], None] = print,
) -> RunResult:
    """Run the whole re-irradiation accumulation described by ``config`` (a RunConfig or a TOML path).

    Outputs (in ``output_dir``, default the configuration's ``[output] dir``), all written atomically:
    ``cumulative_eqd2.dcm``, ``cumulative_physical.dcm``, ``warped_<course>.dcm``,
    ``remaining_dose.dcm``, ``field_<course>.mha``, ``dvh.csv``, ``summary.json``, ``report.html``
    and ``accumulate.log``.
    """
    config = config if isinstance(config, RunConfig) else load_config(config)
    out = Path(output_dir).resolve() if output_dir is not None else config.output_dir
    out.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out / "accumulate.log", mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        return _run(config, out, resolve(backend or config.backend), progress)
    finally:
        log.removeHandler(handler)
        handler.close()


def _run(config: RunConfig, out: Path, backend: str, progress: Callable[[str], None]) -> RunResult:
    stages = Stages(progress)
    log.info("configuration %s, backend %s", config.source, backend)
    prepared = prepare(config, out, backend, stages)
    evaluation = evaluate(prepared, stages)

    stages.start("write outputs")
    result = RunResult(config, out, evaluation.cumulative, evaluation.physical, evaluation.remaining, prepared.warped,
                       evaluation.verdicts, {}, prepared=prepared, evaluation=evaluation)  # fmt: skip
    write_outputs(result, stages.seconds)
    stages.done()
    result.summary["stages_s"] = stages.seconds
    return result
