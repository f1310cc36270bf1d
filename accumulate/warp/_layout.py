"""The per-course geometry block every warp backend reads: composed affines, sizes, course parameters.

All index coordinates here are continuous voxel indices in (x, y, z) order (column, row, slice),
with integer values at voxel centres. The block is a float64 vector of :data:`SIZE` values; its
layout is mirrored by the ``G_*`` defines of ``kernels/warp.cu`` (keep both in step).

=========  ==  ==================================================================================
offset     n   content
=========  ==  ==================================================================================
T2F        12  3x4 affine, target index -> field index
T2D        12  3x4 affine, target index -> dose index of the *undisplaced* point
U2D         9  3x3, displacement (ux, uy, uz) mm -> change of dose index
NF, ND      3  (nx, ny, nz) of the field and of the dose grid (the density, if any, is on the dose grid)
DV          1  mass of one unit-density dose voxel per sub-sample, g (dose voxel mm^3 * 1e-3 / k^3)
FRACTIONS   1  fused step only: fractions of the course
RBE         1  fused step only: constant RBE factor
RES_STRIDE  1  fused step only: 1 = per-voxel residual, 0 = one value
ON_GRID     1  fused step only: 1 = dose already on the target grid (no warp)
HAS_RHO     1  1 = a density array is given, 0 = unit density
ALIGNED     1  1 = the field's grid is the target grid (T2F is the identity): u is read, not interpolated
=========  ==  ==================================================================================
"""

from __future__ import annotations

import numpy as np

from ..geometry import Grid

T2F, T2D, U2D = 0, 12, 24
NF, ND, DV = 33, 36, 39
FRACTIONS, RBE, RES_STRIDE, ON_GRID, HAS_RHO, ALIGNED = 40, 41, 42, 43, 44, 45
SIZE = 48


def _snap(matrix: np.ndarray) -> np.ndarray:
    """Round entries within 1e-9 of an integer, so identical or voxel-shifted grids compose exactly."""
    rounded = np.round(matrix)
    return np.where(np.abs(matrix - rounded) < 1e-9, rounded, matrix)


def _index_from_index(source: Grid, destination: Grid) -> np.ndarray:
    """3x4 affine taking a continuous (x, y, z) index of ``source`` to one of ``destination``."""
    return _snap((np.linalg.inv(destination.affine) @ source.affine)[:3])


def _inverse_linear(grid: Grid) -> np.ndarray:
    """3x3 matrix taking an LPS vector (mm) to a change of (x, y, z) index on ``grid``."""
    return _snap(np.linalg.inv(grid.affine)[:3, :3])


def subsample_offsets(subsamples: int) -> np.ndarray:
    """Index offsets of the k sub-samples along one axis of a voxel: (s + 0.5) / k - 0.5.

    Evaluated as (2 s + 1 - k) / (2 k) in every backend, so that the offsets are bitwise equal.
    """
    return (2.0 * np.arange(subsamples) + 1.0 - subsamples) / (2.0 * subsamples)


def course_geometry(target: Grid, field: Grid | None, dose: Grid, subsamples: int) -> np.ndarray:
    """The geometry block (float64, :data:`SIZE`) of one moving dose warped onto ``target``.

    ``field`` None means the dose is already on the target grid (fused step, ``ON_GRID``).
    """
    block = np.zeros(SIZE)
    block[ND : ND + 3] = dose.shape[::-1]
    block[DV] = dose.voxel_volume_mm3 * 1e-3 / subsamples**3
    if field is None:
        block[ON_GRID] = 1.0
        return block
    block[T2F : T2F + 12] = _index_from_index(target, field).ravel()
    block[T2D : T2D + 12] = _index_from_index(target, dose).ravel()
    block[U2D : U2D + 9] = _inverse_linear(dose).ravel()
    block[NF : NF + 3] = field.shape[::-1]
    block[ALIGNED] = float(field.shape == target.shape and np.array_equal(block[T2F : T2F + 12], np.eye(3, 4).ravel()))
    return block
