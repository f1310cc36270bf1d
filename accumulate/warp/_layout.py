"""The per-course geometry block every warp backend reads: composed affines and grid sizes.

All index coordinates here are continuous voxel indices in (x, y, z) order (column, row, slice),
with integer values at voxel centres. The block is a float64 vector of :data:`SIZE` values; the
``G_*`` defines of ``kernels/warp.cu`` mirror its offsets (``tests/warp/test_layout.py`` checks it).

=========  ==  ==================================================================================
offset     n   content
=========  ==  ==================================================================================
T2F        12  3x4 affine, target index -> field index
T2D        12  3x4 affine, target index -> dose index of the *undisplaced* point
U2D         9  3x3, displacement (ux, uy, uz) mm -> change of dose index
NF, ND      3  (nx, ny, nz) of the field and of the dose grid (the density, if any, is on the dose grid)
DV          1  mass of one unit-density dose voxel, g (dose voxel mm^3 * 1e-3)
HAS_RHO     1  1 = a density array is given, 0 = unit density
ALIGNED     1  1 = the field's grid is the target grid (T2F is the identity): u is read, not interpolated
=========  ==  ==================================================================================
"""

from __future__ import annotations

import numpy as np

from ..geometry import Grid

T2F, T2D, U2D = 0, 12, 24
NF, ND, DV = 33, 36, 39
HAS_RHO, ALIGNED = 40, 41
SIZE = 42


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


def subsample_fractions(subsamples: int) -> np.ndarray:
    """Positions of the k sub-samples along one axis of a voxel, as fractions of it: (s + 1/2) / k.

    Evaluated as (2 s + 1) / (2 k) in every backend, so that they are bitwise equal.
    """
    return (2.0 * np.arange(subsamples) + 1.0) / (2.0 * subsamples)


def course_geometry(target: Grid, field: Grid, dose: Grid, has_density: bool) -> np.ndarray:
    """The geometry block (float64, :data:`SIZE`) of one moving dose warped onto ``target`` through a field on ``field``."""
    block = np.zeros(SIZE)
    block[T2F : T2F + 12] = _index_from_index(target, field).ravel()
    block[T2D : T2D + 12] = _index_from_index(target, dose).ravel()
    block[U2D : U2D + 9] = _inverse_linear(dose).ravel()
    block[NF : NF + 3] = field.shape[::-1]
    block[ND : ND + 3] = dose.shape[::-1]
    block[DV] = dose.voxel_volume_mm3 * 1e-3
    block[HAS_RHO] = float(has_density)
    block[ALIGNED] = float(field.shape == target.shape and np.array_equal(block[T2F : T2F + 12], np.eye(3, 4).ravel()))
    return block
