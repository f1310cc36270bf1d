"""HU -> mass density: the default table's values worked out from its linear segments, custom tables, errors."""

from __future__ import annotations

import numpy as np
import pytest

from accumulate import ConfigError, Grid, InputError, Volume
from accumulate.density import density_from_ct


def _ct(values) -> Volume:
    values = np.asarray(values, dtype=float).reshape(1, 1, -1)
    return Volume(values, Grid(values.shape), "hu", "HU")


def test_default_table_follows_its_segments():
    result = density_from_ct(_ct([-2000, -1000, 0, 50, 1000, 5000]))
    expected = [
        0.00121,  # clamped below the first row
        0.00121,  # air
        1.018,  # adipose segment 1.018 + 0.893e-3 HU at 0 HU
        1.003 + 1.169e-3 * 50,  # soft tissue segment
        1.017 + 0.592e-3 * 1000,  # bone segment
        1.017 + 0.592e-3 * 3071,  # clamped above the last row
    ]
    np.testing.assert_allclose(result.array.ravel(), expected, rtol=1e-3)
    assert result.quantity == "density" and result.unit == "g/cm3"


def test_custom_table_as_array_and_as_file(tmp_path):
    table = [[-1000.0, 0.001], [0.0, 1.0], [1000.0, 2.0]]
    np.testing.assert_allclose(density_from_ct(_ct([-500, 500]), table).array.ravel(), [0.5005, 1.5])
    path = tmp_path / "scanner.csv"
    path.write_text("# my scanner\nhu,density\n-1000,0.001\n0,1.0\n1000,2.0\n")
    np.testing.assert_allclose(density_from_ct(_ct([250]), path).array.ravel(), [1.25])


def test_float32_ct_gives_float32_density():
    ct = Volume(np.zeros((1, 1, 2), dtype=np.float32), Grid((1, 1, 2)), "hu", "HU")
    assert density_from_ct(ct).array.dtype == np.float32


@pytest.mark.parametrize(
    "table, message",
    [([[0.0, 1.0]], "at least two"), ([[0.0, 1.0], [0.0, 2.0]], "increase strictly"), ([[0.0, 1.0], [10.0, 0.0]], "> 0")],
)
def test_bad_tables_are_rejected(table, message):
    with pytest.raises(ConfigError, match=message):
        density_from_ct(_ct([0]), table)


def test_non_ct_volume_is_rejected():
    with pytest.raises(InputError, match="CT Volume in HU"):
        density_from_ct(Volume(np.zeros((1, 1, 1)), Grid((1, 1, 1))))
