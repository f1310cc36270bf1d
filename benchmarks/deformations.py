"""Realistic deformations of a real CT with a known answer: random smooth fields, a rigid offset, noise, anatomy change.

:func:`deform` takes a CT (the *fixed* image, e.g. the thoracic CT of elastix's examples in
``tests/data/elastix-lung``, Apache-2.0) and makes a *moving* image of the same patient as it
might look at another course, together with the true field in accumulate's convention: on the
fixed grid, the moving point of the fixed point p is ``p + u(p)`` (LPS mm; the elastix/ITK
convention of :mod:`accumulate.registration`).

The true field is the sum of

- a **random smooth field**: white noise per component filtered by a Gaussian of standard
  deviation ``s = correlation_mm / 2``, so that the field's autocorrelation is
  ``exp(-d^2 / correlation_mm^2)`` (it falls to 1/e at the correlation length), scaled so the
  largest displacement of this part inside the body is ``amplitude_mm`` (the rigid offset and the
  shrinking structure come on top);
- an optional **rigid offset** ``(R - I)(p - c) + t`` (rotation about the image centre c);
- an optional **shrinking structure**: the prior anatomy was larger about a centre ``c_s`` in the
  body, ``u_s(p) = k (p - c_s) exp(-|p - c_s|^2 / (2 sigma_s^2))`` (``k`` = ``shrink_fraction``);
- an optional local **bump**: ``bump_mm d exp(-|p - c_b|^2 / (2 sigma_b^2))`` about a given centre
  ``c_b`` (``bump_centre_mm``) in a given direction d, a motion a registration may miss where the
  tissue is homogeneous (``bench_uncertainty_calibration.py``'s local failure).

The moving image is ``moving(q) = fixed(q + v(q))`` with v the inverse of u (fixed-point
iteration, which converges when no voxel folds; the residual is reported), plus intensity
changes that have no correspondence in the fixed CT: a contrast **bolus** (a soft Gaussian blob
of +``bolus_hu`` in soft tissue), **weight loss** (the prior body had an extra layer of fat,
``weight_loss_mm`` thick, -100 HU, at the outline) and Gaussian **noise** of ``noise_hu``.

Used by ``benchmarks/bench_registration_accuracy.py``, ``bench_uncertainty_calibration.py`` and, at a small size, by
``tests/benchmarks/test_deformations.py``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from accumulate import DisplacementField, Volume
from accumulate.registration import body_mask, invert, jacobian_determinant, sample_linear

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "registration"))
from registration_phantom import rotation_matrix  # noqa: E402  (the test phantom's rigid rotation, shared)

FAT_HU = -100.0


@dataclass(frozen=True)
class Deformation:
    """What :func:`deform` draws: every parameter of one synthetic course change (mm, degrees, HU)."""

    correlation_mm: float = 30.0
    amplitude_mm: float = 8.0
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    noise_hu: float = 20.0
    bolus_hu: float = 0.0
    bolus_sigma_mm: float = 12.0
    shrink_fraction: float = 0.0
    shrink_sigma_mm: float = 15.0
    weight_loss_mm: float = 0.0
    bump_mm: float = 0.0
    bump_sigma_mm: float = 15.0
    bump_centre_mm: tuple[float, float, float] | None = None
    bump_direction: tuple[float, float, float] = (1.0, 0.0, 0.0)
    seed: int = 0


@dataclass(frozen=True)
class DeformedCase:
    """A fixed CT, its deformed moving twin and the truth.

    ``true_field`` lives on the fixed grid (moving point = p + u(p), mm, LPS); ``body`` is the fixed
    CT's body mask (bool, fixed grid); ``inverse_residual_mm`` the largest ``|v(p + u(p)) + u(p)|``
    over the body (how exactly the moving image follows the field); ``centres`` the LPS centres of
    the bolus and shrinking structure (mm).
    """

    fixed: Volume
    moving: Volume
    true_field: DisplacementField
    body: np.ndarray
    settings: Deformation
    inverse_residual_mm: float
    centres: dict[str, np.ndarray] = field(default_factory=dict)


def smooth_random_field(shape, spacing_mm, correlation_mm: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-filtered white noise, (nz, ny, nx, 3) (x, y, z components), unit standard deviation per component.

    The filter's standard deviation is ``correlation_mm / 2`` per axis (in voxels of ``spacing_mm``,
    x y z); the autocorrelation is then ``exp(-d^2 / correlation_mm^2)``. Reflecting borders.
    """
    sigma_vox = [correlation_mm / 2.0 / s for s in spacing_mm[::-1]]  # (z, y, x)
    out = np.empty(tuple(shape) + (3,))
    for c in range(3):
        component = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_vox, mode="reflect", truncate=3.0)
        out[..., c] = component / component.std()
    return out


def blob(points: np.ndarray, centre: np.ndarray, sigma_mm: float) -> np.ndarray:
    """The Gaussian weight ``exp(-|p - c|^2 / (2 sigma^2))`` at LPS ``points`` (..., 3) around ``centre`` (mm)."""
    return np.exp(-np.sum((points - centre) ** 2, axis=-1) / (2.0 * sigma_mm**2))


def _inside_point(body: np.ndarray, fixed: Volume, rng: np.random.Generator, depth_mm: float) -> np.ndarray:
    """A random LPS point at least ``depth_mm`` inside the body (or the deepest point)."""
    depth = ndimage.distance_transform_edt(body, sampling=fixed.grid.spacing_mm[::-1])
    deep = np.argwhere(depth >= min(depth_mm, 0.9 * depth.max()))
    return fixed.grid.world_from_index(deep[rng.integers(len(deep))].astype(float))


def true_field(fixed: Volume, settings: Deformation, body: np.ndarray) -> tuple[DisplacementField, dict[str, np.ndarray]]:
    """The true fixed -> moving field of ``settings`` on ``fixed``'s grid, and the centres it used (see module doc)."""
    rng = np.random.default_rng(settings.seed)
    grid = fixed.grid
    points = grid.world_coordinates()
    u = smooth_random_field(grid.shape, grid.spacing_mm, settings.correlation_mm, rng)
    if settings.amplitude_mm > 0:
        u *= settings.amplitude_mm / np.linalg.norm(u[body], axis=-1).max()
    else:
        u[:] = 0.0
    centres: dict[str, np.ndarray] = {}
    if settings.shrink_fraction:
        centres["shrink"] = _inside_point(body, fixed, rng, 2.0 * settings.shrink_sigma_mm)
        weight = blob(points, centres["shrink"], settings.shrink_sigma_mm)[..., None]
        u += settings.shrink_fraction * (points - centres["shrink"]) * weight
    if settings.bump_mm:  # a local displacement of its own (a likely local failure of a registration)
        centres["bump"] = np.asarray(settings.bump_centre_mm, dtype=float)
        direction = np.asarray(settings.bump_direction, dtype=float) / np.linalg.norm(settings.bump_direction)
        u += settings.bump_mm * direction * blob(points, centres["bump"], settings.bump_sigma_mm)[..., None]
    centre = grid.world_from_index((np.asarray(grid.shape, float) - 1.0) / 2.0)
    rotation = rotation_matrix(settings.rotation_deg)
    u += (points - centre) @ (rotation - np.eye(3)).T + np.asarray(settings.translation_mm, float)
    if settings.bolus_hu:
        centres["bolus"] = _inside_point(body, fixed, rng, 2.0 * settings.bolus_sigma_mm)
    return DisplacementField(u.astype(np.float32), grid), centres


def deform(fixed: Volume, settings: Deformation = Deformation()) -> DeformedCase:
    """The moving CT and true field for ``settings`` (see the module docstring); same grid as ``fixed``.

    Raises ValueError when the field folds (a Jacobian determinant <= 0.05 inside the body):
    lower ``amplitude_mm`` or lengthen ``correlation_mm``.
    """
    body = np.asarray(body_mask(fixed).array, dtype=bool)
    truth, centres = true_field(fixed, settings, body)
    jac = jacobian_determinant(truth).array[body]
    if jac.min() <= 0.05:
        raise ValueError(f"the field folds (Jacobian down to {jac.min():.3f}) at {settings}: lower the amplitude")
    grid = fixed.grid
    inverse = invert(truth, grid, iterations=80, tolerance_mm=1e-3)
    v_found = np.asarray(inverse.array, dtype=float)  # NaN where the inverse leaves the grid
    # how well v inverts u: v(p + u(p)) + u(p) = 0 wherever p + u(p) and its inverse stay inside the grid
    back = sample_linear(v_found, grid, truth.moving_points()) + np.asarray(truth.array, float)
    residual = np.linalg.norm(back[body], axis=-1)
    residual = float(np.nanmax(residual)) if np.isfinite(residual).any() else 0.0
    v = np.nan_to_num(v_found, nan=0.0)
    rng = np.random.default_rng(settings.seed + 1000)
    source = np.asarray(fixed.array, dtype=float)
    q = grid.world_coordinates()
    pulled = q + v
    hu = sample_linear(source, grid, pulled, outside=-1000.0)
    if settings.weight_loss_mm > 0:  # the prior body was larger: fat where the fixed body's outline is near
        outside = ~body
        distance = ndimage.distance_transform_edt(outside, sampling=grid.spacing_mm[::-1])
        rim = sample_linear(((distance > 0) & (distance <= settings.weight_loss_mm)).astype(float), grid, pulled, outside=0.0)
        hu = np.where(rim >= 0.5, FAT_HU, hu)
    if settings.bolus_hu:  # contrast uptake in soft tissue only (not bone, not air)
        soft = (hu > -200.0) & (hu < 200.0)
        hu = hu + settings.bolus_hu * blob(pulled, centres["bolus"], settings.bolus_sigma_mm) * soft
    if settings.noise_hu:
        hu = hu + rng.normal(0.0, settings.noise_hu, hu.shape)
    moving = fixed.with_array(hu.astype(np.float32))
    return DeformedCase(fixed, moving, truth, body, settings, residual, centres)


def downsample(ct: Volume, factors_zyx=(1, 2, 2)) -> Volume:
    """``ct`` block-averaged by integer ``factors_zyx`` (the grid's origin moves to the first block's centre)."""
    from accumulate import Grid

    f = np.asarray(factors_zyx, dtype=int)
    a = np.asarray(ct.array, dtype=float)
    shape = np.asarray(a.shape) // f
    a = a[: shape[0] * f[0], : shape[1] * f[1], : shape[2] * f[2]]
    blocks = a.reshape(shape[0], f[0], shape[1], f[1], shape[2], f[2]).mean(axis=(1, 3, 5))
    g = ct.grid
    origin = g.world_from_index((f - 1) / 2.0)
    spacing = tuple(float(s * k) for s, k in zip(g.spacing_mm, f[::-1], strict=True))
    grid = Grid(tuple(int(n) for n in shape), tuple(float(v) for v in origin), spacing, g.direction)
    return Volume(blocks.astype(np.float32), grid, ct.quantity, ct.unit)


def gradient_regions(fixed: Volume, body: np.ndarray, *, smoothing_mm: float = 2.0, quantile: float = 0.5):
    """(high, low): body voxels where the fixed CT's smoothed gradient magnitude is above / below its body ``quantile``.

    The gradient (HU/mm) of the CT smoothed by a Gaussian of ``smoothing_mm``; "high gradient" is where
    the image has structure a registration can see, "low" where tissue is homogeneous.
    """
    spacing_zyx = np.asarray(fixed.grid.spacing_mm[::-1])
    smooth = ndimage.gaussian_filter(np.asarray(fixed.array, float), smoothing_mm / spacing_zyx)
    grads = np.gradient(smooth, *spacing_zyx)
    magnitude = np.sqrt(sum(g * g for g in grads))
    threshold = np.quantile(magnitude[body], quantile)
    return body & (magnitude > threshold), body & (magnitude <= threshold)
