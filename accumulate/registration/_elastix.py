"""Deformable registration of the prior-course CT (moving) to the re-irradiation CT (fixed) with elastix.

Each parameter file is one stage (rigid -> affine -> B-spline in the presets); the stages run one
after the other, each starting from the transforms before it, so progress can be shown per stage.
Elastix writes its log to a file in the output directory, never to the console.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._resources import resource_dir
from ..errors import InputError, RegistrationError
from ..geometry import DisplacementField, Grid, Volume
from ._initial import initial_transform_map

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
    stage_seconds : tuple of (str, float)
        Wall time of each stage, in order.
    """

    field: DisplacementField
    parameter_maps: tuple[dict[str, tuple[str, ...]], ...]
    output_directory: Path
    stage_seconds: tuple[tuple[str, float], ...]

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


def _parameter_maps(files: Sequence[Any], overrides: Mapping[str, Any]) -> list[dict[str, list[str]]]:
    import itk

    maps = []
    for path in map(Path, files):
        if not path.is_file():
            raise InputError(f"elastix parameter file '{path}' does not exist")
        obj = itk.ParameterObject.New()
        try:
            obj.ReadParameterFile(str(path))
        except RuntimeError as exc:
            raise InputError(f"could not parse elastix parameter file '{path}': {exc}") from None
        entries = {k: list(v) for k, v in obj.GetParameterMap(0).items()}
        if "Transform" not in entries:
            raise InputError(f"elastix parameter file '{path}' names no (Transform ...)")
        for key, value in overrides.items():
            entries[key] = [str(v) for v in (value if isinstance(value, list | tuple) else [value])]
        maps.append(entries)
    if not maps:
        raise InputError("no elastix parameter files given")
    return maps


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


def _uchar(mask: Volume) -> Any:
    return mask.with_array(np.ascontiguousarray(np.asarray(mask.to_numpy().array) > 0, dtype=np.uint8)).to_itk()


def _failure(stage: str, exc: Exception, stage_log: Path, log_file: Path) -> RegistrationError:
    """A RegistrationError with elastix's own reason (its last ``Description:`` line, from the stage log)."""
    text = stage_log.read_text(encoding="utf-8", errors="replace") if stage_log.exists() else ""
    lines = (text + "\n" + str(exc)).splitlines()
    reasons = [line.split("Description:", 1)[1].strip() for line in lines if "Description:" in line]
    detail = reasons[-1] if reasons else str(exc).strip().splitlines()[-1]
    hint = ""
    if "outside" in detail.lower():
        hint = "; the images or masks barely overlap: check the initial alignment (a DICOM REG start) and the masks"
    return RegistrationError(f"elastix stage '{stage}' failed: {detail}{hint}. Full log: {log_file}")


def _run_stage(
    fixed: Any, moving: Any, entries: dict, masks: tuple[Any, Any], initial: Any, out: Path, index: int, threads: int | None
) -> Any:
    import itk

    obj = itk.ParameterObject.New()
    obj.AddParameterMap(entries)
    method = itk.ElastixRegistrationMethod.New(fixed, moving)
    method.SetParameterObject(obj)
    if masks[0] is not None:
        method.SetFixedMask(masks[0])
    if masks[1] is not None:
        method.SetMovingMask(masks[1])
    if initial is not None:
        method.SetInitialTransformParameterObject(initial)
    method.SetLogToConsole(False)
    method.SetLogToFile(True)
    method.SetOutputDirectory(str(out))
    method.SetLogFileName(f"elastix.stage{index}.log")
    if threads:
        method.SetNumberOfThreads(int(threads))
    method.Update()
    return method.GetTransformParameterObject()


def _dense_field(fixed_itk: Any, transforms: Any, grid: Grid, out: Path) -> DisplacementField:
    """The dense field on the fixed grid; transformix writes its files into ``out`` (never the working directory)."""
    import itk

    transformix = itk.TransformixFilter.New(fixed_itk)
    transformix.SetTransformParameterObject(transforms)
    transformix.ComputeDeformationFieldOn()
    transformix.SetLogToConsole(False)
    transformix.SetOutputDirectory(str(out))
    transformix.Update()
    array = np.array(itk.array_view_from_image(transformix.GetOutputDeformationField()), dtype=np.float32, copy=True)
    return DisplacementField(array, grid)


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

    Returns
    -------
    RegistrationResult
        ``field`` lives on the fixed grid: moving point = fixed point + u(fixed point), mm, LPS.

    Raises
    ------
    RegistrationError
        Images that do not overlap, an empty mask, an elastix failure or a non-finite field.
    """
    import itk

    files = list(parameter_files) if parameter_files else preset_files(preset)
    maps = _parameter_maps(files, overrides or {})
    _check_inputs(fixed, moving, {"fixed mask": fixed_mask, "moving mask": moving_mask}, initial_moving_to_fixed)
    out = Path(output_directory) if output_directory is not None else Path(tempfile.mkdtemp(prefix="accumulate-elastix-"))
    out.mkdir(parents=True, exist_ok=True)
    report = progress or log.info
    fixed_itk, moving_itk = fixed.to_itk().astype(itk.F), moving.to_itk().astype(itk.F)
    masks = (_uchar(fixed_mask) if fixed_mask is not None else None, _uchar(moving_mask) if moving_mask is not None else None)
    transforms = None
    if initial_moving_to_fixed is not None:
        transforms = itk.ParameterObject.New()
        transforms.AddParameterMap(initial_transform_map(initial_moving_to_fixed))
    seconds = []
    try:
        for index, entries in enumerate(maps, start=1):
            name = _STAGE_NAMES.get(entries["Transform"][0], entries["Transform"][0])
            report(f"registration stage {index}/{len(maps)}: {name} ...")
            start = time.perf_counter()
            try:
                transforms = _run_stage(fixed_itk, moving_itk, entries, masks, transforms, out, index, threads)
            except RuntimeError as exc:
                raise _failure(name, exc, out / f"elastix.stage{index}.log", out / LOG_NAME) from None
            seconds.append((name, time.perf_counter() - start))
            report(f"registration stage {index}/{len(maps)}: {name} done in {seconds[-1][1]:.1f} s")
    finally:
        _collect_logs(out, len(maps))
    field = _dense_field(fixed_itk, transforms, fixed.grid, out)
    if not np.isfinite(field.array).all():
        raise RegistrationError(f"the optimisation diverged: the field holds NaN/inf values. Full log: {out / LOG_NAME}")
    parameter_maps = tuple(
        {k: tuple(v) for k, v in transforms.GetParameterMap(i).items()} for i in range(transforms.GetNumberOfParameterMaps())
    )
    for i, entries in enumerate(parameter_maps):
        _write_parameter_file(entries, out / f"TransformParameters.{i}.txt")
    return RegistrationResult(field, parameter_maps, out, tuple(seconds))


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


def _write_parameter_file(entries: Mapping[str, Sequence[str]], path: Path) -> None:
    """Write one elastix parameter map as a parameter file: ``(Key value ...)``, text values quoted."""

    def token(value: str) -> str:
        try:
            float(value)
        except ValueError:
            return f'"{value}"'
        return value

    lines = [f"({key} {' '.join(token(v) for v in values)})" for key, values in sorted(entries.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
