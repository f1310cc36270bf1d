"""``accumulate.run``: configuration -> courses and checks -> fields -> warped doses -> EQDx -> verdicts -> outputs.

The one place that knows the order of the stages: :func:`prepare` (stages 1-4, in ``_prepare``),
:func:`evaluate` (5-6, in ``_evaluate``) and the outputs (7, in ``_outputs``). Each stage is timed
and announced; the log (elastix included) goes to ``<out>/accumulate.log``. The outputs are
written into a staging folder beside ``<out>`` and swapped in whole when everything is written
(see :class:`accumulate.atomic.StagedFolder`): a failed run leaves an earlier run's results
untouched and its partial outputs in ``.<out>.failed``.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from pathlib import Path

from ..atomic import StagedFolder
from ..backends import resolve
from ..config import RunConfig, load_config
from ..errors import AccumulateError, OutputError
from ._evaluate import evaluate
from ._outputs import write_outputs
from ._prepare import prepare
from ._result import RunResult
from ._stages import Stages
from ._status import run_status
from ._uncertainty import dir_uncertainty

log = logging.getLogger("accumulate")


def run(
    config: RunConfig | str | Path,
    *,
    output_dir: str | Path | None = None,
    backend: str | None = None,
    progress: Callable[[str], None] = print,
) -> RunResult:
    """Run the whole re-irradiation accumulation described by ``config`` (a RunConfig or a TOML path).

    Outputs (in ``output_dir``, default the configuration's ``[output] dir``) appear together or
    not at all: ``cumulative_eqd2.dcm`` (``cumulative_eqd<x>.dcm`` for another reference dose per
    fraction), ``cumulative_physical.dcm``, ``warped_<course>.dcm``, ``remaining_dose.dcm``,
    ``field_<course>.mha``, ``uncertainty_eqd2.mha`` (with an ``[uncertainty] method``),
    ``registration/<course>/uncertainty_mm.mha`` (``method = "inverse-consistency"``: the per-voxel
    radius), ``dvh.csv``, ``summary.json``, ``report.html``, ``report.pdf`` (where Chromium could
    print it) and ``accumulate.log``.

    Raises
    ------
    AccumulateError
        For bad input, geometry or configuration, a failed registration, an unavailable backend
        (its subclasses), or outputs that cannot be written (OutputError). The error's notes
        (``__notes__``) say where the partial outputs and the log were kept.
    """
    config = config if isinstance(config, RunConfig) else load_config(config)
    out = Path(output_dir).absolute() if output_dir is not None else config.output_dir
    staging = StagedFolder(out)
    handler = logging.FileHandler(staging.path / "accumulate.log", mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        result = _run(config, staging.path, resolve(backend or config.backend), progress)
        log.removeHandler(handler)
        handler.close()
        staging.commit()
    except BaseException as exc:
        if isinstance(exc, (AccumulateError, OSError)):  # an OSError here is the outputs' disk or folder: said below
            log.error("run failed: %s", exc)
        else:
            log.exception("run failed")
        log.removeHandler(handler)
        handler.close()
        kept = staging.abandon()
        if isinstance(exc, OSError) and not isinstance(exc, AccumulateError):
            reason = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EFBIG) else exc.strerror or str(exc)
            where = f" ({exc.filename})" if exc.filename else ""
            error = OutputError(f"cannot write the outputs of the run into {out}: {reason}{where}")
            if kept:
                error.add_note(f"partial outputs and the log: {kept}")
            raise error from None
        if kept is not None and isinstance(exc, Exception):
            exc.add_note(f"partial outputs and the log: {kept} (the previous outputs in {out}, if any, are untouched)")
        raise
    result.output_dir = out
    result.files = {key: out / path.relative_to(staging.path) for key, path in result.files.items()}
    return result


def _run(config: RunConfig, out: Path, backend: str, progress: Callable[[str], None]) -> RunResult:
    stages = Stages(progress, skipped=("DIR uncertainty",) if config.uncertainty_method == "none" else ())
    log.info("configuration %s, backend %s", config.source, backend)
    prepared = prepare(config, out, backend, stages)
    evaluation = evaluate(prepared, stages)
    uncertainty = dir_uncertainty(prepared, evaluation, stages)
    status = run_status(
        evaluation.verdicts, prepared.checks, prepared.notes, config.constraints is not None, prepared.registration
    )

    stages.start("write outputs")
    result = RunResult(
        config,
        out,
        evaluation.cumulative,
        evaluation.physical,
        evaluation.remaining,
        prepared.warped,
        evaluation.verdicts,
        {},
        status,
        prepared=prepared,
        evaluation=evaluation,
        uncertainty=uncertainty,
    )
    try:
        write_outputs(result, stages.seconds)
    except RuntimeError as exc:  # ITK's writers report a full disk or a refused write as RuntimeError
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise OutputError(f"cannot write the outputs of the run: {reason}") from exc
    stages.done()
    result.summary["stages_s"] = stages.seconds
    return result
