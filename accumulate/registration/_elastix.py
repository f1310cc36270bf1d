"""Deformable registration of the prior-course CT (moving) to the re-irradiation CT (fixed) with elastix.

Each parameter file is one stage (rigid -> affine -> B-spline in the presets); the stages run one
after the other, each starting from the transforms before it, so progress can be shown per stage.
Elastix runs in a child process (:mod:`._worker`), so that a crash inside elastix is a
RegistrationError naming the stage, never a dead command; the images go to it as raw
MetaImage files (no compression, no ITK in this process). Elastix writes its log to a file in
the output directory, never to the console.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._resources import resource_dir
from ..errors import InputError, RegistrationError
from ..geometry import DisplacementField, Grid, Volume
from ._initial import initial_transform_map
from ._parameter_files import parameter_maps, write_parameter_file
from ._vector_files import read_vector_file, write_scalar_meta

log = logging.getLogger(__name__)

LOG_NAME = "elastix.log"
_STAGE_NAMES = {
    "EulerTransform": "rigid",
    "SimilarityTransform": "similarity",
    "AffineTransform": "affine",
    "BSplineTransform": "B-spline",
    "RecursiveBSplineTransform": "B-spline",
}


@dataclass(frozen=True, eq=False)
class RegistrationResult:
    """What :func:`register` produced.

    Attributes
    ----------
    field : DisplacementField
        On the fixed grid; moving point = fixed point + u (mm, LPS).
    parameter_maps : tuple of dict
        The elastix transform parameter maps in the order they are applied (initial transform first).
    output_directory : Path
        Holds ``elastix.log`` and ``TransformParameters.<i>.txt``.
    stage_s : tuple of (str, float)
        Wall time of each stage, in order.
    backward : RegistrationResult or None
        With ``register(..., backward=True)``: the registration the other way round (fixed and
        moving swapped; its field on the moving grid), in ``output_directory / "backward"``.
    """

    field: DisplacementField
    parameter_maps: tuple[dict[str, tuple[str, ...]], ...]
    output_directory: Path
    stage_s: tuple[tuple[str, float], ...]
    backward: RegistrationResult | None = None

    @property
    def log_path(self) -> Path:
        """The elastix log of every stage, one after the other."""
        return self.output_directory / LOG_NAME


def presets() -> list[str]:
    """Names of the parameter-file presets shipped in ``configs/elastix/``."""
    return sorted(p.name for p in (resource_dir("configs") / "elastix").iterdir() if p.is_dir())


def preset_files(preset: str) -> list[Path]:
    """The parameter files of a preset, in the order they run."""
    folder = resource_dir("configs") / "elastix" / preset
    if not folder.is_dir():
        raise InputError(f"unknown elastix preset '{preset}'; choose one of {presets()} or give parameter files")
    return sorted(folder.glob("*.txt"))


def _check_inputs(fixed: Volume, moving: Volume, masks: Mapping[str, Volume | None], moving_to_fixed: Any) -> None:
    for name, mask in masks.items():
        if mask is None:
            continue
        image = fixed if name.startswith("fixed") else moving
        image.grid.require_same(mask.grid, f"{name} and its CT")
        if not np.asarray(mask.to_numpy().array).any():
            raise RegistrationError(f"{name} is empty: it selects no voxel; give a mask that covers the body or none")
    corners = moving.grid.corners_world()
    if moving_to_fixed is not None:
        matrix = np.asarray(moving_to_fixed, dtype=float)
        corners = corners @ matrix[:3, :3].T + matrix[:3, 3]
    fixed_corners = fixed.grid.corners_world()
    lo = np.maximum(corners.min(0), fixed_corners.min(0))
    hi = np.minimum(corners.max(0), fixed_corners.max(0))
    if np.any(hi <= lo):
        raise RegistrationError(
            "the fixed and moving CTs do not overlap in patient coordinates:\n"
            f"  fixed : {fixed.grid.describe()}\n  moving: {moving.grid.describe()}\n"
            "give an initial alignment (a DICOM spatial registration) or check the inputs"
        )


def _worker_command(job: Path) -> list[str]:
    """The child process that runs elastix (``accumulate.registration._worker``)."""
    return [sys.executable, "-m", "accumulate.registration._worker", str(job)]


def _crash(returncode: int, out: Path) -> RegistrationError:
    """The error for a worker killed by a signal (elastix crashed) or exiting without a result."""
    stage_file = out / "current_stage"
    stage = stage_file.read_text(encoding="utf-8") if stage_file.exists() else "start-up"
    try:
        how = f"signal {signal.Signals(-returncode).name}" if returncode < 0 else f"exit status {returncode}"
    except ValueError:
        how = f"signal {-returncode}"
    return RegistrationError(
        f"elastix crashed during '{stage}' ({how}); no field was produced. Try other parameters (another metric, "
        f"fewer threads) and see the log: {out / LOG_NAME}"
    )


def _run_worker(jobs: list[dict[str, Any]], out: Path, report: Callable[[str], None]) -> list[dict[str, Any]]:
    """Run the elastix worker on ``jobs`` (one ITK import), relaying its progress; each job's ``result.json``.

    A job that elastix refused gives ``{"failure": {"stage": ..., "reason": ...}}``; a crash
    (the worker killed by a signal, or gone without results) raises RegistrationError.
    """
    from ._worker import RESULT_NAME

    job_path = out / "job.json"
    job_path.write_text(json.dumps({"jobs": jobs}), encoding="utf-8")
    results = [Path(job["output_directory"]) / RESULT_NAME for job in jobs]
    for path in results:
        path.unlink(missing_ok=True)
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    child = subprocess.Popen(_worker_command(job_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    extra = []
    assert child.stdout is not None
    for line in child.stdout:
        line = line.rstrip("\n")
        if line.startswith(("registration stage", "elastix loaded")):
            report(line)
        elif line.strip():
            extra.append(line)
    returncode = child.wait()
    done = [json.loads(path.read_text(encoding="utf-8")) for path in results if path.exists()]
    if returncode == 1 and done and "failure" in done[-1]:
        return done
    if returncode != 0 or len(done) < len(jobs):
        if extra:
            log.error("elastix worker output:\n%s", "\n".join(extra[-20:]))
        raise _crash(returncode, Path(jobs[len(done) if len(done) < len(jobs) else -1]["output_directory"]))
    return done


def register(
    fixed: Volume,
    moving: Volume,
    *,
    preset: str = "fast",
    parameter_files: Sequence[Any] | None = None,
    fixed_mask: Volume | None = None,
    moving_mask: Volume | None = None,
    initial_moving_to_fixed: Any = None,
    overrides: Mapping[str, Any] | None = None,
    output_directory: Any = None,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
    backward: bool = False,
) -> RegistrationResult:
    """Register the moving (prior-course) CT to the fixed (re-irradiation) CT with elastix.

    Parameters
    ----------
    fixed, moving : Volume
        CTs in HU with their LPS grids.
    preset : str
        ``"fast"`` or ``"accurate"`` (``configs/elastix/<preset>/*.txt``, rigid -> affine -> B-spline).
    parameter_files : sequence of path, optional
        Elastix parameter files, one stage each, used instead of the preset.
    fixed_mask, moving_mask : Volume of bool, optional
        Regions (e.g. the body) where the metric is evaluated; on the grid of their CT.
    initial_moving_to_fixed : (4, 4) array, optional
        A rigid/affine start mapping moving LPS mm to fixed LPS mm (the DICOM spatial
        registration convention, see :func:`read_rigid_registration`).
    overrides : mapping, optional
        Elastix parameters set in every stage, e.g. ``{"MaximumNumberOfIterations": 50}``.
    output_directory : path, optional
        Where ``elastix.log`` and the transform parameter files go (a new temporary folder if omitted).
    threads : int, optional
        Worker threads for elastix (all cores if omitted).
    progress : callable, optional
        Called with one line per stage start and end (default: the module logger at INFO).
    backward : bool
        Also register the other way round (moving -> fixed, masks swapped, the inverse start) in
        the same elastix process, for the inverse-consistency check: ``result.backward``.

    Returns
    -------
    RegistrationResult
        ``field`` lives on the fixed grid: moving point = fixed point + u(fixed point), mm, LPS.

    Raises
    ------
    RegistrationError
        Images that do not overlap, an empty mask, an elastix failure or a non-finite field.
    """
    files = list(parameter_files) if parameter_files else preset_files(preset)
    maps = parameter_maps(files, overrides or {})
    _check_inputs(fixed, moving, {"fixed mask": fixed_mask, "moving mask": moving_mask}, initial_moving_to_fixed)
    out = Path(output_directory) if output_directory is not None else Path(tempfile.mkdtemp(prefix="accumulate-elastix-"))
    out.mkdir(parents=True, exist_ok=True)
    inputs = out / "inputs"
    images = {}
    for key, volume, kind in (("fixed", fixed, np.float32), ("moving", moving, np.float32),
                              ("fixed_mask", fixed_mask, np.uint8), ("moving_mask", moving_mask, np.uint8)):  # fmt: skip
        if volume is not None:
            array = np.asarray(volume.to_numpy().array)
            array = array > 0 if kind is np.uint8 else array
            volume = volume.with_array(np.ascontiguousarray(array, dtype=kind))
            images[key] = str(write_scalar_meta(volume, inputs / f"{key}.mha"))
    common = {"maps": maps, "stage_names": [_STAGE_NAMES.get(m["Transform"][0], m["Transform"][0]) for m in maps],
              "threads": threads}  # fmt: skip
    initial = None if initial_moving_to_fixed is None else np.asarray(initial_moving_to_fixed, dtype=float)
    jobs = [{**common, "output_directory": str(out), "initial": None if initial is None else initial_transform_map(initial),
             **images}]  # fmt: skip
    if backward:
        swapped = {"fixed": images["moving"], "moving": images["fixed"]}
        swapped.update({f"{a}_mask": images[f"{b}_mask"] for a, b in (("fixed", "moving"), ("moving", "fixed"))
                        if f"{b}_mask" in images})  # fmt: skip
        (out / "backward").mkdir(exist_ok=True)
        inverse = None if initial is None else initial_transform_map(np.linalg.inv(initial))
        jobs.append({**common, "output_directory": str(out / "backward"), "initial": inverse, **swapped})
    try:
        results = _run_worker(jobs, out, progress or log.info)
    finally:
        shutil.rmtree(inputs, ignore_errors=True)
        (out / "job.json").unlink(missing_ok=True)
        for job in jobs:
            _collect_logs(Path(job["output_directory"]), len(maps))
    grids = (fixed.grid, moving.grid)
    done = [_result(job, result, grid) for job, result, grid in zip(jobs, results, grids, strict=False)]
    return done[0] if len(done) == 1 else replace(done[0], backward=done[1])


def _result(job: dict[str, Any], result: dict[str, Any], grid: Grid) -> RegistrationResult:
    """The RegistrationResult of one worker job (its field on ``grid``), or the RegistrationError elastix gave."""
    from ._worker import FIELD_NAME, RESULT_NAME

    out = Path(job["output_directory"])
    if "failure" in result:
        stage, detail = result["failure"]["stage"], result["failure"]["reason"]
        hint = ""
        if "outside" in detail.lower():
            hint = "; the images or masks barely overlap: check the initial alignment (a DICOM REG start) and the masks"
        raise RegistrationError(f"elastix stage '{stage}' failed: {detail}{hint}. Full log: {out / LOG_NAME}")
    loaded = read_vector_file(out / FIELD_NAME)
    (out / FIELD_NAME).unlink()
    (out / RESULT_NAME).unlink()
    field = DisplacementField(loaded.array, grid)
    if not np.isfinite(field.array).all():
        raise RegistrationError(f"the optimisation diverged: the field holds NaN/inf values. Full log: {out / LOG_NAME}")
    maps = tuple({k: tuple(v) for k, v in m.items()} for m in result["parameter_maps"])
    for i, entries in enumerate(maps):
        write_parameter_file(entries, out / f"TransformParameters.{i}.txt")
    return RegistrationResult(field, maps, out, tuple((name, float(t)) for name, t in result["stage_s"]))


def _collect_logs(out: Path, stages: int) -> None:
    """Append the per-stage elastix logs to ``elastix.log`` and remove them."""
    with open(out / LOG_NAME, "a", encoding="utf-8") as combined:
        for index in range(1, stages + 1):
            part = out / f"elastix.stage{index}.log"
            if part.exists():
                combined.write(f"===== elastix stage {index} =====\n")
                combined.write(part.read_text(encoding="utf-8", errors="replace"))
                part.unlink()
    for info in out.glob("IterationInfo.*.txt"):
        info.unlink()
