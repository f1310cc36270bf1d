"""Grids and volumes in DICOM patient coordinates (LPS, mm).

Conventions used everywhere in the package:

* Arrays are indexed ``(z, y, x)`` in C order: ``x`` is the fastest axis (DICOM columns),
  ``y`` the rows, ``z`` the slices.
* ``Grid.origin_mm`` is the LPS position (x, y, z) of the *centre* of voxel ``[0, 0, 0]``.
* ``Grid.spacing_mm`` is ``(sx, sy, sz)``: the step along the array's x, y and z index axes,
  the order ITK and DICOM use.
* ``Grid.direction`` is a 3x3 matrix whose *columns* are the unit vectors, in LPS, of the
  x, y and z index axes (ITK's direction matrix; DICOM's ImageOrientationPatient gives the
  first two columns, the slice normal the third).

So a continuous index ``(k, j, i)`` (z, y, x) sits at
``origin + direction @ (spacing * (i, j, k))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import GeometryError, InputError

__all__ = ["DisplacementField", "Grid", "LpsAxes", "Volume"]

_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _triple(value: Any, name: str) -> tuple[float, float, float]:
    arr = np.asarray(value, dtype=float).reshape(-1)
    if arr.size != 3 or not np.all(np.isfinite(arr)):
        raise GeometryError(f"{name} must be three finite numbers, got {value!r}")
    return (float(arr[0]), float(arr[1]), float(arr[2]))


@dataclass(frozen=True)
class Grid:
    """A regular 3-D sampling grid in DICOM patient coordinates (LPS, mm).

    Parameters
    ----------
    shape : (nz, ny, nx)
        Number of voxels along the z, y and x index axes (array order).
    origin_mm : (x, y, z)
        LPS position of the centre of voxel ``[0, 0, 0]``, mm.
    spacing_mm : (sx, sy, sz)
        Voxel size along the x, y and z index axes, mm, all > 0.
    direction : 9 floats, row-major 3x3
        Columns are the LPS unit vectors of the x, y and z index axes. Must be orthonormal.
    """

    shape: tuple[int, int, int]
    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)
    direction: tuple[float, ...] = field(default=_IDENTITY)

    def __post_init__(self) -> None:
        shape = tuple(int(n) for n in np.asarray(self.shape).reshape(-1))
        if len(shape) != 3 or min(shape) < 1:
            raise GeometryError(f"Grid shape must be three positive sizes (nz, ny, nx), got {self.shape!r}")
        spacing = _triple(self.spacing_mm, "Grid spacing_mm")
        if min(spacing) <= 0:
            raise GeometryError(f"Grid spacing_mm must be > 0 along every axis, got {spacing}")
        direction = np.asarray(self.direction, dtype=float).reshape(-1)
        if direction.size != 9:
            raise GeometryError(f"Grid direction must be a 3x3 matrix, got {self.direction!r}")
        matrix = direction.reshape(3, 3)
        if not np.allclose(matrix.T @ matrix, np.eye(3), atol=1e-4):
            raise GeometryError(f"Grid direction must be orthonormal (columns = unit axes), got\n{matrix}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "origin_mm", _triple(self.origin_mm, "Grid origin_mm"))
        object.__setattr__(self, "spacing_mm", spacing)
        object.__setattr__(self, "direction", tuple(float(v) for v in direction))

    # -- derived quantities -------------------------------------------------------------
    @property
    def direction_matrix(self) -> np.ndarray:
        """3x3 array; column c is the LPS unit vector of index axis c (x, y, z)."""
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def size(self) -> int:
        """Number of voxels."""
        return int(np.prod(self.shape))

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing_mm))

    @property
    def affine(self) -> np.ndarray:
        """4x4 matrix mapping homogeneous index ``(i, j, k, 1)`` (x, y, z order) to LPS mm."""
        out = np.eye(4)
        out[:3, :3] = self.direction_matrix * np.asarray(self.spacing_mm)[None, :]
        out[:3, 3] = self.origin_mm
        return out

    # -- index <-> world ----------------------------------------------------------------
    def world_from_index(self, index_zyx: Any) -> np.ndarray:
        """LPS points (..., 3) in (x, y, z) mm of continuous indices (..., 3) given as (z, y, x)."""
        idx = np.asarray(index_zyx, dtype=float)
        ijk = idx[..., ::-1]
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]

    def index_from_world(self, points_xyz: Any) -> np.ndarray:
        """Continuous indices (..., 3) as (z, y, x) of LPS points (..., 3) in (x, y, z) mm."""
        pts = np.asarray(points_xyz, dtype=float) - np.asarray(self.origin_mm)
        ijk = (pts @ self.direction_matrix) / np.asarray(self.spacing_mm)
        return ijk[..., ::-1]

    def axis_coordinates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Index positions along z, y and x: ``(arange(nz), arange(ny), arange(nx))``."""
        return tuple(np.arange(n, dtype=float) for n in self.shape)  # type: ignore[return-value]

    def world_coordinates(self) -> np.ndarray:
        """LPS position (x, y, z) of every voxel centre, shape ``shape + (3,)``."""
        zz, yy, xx = np.meshgrid(*self.axis_coordinates(), indexing="ij")
        return self.world_from_index(np.stack([zz, yy, xx], axis=-1))

    def corners_world(self) -> np.ndarray:
        """The 8 outer corners (voxel edges, not centres) of the grid, (8, 3) LPS mm."""
        lo, hi = -0.5, np.asarray(self.shape, dtype=float) - 0.5
        corners = [(z, y, x) for z in (lo, hi[0]) for y in (lo, hi[1]) for x in (lo, hi[2])]
        return self.world_from_index(np.asarray(corners))

    # -- comparison ---------------------------------------------------------------------
    def is_close(self, other: Grid, *, atol_mm: float = 1e-3, atol_direction: float = 1e-5) -> bool:
        """Same shape, and origin/spacing within ``atol_mm`` and direction within ``atol_direction``."""
        return (
            self.shape == other.shape
            and np.allclose(self.origin_mm, other.origin_mm, rtol=0, atol=atol_mm)
            and np.allclose(self.spacing_mm, other.spacing_mm, rtol=0, atol=atol_mm)
            and np.allclose(self.direction, other.direction, rtol=0, atol=atol_direction)
        )

    def require_same(self, other: Grid, what: str = "volumes", **tolerances: float) -> None:
        """Raise :class:`GeometryError` showing both grids unless :meth:`is_close`."""
        if not self.is_close(other, **tolerances):
            raise GeometryError(
                f"{what} are on different grids; resample one onto the other first.\n"
                f"  first : {self.describe()}\n  second: {other.describe()}"
            )

    def describe(self) -> str:
        """One line: shape, origin, spacing, direction."""
        fmt = ", ".join
        return (
            f"shape(z,y,x)=({fmt(str(n) for n in self.shape)}) "
            f"origin=({fmt(f'{v:.3f}' for v in self.origin_mm)}) mm "
            f"spacing=({fmt(f'{v:.4g}' for v in self.spacing_mm)}) mm "
            f"direction=({fmt(f'{v:.4g}' for v in self.direction)})"
        )

    def __repr__(self) -> str:
        """Shape, origin and spacing (the direction only when it is not the identity)."""
        fmt = ", ".join
        direction = "" if np.allclose(self.direction, _IDENTITY) else f", direction=({fmt(f'{v:.4g}' for v in self.direction)})"
        return (
            f"Grid(shape(z,y,x)=({fmt(str(n) for n in self.shape)}), origin=({fmt(f'{v:.3f}' for v in self.origin_mm)}) mm, "
            f"spacing=({fmt(f'{v:.4g}' for v in self.spacing_mm)}) mm{direction})"
        )

    # -- derived grids --------------------------------------------------------------------
    def crop(self, start_zyx: Any, stop_zyx: Any) -> Grid:
        """The sub-grid of voxels ``[start, stop)`` along (z, y, x); same spacing and direction."""
        start = np.asarray(start_zyx, dtype=int)
        stop = np.asarray(stop_zyx, dtype=int)
        shape = np.asarray(self.shape)
        if start.shape != (3,) or stop.shape != (3,) or np.any(start < 0) or np.any(stop > shape) or np.any(stop <= start):
            raise GeometryError(f"crop box {start.tolist()}..{stop.tolist()} is empty or outside the grid of shape {self.shape}")
        return Grid(
            shape=tuple(stop - start),
            origin_mm=tuple(self.world_from_index(start.astype(float))),
            spacing_mm=self.spacing_mm,
            direction=self.direction,
        )

    def with_spacing(self, spacing_mm: Any) -> Grid:
        """A grid over the same region (same outer box) with another spacing (sx, sy, sz) mm."""
        new_spacing = np.asarray(_triple(spacing_mm, "spacing_mm"))
        extent = np.asarray(self.shape[::-1], dtype=float) * np.asarray(self.spacing_mm)
        n_xyz = np.maximum(1, np.round(extent / new_spacing).astype(int))
        first_edge = self.world_from_index(np.full(3, -0.5))
        origin = first_edge + self.direction_matrix @ (0.5 * new_spacing)
        return Grid(tuple(n_xyz[::-1]), tuple(origin), tuple(new_spacing), self.direction)

    def contains_world(self, points_xyz: Any, *, margin_voxels: float = 0.0) -> np.ndarray:
        """Boolean (...,) whether each LPS point lies within the grid's voxel centres (+ margin)."""
        idx = self.index_from_world(points_xyz)
        upper = np.asarray(self.shape, dtype=float) - 1 + margin_voxels
        return np.all((idx >= -margin_voxels) & (idx <= upper), axis=-1)

    def lps_axes(self) -> LpsAxes:
        """How an array on this grid is seen with its axes along LPS z, y, x, ascending (for pictures with labels).

        Raises GeometryError for a grid whose axes are not along LPS (an oblique grid: its planes
        are not axial, coronal or sagittal, and cannot be labelled so).
        """
        direction = self.direction_matrix  # columns: LPS vectors of the index axes i, j, k
        axis = np.argmax(np.abs(direction), axis=0)  # the LPS axis (0 x, 1 y, 2 z) of index axis i, j, k
        if sorted(axis) != [0, 1, 2] or not np.allclose(np.abs(direction[axis, [0, 1, 2]]), 1.0, atol=1e-4):
            raise GeometryError(f"the grid's axes are not along LPS ({self.describe()}): planes cannot be labelled")
        index_axis = [int(np.flatnonzero(axis == lps)[0]) for lps in (2, 1, 0)]  # index axis of LPS z, y, x
        return LpsAxes(
            order=tuple(2 - i for i in index_axis),
            descending=tuple(bool(direction[lps, i] < 0) for lps, i in zip((2, 1, 0), index_axis, strict=True)),
            shape=tuple(self.shape[2 - i] for i in index_axis),
            spacing_mm=tuple(float(self.spacing_mm[i]) for i in index_axis[::-1]),
        )

    # -- ITK interop ----------------------------------------------------------------------
    @classmethod
    def from_itk(cls, image: Any) -> Grid:
        """The grid of an ITK image (itk-elastix / ITK Python)."""
        size_xyz = tuple(int(v) for v in image.GetLargestPossibleRegion().GetSize())
        import itk

        return cls(
            shape=size_xyz[::-1],
            origin_mm=tuple(image.GetOrigin()),
            spacing_mm=tuple(image.GetSpacing()),
            direction=tuple(itk.array_from_matrix(image.GetDirection()).reshape(-1)),
        )

    def apply_to_itk(self, image: Any) -> Any:
        """Set origin, spacing and direction of an ITK image whose size matches this grid."""
        import itk

        size_xyz = tuple(int(v) for v in image.GetLargestPossibleRegion().GetSize())
        if size_xyz[::-1] != self.shape:
            raise GeometryError(f"ITK image size (x,y,z)={size_xyz} does not match grid shape (z,y,x)={self.shape}")
        image.SetOrigin([float(v) for v in self.origin_mm])
        image.SetSpacing([float(v) for v in self.spacing_mm])
        image.SetDirection(itk.matrix_from_array(np.ascontiguousarray(self.direction_matrix)))
        return image


@dataclass(frozen=True)
class LpsAxes:
    """An array ``[k, j, i]`` on a grid whose axes run along LPS, seen with its axes (z, y, x) ascending.

    ``order`` is the array axis holding LPS z, y and x; ``descending`` whether the coordinate falls
    along it (flipped in the view); ``shape`` the view's (nz, ny, nx); ``spacing_mm`` (sx, sy, sz).
    From :meth:`Grid.lps_axes`.
    """

    order: tuple[int, int, int]
    descending: tuple[bool, bool, bool]
    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]

    def view(self, array: Any) -> np.ndarray:
        """``array`` (grid shape, then any trailing axes) with its first three axes along LPS z, y, x, ascending."""
        out = np.transpose(np.asarray(array), (*self.order, *range(3, np.ndim(array))))
        for axis, flip in enumerate(self.descending):
            if flip:
                out = np.flip(out, axis=axis)
        return out

    def index(self, index_kji: Any) -> tuple[int, int, int]:
        """The view's (z, y, x) index of the grid's voxel ``index_kji`` (k, j, i)."""
        picked = [int(index_kji[a]) for a in self.order]
        return tuple(n - 1 - v if flip else v for v, n, flip in zip(picked, self.shape, self.descending, strict=True))


def _summary(array: Any) -> str:
    """``dtype=..., min=..., max=...`` over the finite values, with the count of NaN/inf (no copy of the array kept)."""
    host = np.asarray(array.get() if hasattr(array, "get") and not isinstance(array, np.ndarray) else array)
    dtype = f"dtype={host.dtype}"
    if host.size == 0 or host.dtype == bool:
        return f"{dtype}, {int(host.sum())} True" if host.dtype == bool else dtype
    finite = np.isfinite(host)
    count = int(finite.sum())
    text = f"{dtype}, min={host[finite].min():.4g}, max={host[finite].max():.4g}" if count else f"{dtype}, no finite value"
    return text + (f", {host.size - count} NaN/inf" if count < host.size else "")


@dataclass(frozen=True, eq=False)
class Volume:
    """An array that always travels with its grid, and says what it holds.

    Parameters
    ----------
    array : ndarray (nz, ny, nx)
        NumPy or CuPy array in (z, y, x) order, ``array.shape == grid.shape``.
    grid : Grid
    quantity : str
        What the values are: ``"dose"``, ``"eqd2"``, ``"bed"``, ``"hu"``, ``"density"``,
        ``"alpha_beta"``, ``"mask"``, ``"residual_fraction"`` ...
    unit : str
        ``"Gy"``, ``"Gy(RBE)"``, ``"HU"``, ``"g/cm3"``, ``"1"`` ...
    """

    array: Any
    grid: Grid
    quantity: str = "dose"
    unit: str = "Gy"

    def __post_init__(self) -> None:
        if not isinstance(self.grid, Grid):
            raise GeometryError(f"Volume grid must be a Grid, got {type(self.grid).__name__}")
        shape = tuple(getattr(self.array, "shape", ()))
        if shape != self.grid.shape:
            raise GeometryError(f"Volume array shape {shape} does not match its grid shape (z,y,x)={self.grid.shape}")

    def __repr__(self) -> str:
        """What it holds, its grid, dtype and finite range: never the array itself."""
        return f"Volume({self.quantity} [{self.unit}], {_summary(self.array)}, {self.grid!r})"

    def with_array(self, array: Any, *, quantity: str | None = None, unit: str | None = None) -> Volume:
        """A volume on the same grid with another array (and optionally another quantity/unit)."""
        return Volume(array, self.grid, quantity or self.quantity, unit or self.unit)

    def to_numpy(self) -> Volume:
        """The same volume with its array on the host (a no-op for NumPy arrays)."""
        array = self.array
        if not isinstance(array, np.ndarray):
            array = array.get() if hasattr(array, "get") else np.asarray(array)
        return self.with_array(array)

    def value_at(self, point_xyz: Any) -> float:
        """Value of the voxel whose centre is nearest to an LPS point (mm)."""
        idx = np.rint(self.grid.index_from_world(point_xyz)).astype(int)
        if np.any(idx < 0) or np.any(idx >= np.asarray(self.grid.shape)):
            raise GeometryError(f"point {tuple(point_xyz)} mm lies outside the grid {self.grid.describe()}")
        return float(self.to_numpy().array[tuple(idx)])

    # -- ITK interop ----------------------------------------------------------------------
    def to_itk(self) -> Any:
        """An ITK image with the same values and geometry (the array is copied)."""
        import itk

        array = np.ascontiguousarray(self.to_numpy().array)
        if array.dtype == bool:
            array = array.astype(np.uint8)
        image = itk.image_from_array(array)
        return self.grid.apply_to_itk(image)

    @classmethod
    def from_itk(cls, image: Any, *, quantity: str = "dose", unit: str = "Gy") -> Volume:
        """A volume from a scalar ITK image (the array is copied, indexed (z, y, x))."""
        import itk

        array = np.array(itk.array_view_from_image(image), copy=True)
        if array.ndim != 3:
            raise InputError(f"expected a scalar 3-D image, got an array of shape {array.shape}")
        return cls(array, Grid.from_itk(image), quantity, unit)


@dataclass(frozen=True, eq=False)
class DisplacementField:
    """A dense displacement field on the fixed (reference) grid, elastix/ITK convention.

    ``array`` has shape ``grid.shape + (3,)`` (z, y, x, component); the components are
    ``(ux, uy, uz)`` in LPS mm. The moving (prior-course) point of the fixed point ``p`` is
    ``p + u(p)``: the field *pulls* moving data onto the fixed grid.
    """

    array: Any
    grid: Grid

    def __post_init__(self) -> None:
        if not isinstance(self.grid, Grid):
            raise GeometryError(f"DisplacementField grid must be a Grid, got {type(self.grid).__name__}")
        shape = tuple(getattr(self.array, "shape", ()))
        if shape != self.grid.shape + (3,):
            raise GeometryError(
                f"DisplacementField array shape {shape} must be the grid shape (z,y,x)={self.grid.shape} plus (3,)"
            )

    def __repr__(self) -> str:
        """The grid, dtype and range of the displacement components (mm): never the array itself."""
        return f"DisplacementField(u [mm], {_summary(self.array)}, {self.grid!r})"

    @classmethod
    def identity(cls, grid: Grid, dtype: Any = np.float64) -> DisplacementField:
        """The zero field (moving point = fixed point) on ``grid``."""
        return cls(np.zeros(grid.shape + (3,), dtype=dtype), grid)

    def moving_points(self) -> np.ndarray:
        """LPS position (x, y, z) mm of the moving point of every fixed voxel centre, ``shape + (3,)``."""
        return self.grid.world_coordinates() + np.asarray(self.to_numpy().array, dtype=float)

    def to_numpy(self) -> DisplacementField:
        array = self.array
        if not isinstance(array, np.ndarray):
            array = array.get() if hasattr(array, "get") else np.asarray(array)
        return DisplacementField(array, self.grid)

    def to_itk(self) -> Any:
        """An ITK vector image (3 components, float32 or float64) with the field's geometry."""
        import itk

        array = np.ascontiguousarray(self.to_numpy().array)
        if array.dtype not in (np.float32, np.float64):
            array = array.astype(np.float64)
        image = itk.image_from_array(array, is_vector=True)
        return self.grid.apply_to_itk(image)

    @classmethod
    def from_itk(cls, image: Any) -> DisplacementField:
        """A field from an ITK vector image whose components are (ux, uy, uz) in mm."""
        import itk

        array = np.array(itk.array_view_from_image(image), copy=True)
        if array.ndim != 4 or array.shape[-1] != 3:
            raise InputError(f"a displacement field needs 3 vector components on a 3-D grid, got array shape {array.shape}")
        return cls(array, Grid.from_itk(image))
