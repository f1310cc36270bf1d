"""Analytic phantoms shared by the warp tests and benchmarks: grids, smooth invertible fields, doses."""

from __future__ import annotations

import numpy as np

from accumulate import DisplacementField, Grid, Volume


def cube_grid(n: int, spacing: float = 2.0, origin: float = -20.0) -> Grid:
    return Grid((n, n, n), origin_mm=(origin, origin, origin), spacing_mm=(spacing, spacing, spacing))


def radial_bumps(grid: Grid, bumps) -> DisplacementField:
    """u(p) = sum_b a_b (p - c_b) exp(-|p - c_b|^2 / (2 s_b^2)): det J = (1 + a_b)^3 at each centre.

    Each bump is (centre mm, a, s mm); |a| < 1 keeps the mapping invertible (radial derivative
    1 + a e^{-r^2/2s^2}(1 - r^2/s^2) > 0) when the bumps are well apart.
    """
    points = grid.world_coordinates()
    u = np.zeros_like(points)
    for centre, a, s in bumps:
        r = points - np.asarray(centre, dtype=float)
        u += a * r * np.exp(-np.sum(r * r, axis=-1, keepdims=True) / (2 * s * s))
    return DisplacementField(u, grid)


def gaussian_dose(grid: Grid, centre, sigma_mm: float, peak: float = 60.0) -> Volume:
    r2 = np.sum((grid.world_coordinates() - np.asarray(centre, dtype=float)) ** 2, axis=-1)
    return Volume(peak * np.exp(-r2 / (2 * sigma_mm**2)), grid)


def layered_density(grid: Grid) -> Volume:
    """Heterogeneous density, g/cm3: lung-like 0.3 slab, soft tissue 1.0, a bone-like 1.8 slab."""
    x = grid.world_coordinates()[..., 0]
    rho = np.where(x < -8, 0.3, np.where(x > 10, 1.8, 1.0))
    return Volume(rho, grid, "density", "g/cm3")


def prior_energy(dose: Volume, density: Volume) -> float:
    """Energy of the prior dose on its own grid, Gy g: sum D rho dV (dV in cm3)."""
    return float(np.sum(dose.array * density.array) * dose.grid.voxel_volume_mm3 * 1e-3)


def smooth_field(grid: Grid, amplitude_mm: float = 2.0) -> DisplacementField:
    """A smooth, invertible (|grad u| < 1) sinusoidal field on ``grid``, mm."""
    x, y, z = np.moveaxis(grid.world_coordinates(), -1, 0)
    u = np.stack(
        [
            amplitude_mm * np.sin(x / 9.0 + 0.3) + 0.4,
            0.8 * amplitude_mm * np.cos(y / 7.0 - z / 11.0),
            0.6 * amplitude_mm * np.sin(z / 8.0 + x / 13.0) - 0.3,
        ],
        axis=-1,
    )
    return DisplacementField(u, grid)


def rotated_grid(shape, spacing, degrees: float, origin) -> Grid:
    """A grid whose x/y index axes are rotated by ``degrees`` about z."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    direction = (c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0)
    return Grid(shape, origin_mm=origin, spacing_mm=spacing, direction=direction)
