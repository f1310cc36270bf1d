"""A real CT deformed by a known, smooth, invertible field: the ground truth for registration tests and benchmarks.

The moving CT is ``moving(q) = fixed(q + v(q))`` with the analytic pull field
``v(q) = (R - I)(q - c) + t + sum_k a_k exp(-|q - c_k|^2 / (2 s^2))``: a rigid offset plus
Gaussian bumps scaled to a chosen peak. The true fixed -> moving correspondence of a fixed
point p is the q solving ``q + v(q) = p``, found per point by fixed-point iteration on the
analytic v (no grid, no interpolation), which converges because |grad v| < 1 (checked).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accumulate import DisplacementField, Grid, Volume
from accumulate.registration import sample_linear


def _rotation(degrees_xyz) -> np.ndarray:
    ax, ay, az = np.radians(degrees_xyz)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass(frozen=True)
class Phantom:
    """The deformed CT and the analytic truth."""

    fixed: Volume
    moving: Volume
    rotation: np.ndarray
    centre: np.ndarray
    translation: np.ndarray
    bump_centres: np.ndarray
    bump_amplitudes: np.ndarray
    bump_sigma_mm: float

    def pull(self, q: np.ndarray) -> np.ndarray:
        """v(q): the analytic field that made the moving CT, at moving points q (..., 3) mm."""
        q = np.asarray(q, dtype=float)
        v = (q - self.centre) @ (self.rotation - np.eye(3)).T + self.translation
        for c, a in zip(self.bump_centres, self.bump_amplitudes, strict=True):
            weight = np.exp(-np.sum((q - c) ** 2, axis=-1) / (2 * self.bump_sigma_mm**2))
            v = v + weight[..., None] * a
        return v

    def moving_points(self, p: np.ndarray, iterations: int = 60) -> np.ndarray:
        """The true moving point q of each fixed point p (solves q + v(q) = p)."""
        p = np.asarray(p, dtype=float)
        q = p.copy()
        for _ in range(iterations):
            q = p - self.pull(q)
        return q

    def true_field(self) -> DisplacementField:
        """The true fixed -> moving field on the fixed grid (moving point = p + u(p))."""
        p = self.fixed.grid.world_coordinates()
        return DisplacementField(self.moving_points(p) - p, self.fixed.grid)


def make_phantom(
    fixed: Volume,
    *,
    bump_peak_mm: float = 10.0,
    bump_sigma_mm: float = 35.0,
    bumps: int = 6,
    rotation_deg=(1.0, -1.0, 2.0),
    translation_mm=(4.0, -3.0, 5.0),
    noise_hu: float = 20.0,
    seed: int = 0,
) -> Phantom:
    """Deform ``fixed`` by a rigid offset plus smooth bumps (largest bump displacement ``bump_peak_mm``)."""
    rng = np.random.default_rng(seed)
    grid: Grid = fixed.grid
    corners = grid.corners_world()
    lo, hi = corners.min(0), corners.max(0)
    centres = lo + (hi - lo) * rng.uniform(0.25, 0.75, size=(bumps, 3))
    directions = rng.normal(size=(bumps, 3))
    amplitudes = bump_peak_mm * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    phantom = Phantom(
        fixed,
        fixed,
        _rotation(rotation_deg),
        (lo + hi) / 2,
        np.asarray(translation_mm, float),
        centres,
        amplitudes,
        float(bump_sigma_mm),
    )
    # rescale the bumps so their summed peak displacement is bump_peak_mm
    q = grid.world_coordinates()
    rigid_free = Phantom(fixed, fixed, np.eye(3), phantom.centre, np.zeros(3), centres, amplitudes, float(bump_sigma_mm))
    peak = np.linalg.norm(rigid_free.pull(q), axis=-1).max()
    phantom = Phantom(
        fixed,
        fixed,
        phantom.rotation,
        phantom.centre,
        phantom.translation,
        centres,
        amplitudes * (bump_peak_mm / peak),
        float(bump_sigma_mm),
    )
    v = phantom.pull(q)
    gradient = np.stack([np.gradient(v, s, axis=2 - a) for a, s in enumerate(grid.spacing_mm)], axis=-1) @ grid.direction_matrix.T
    lipschitz = np.linalg.norm(gradient.reshape(-1, 3, 3), ord=2, axis=(1, 2)).max()
    assert lipschitz < 0.8, f"the synthetic field is not safely invertible (|grad v| up to {lipschitz:.2f})"
    values = sample_linear(fixed.array, grid, q + v, outside=-1000.0)
    values = values + rng.normal(scale=noise_hu, size=values.shape)
    moving = Volume(values.astype(np.float32), grid, "hu", "HU")
    return Phantom(
        fixed,
        moving,
        phantom.rotation,
        phantom.centre,
        phantom.translation,
        centres,
        phantom.bump_amplitudes,
        float(bump_sigma_mm),
    )


def field_error(
    estimated: DisplacementField, phantom: Phantom, region: np.ndarray, truth: DisplacementField | None = None
) -> np.ndarray:
    """|u_estimated - u_true| (mm) at the fixed voxels of ``region`` whose true moving point is inside the moving CT."""
    truth = phantom.true_field() if truth is None else truth
    inside = phantom.moving.grid.contains_world(truth.moving_points())
    error = np.linalg.norm(np.asarray(estimated.array, float) - truth.array, axis=-1)
    return error[region & inside]


def regridded(volume: Volume, rotation: np.ndarray, origin_mm) -> Volume:
    """The same voxel values on a grid with rotated axes and another origin: an exactly known rigid motion.

    Fixed voxel p = o + S i shows the same anatomy as moving point q = o' + R S i, so the fixed ->
    moving field is ``u(p) = R (p - o) + o' - p`` and moving -> fixed is ``p = R^T (q - o') + o``.
    """
    g = volume.grid
    direction = np.asarray(rotation, float) @ g.direction_matrix
    grid = Grid(g.shape, tuple(origin_mm), g.spacing_mm, tuple(direction.reshape(-1)))
    return Volume(volume.array, grid, volume.quantity, volume.unit)


def rotation_matrix(degrees_xyz) -> np.ndarray:
    """Rotation about x, then y, then z (degrees)."""
    return _rotation(degrees_xyz)
