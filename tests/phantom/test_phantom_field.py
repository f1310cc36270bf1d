"""The true displacement field: its file, values worked out by hand, invertibility and the numerical inverse."""

from __future__ import annotations

import numpy as np
import pytest

from accumulate.phantom import prior_point_of, reference_point_of


def test_field_file_lies_on_the_reference_ct_grid(true_field, reference_ct):
    assert true_field.grid.is_close(reference_ct.grid)


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        # neck axis: no shrinkage (rho = 0); 2 deg about z through (0, 10, 0) gives (10 sin 2deg, 10 (1 - cos 2deg), 0)
        ((0.0, 0.0, 0.0), (3.0 + 0.348995, -2.0 + 0.006092, 4.0)),
        # left skin edge x = 64 (rho^2 = 0.969467), z = 0: shrinkage 4.5 rho^2 e^(1 - rho^2) (x/65) = 4.428661 along x;
        # rotation of (64, -10): ((cos - 1) 64 + 10 sin, 64 sin + (cos - 1)(-10)) = (0.310008, 2.239660)
        ((64.0, 0.0, 0.0), (3.0 + 0.310008 + 4.428661, -2.0 + 2.239660, 4.0)),
    ],
)
def test_field_values_match_the_worked_out_deformation(true_field, point, expected):
    index = np.rint(true_field.grid.index_from_world(point)).astype(int)
    assert true_field.grid.world_from_index(index) == pytest.approx(point)
    assert true_field.array[tuple(index)] == pytest.approx(expected, abs=1e-4)


def test_field_is_smooth_and_invertible(true_field):
    u = np.asarray(true_field.array, dtype=float)
    sx, sy, sz = true_field.grid.spacing_mm
    d_dz, d_dy, d_dx = np.gradient(u, sz, sy, sx, axis=(0, 1, 2))
    jacobian = np.eye(3) + np.stack([d_dx, d_dy, d_dz], axis=-1)  # rows: components; columns: d/dx, d/dy, d/dz
    determinant = np.linalg.det(jacobian)
    assert determinant.min() > 0.8 and determinant.max() < 1.3
    assert np.abs(jacobian - np.eye(3)).max() < 0.3


def test_field_magnitude_is_a_few_mm_inside_the_body(true_field, reference_masks):
    magnitude = np.linalg.norm(true_field.array[reference_masks["BODY"].array], axis=-1)
    # |t| = 5.39 mm; rotation and up to 4.5 mm shrinkage add to it or (near the left anterior skin) partly cancel it
    assert 3.5 < magnitude.min() and magnitude.max() < 10.5


def test_numerical_inverse_round_trips_to_a_hundredth_of_a_mm(reference_ct):
    points = reference_ct.grid.world_coordinates()[::3, ::5, ::5].reshape(-1, 3)
    back = reference_point_of(prior_point_of(points))
    assert np.abs(back - points).max() < 0.01
    prior_points = points + np.array([5.0, -3.0, 2.0])
    assert np.abs(prior_point_of(reference_point_of(prior_points)) - prior_points).max() < 0.01
