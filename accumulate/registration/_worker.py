"""The elastix stages and transformix, run in a child process: a crash of elastix becomes an error, never a dead command.

``python -m accumulate.registration._worker JOB.json`` reads the jobs written by
:func:`accumulate.registration.register` (raw MetaImage inputs, parameter maps, threads; the
registration and, for the inverse-consistency check, the one the other way round: one ITK
import for both), prints one progress line per stage start and end on stdout, and writes into
each job's folder
``field.mha`` (raw float32, fixed grid, moving point = p + u(p), mm, LPS), the transform
parameter maps and ``result.json`` (stage seconds, or elastix's own failure reason).

Threads are set as ITK's global default and maximum, never with the registration method's
``SetNumberOfThreads``: with that call a multi-metric registration (e.g.
AdvancedNormalizedCorrelation + TransformBendingEnergyPenalty, itk-elastix 0.25.4, ITK 5.4)
crashes in ``AdvancedNormalizedCorrelationImageToImageMetric::UpdateDerivativeTerms`` called
from ``ThreadedGetValueAndDerivative`` on a TBB worker (SIGSEGV, measured with 2 and 3
threads, never with 1 or the default), most likely per-thread storage sized for another number
of work units than the pool runs; with the global setting the same registration runs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._vector_files import read_scalar_meta, write_vector_file

RESULT_NAME = "result.json"
FIELD_NAME = "field.mha"


def _say(line: str) -> None:
    print(line, flush=True)


def _itk_image(path: str | None, itk: Any, pixel: Any) -> Any:
    if path is None:
        return None
    volume = read_scalar_meta(Path(path))
    array = np.ascontiguousarray(volume.array, dtype=np.float32 if pixel == "float" else np.uint8)
    return volume.grid.apply_to_itk(itk.image_from_array(array))


def _reason(stage_log: Path, exc: Exception) -> str:
    """Elastix's own reason for a failed stage: its last ``Description:`` line (from the stage log)."""
    text = stage_log.read_text(encoding="utf-8", errors="replace") if stage_log.exists() else ""
    lines = (text + "\n" + str(exc)).splitlines()
    reasons = [line.split("Description:", 1)[1].strip() for line in lines if "Description:" in line]
    return reasons[-1] if reasons else (str(exc).strip().splitlines() or [type(exc).__name__])[-1]


def run_jobs(job_path: Path) -> int:
    """Run the jobs listed in ``job_path`` in turn (see the module docstring); 0 on success, 1 on an elastix failure."""
    for job in json.loads(job_path.read_text(encoding="utf-8"))["jobs"]:
        if run_job(job):
            return 1
    return 0


def run_job(job: dict[str, Any]) -> int:
    """Run one registration job; 0 on success, 1 when elastix refused it (the reason in its ``result.json``)."""
    out = Path(job["output_directory"])
    start = time.perf_counter()
    import itk

    if job.get("threads"):
        itk.MultiThreaderBase.SetGlobalMaximumNumberOfThreads(int(job["threads"]))
        itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(int(job["threads"]))
    fixed, moving = _itk_image(job["fixed"], itk, "float"), _itk_image(job["moving"], itk, "float")
    masks = (_itk_image(job.get("fixed_mask"), itk, "mask"), _itk_image(job.get("moving_mask"), itk, "mask"))
    # ITK loads its wrapped modules lazily, at the first use of each class (about 12 s of CPU for elastix's): done
    # here, so that the stage times are elastix's own
    itk.ElastixRegistrationMethod.New(fixed, moving)
    itk.TransformixFilter.New(fixed)
    _say(f"elastix loaded in {time.perf_counter() - start:.1f} s")
    transforms = None
    if job.get("initial") is not None:
        transforms = itk.ParameterObject.New()
        transforms.AddParameterMap(job["initial"])
    seconds: list[tuple[str, float]] = []
    names = job["stage_names"]
    for index, entries in enumerate(job["maps"], start=1):
        _say(f"registration stage {index}/{len(names)}: {names[index - 1]} ...")
        (out / "current_stage").write_text(names[index - 1], encoding="utf-8")
        start = time.perf_counter()
        obj = itk.ParameterObject.New()
        obj.AddParameterMap(entries)
        method = itk.ElastixRegistrationMethod.New(fixed, moving)
        method.SetParameterObject(obj)
        if masks[0] is not None:
            method.SetFixedMask(masks[0])
        if masks[1] is not None:
            method.SetMovingMask(masks[1])
        if transforms is not None:
            method.SetInitialTransformParameterObject(transforms)
        method.SetLogToConsole(False)
        method.SetLogToFile(True)
        method.SetOutputDirectory(str(out))
        method.SetLogFileName(f"elastix.stage{index}.log")
        try:
            method.Update()
        except RuntimeError as exc:
            failure = {"stage": names[index - 1], "reason": _reason(out / f"elastix.stage{index}.log", exc)}
            (out / RESULT_NAME).write_text(json.dumps({"failure": failure}), encoding="utf-8")
            return 1
        transforms = method.GetTransformParameterObject()
        seconds.append((names[index - 1], time.perf_counter() - start))
        _say(f"registration stage {index}/{len(names)}: {names[index - 1]} done in {seconds[-1][1]:.1f} s")
    (out / "current_stage").write_text("transformix (dense field)", encoding="utf-8")
    transformix = itk.TransformixFilter.New(fixed)
    transformix.SetTransformParameterObject(transforms)
    transformix.ComputeDeformationFieldOn()
    transformix.SetLogToConsole(False)
    transformix.SetOutputDirectory(str(out))
    transformix.Update()
    from ..geometry import DisplacementField, Grid

    image = transformix.GetOutputDeformationField()
    field = DisplacementField(np.asarray(itk.array_view_from_image(image), dtype=np.float32), Grid.from_itk(image))
    write_vector_file(field, out / FIELD_NAME, compress=False)
    for written in out.glob("deformationField.*"):  # transformix's own copy of the field
        written.unlink()
    maps = [{k: list(v) for k, v in transforms.GetParameterMap(i).items()} for i in range(transforms.GetNumberOfParameterMaps())]
    (out / RESULT_NAME).write_text(json.dumps({"stage_s": seconds, "parameter_maps": maps}), encoding="utf-8")
    (out / "current_stage").unlink()
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a child process by register()
    sys.exit(run_jobs(Path(sys.argv[1])))
