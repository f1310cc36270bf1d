"""The public API: accumulate.run at the top level, a sorted and complete __all__, concise reprs, warp_dose(outside=...)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import accumulate
from accumulate import CourseDose, DisplacementField, Grid, InputError, Volume, cumulative_eqd2, warp_dose
from accumulate.cli import COMMANDS, main


def test_run_is_at_the_top_level_without_importing_the_pipeline_first():
    code = "import sys, accumulate; assert 'accumulate.pipeline' not in sys.modules; import accumulate.pipeline as p; " \
           "assert accumulate.run is p.run and accumulate.RunResult is p.RunResult"  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True)


def test_all_is_sorted_complete_and_every_name_resolves():
    assert accumulate.__all__ == sorted(accumulate.__all__) and len(set(accumulate.__all__)) == len(accumulate.__all__)
    missing = [name for name in accumulate.__all__ if not hasattr(accumulate, name)]
    assert not missing
    public = {n for n in dir(accumulate) if not n.startswith("_") and not isinstance(getattr(accumulate, n), type(np))}
    assert public <= set(accumulate.__all__) | {"annotations"}


def test_reprs_show_shape_spacing_origin_dtype_and_range_never_the_array():
    grid = Grid((40, 50, 60), origin_mm=(-10.0, 2.5, 7.0), spacing_mm=(1.0, 1.5, 2.5))
    values = np.linspace(0.0, 70.0, grid.size).reshape(grid.shape)
    values[0, 0, 0] = np.nan
    text = repr(Volume(values, grid))  # second value: 70 / (40 * 50 * 60 - 1) Gy
    assert text == (
        "Volume(dose [Gy], dtype=float64, min=0.0005833, max=70, 1 NaN/inf, "
        "Grid(shape(z,y,x)=(40, 50, 60), origin=(-10.000, 2.500, 7.000) mm, spacing=(1, 1.5, 2.5) mm))"
    )
    assert len(text) < 200 and "nan," not in text
    field = repr(DisplacementField(np.full(grid.shape + (3,), 1.5, dtype=np.float32), grid))
    assert field.startswith("DisplacementField(u [mm], dtype=float32, min=1.5, max=1.5, Grid(")
    tilted = Grid((2, 2, 2), direction=(0, 1, 0, 1, 0, 0, 0, 0, 1))
    assert "direction=(0, 1, 0, 1, 0, 0, 0, 0, 1)" in repr(tilted) and "direction" not in repr(Grid((2, 2, 2)))


def _shifted():
    grid = Grid((4, 5, 6), spacing_mm=(2.0, 2.0, 2.0))
    dose = Volume(np.arange(grid.size, dtype=float).reshape(grid.shape) + 1.0, grid)
    u = np.zeros(grid.shape + (3,))
    u[..., 0] = 2 * 2.0  # moving = fixed + two voxels in x: the last two columns map outside
    return dose, DisplacementField(u, grid)


@pytest.mark.parametrize("method", ["direct", "mass"])
def test_warp_dose_outside_zero_by_default_feeds_cumulative_eqd2_and_nan_is_refused_there_pointing_at_the_option(method):
    dose, field = _shifted()
    zero = warp_dose(dose, field, method=method, backend="numpy")
    assert np.all(zero.dose.array[..., -2:] == 0) and zero.outside.array[..., -2:].all()
    np.testing.assert_allclose(zero.dose.array[..., :-2], dose.array[..., 2:], rtol=1e-12)
    total = cumulative_eqd2([CourseDose("prior", zero.dose, 35)], 3.0, backend="numpy").cumulative
    d = dose.array[..., 2:]
    np.testing.assert_allclose(total.array[..., :-2], d * (d / 35 + 3) / (2 + 3), rtol=1e-12)  # EQD2 by hand
    nan = warp_dose(dose, field, method=method, backend="numpy", outside="nan")
    assert np.isnan(nan.dose.array[..., -2:]).all() and (nan.outside.array == zero.outside.array).all()
    with pytest.raises(InputError, match=r"NaN.*outside='zero'"):
        cumulative_eqd2([CourseDose("prior", nan.dose, 35)], 3.0, backend="numpy")
    with pytest.raises(InputError, match="outside must be one of"):
        warp_dose(dose, field, outside="clip")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_a_help_page(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0 and f"usage: accumulate {command}" in capsys.readouterr().out
