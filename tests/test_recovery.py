"""Recovery models: worked values, validation, presets against their published data."""

from __future__ import annotations

import math
from datetime import date

import pytest

import accumulate as acc
from accumulate import InputError
from accumulate.radiobiology.recovery import PRESETS


def test_half_recovered_after_12_months_leaves_25_of_50_gy():
    model = acc.recovery_model({"model": "table", "months": [0, 6, 12], "recovered": [0.0, 0.25, 0.5]})
    assert (1 - model.recovered(12)) * 50.0 == pytest.approx(25.0)
    assert model.recovered(9) == pytest.approx(0.375)  # linear between 6 and 12 months
    assert model.recovered(60) == pytest.approx(0.5)  # flat beyond the table


def test_table_not_starting_at_zero_rises_from_zero():
    model = acc.TableRecovery((6, 12), (0.25, 0.5))
    assert model.recovered(3) == pytest.approx(0.125)
    assert model.recovered(0) == 0.0


def test_constant_and_none():
    assert acc.ConstantRecovery(0.3).recovered(0.5) == 0.3
    assert acc.NoRecovery().recovered(120) == 0.0


def test_exponential_by_hand():
    model = acc.ExponentialRecovery(r_max=0.5, tau_months=6, lag_months=2)
    assert model.recovered(1.9) == 0.0
    assert model.recovered(8) == pytest.approx(0.5 * (1 - math.exp(-1)))
    assert model.recovered(1000) == pytest.approx(0.5)


def test_ang2001_preset_reproduces_the_published_points():
    # Ang et al. 2001: 76 %, 85 % and 101 % (capped at 100 %) of 44 Gy recovered after 1, 2 and 3 years
    model = PRESETS["ang2001-primate-cord"]
    assert [model.recovered(m) for m in (12, 24, 36)] == pytest.approx([0.76, 0.85, 1.0])


def test_jones_grant_preset_fits_the_primate_data_within_stated_residual():
    model = PRESETS["jones-grant-cns"]
    assert model.recovered(70 / (365.25 / 12)) == 0.0  # no recovery before 70 days
    for months, measured in ((12, 0.76), (24, 0.85), (36, 1.01)):
        assert abs(model.recovered(months) - measured) <= 0.075


def test_months_between_dates():
    # four calendar years hold exactly 4 x 365.25 days = 48 months of 365.25/12 days
    assert acc.months_between(date(2020, 1, 1), date(2024, 1, 1)) == pytest.approx(48.0, rel=1e-12)
    with pytest.raises(InputError, match="out of order: 2025-03-01 is after 2024-01-01"):
        acc.months_between(date(2025, 3, 1), date(2024, 1, 1))


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"model": "table", "months": [0, 12], "recovered": [0.0, 1.2]}, r"fraction in \[0, 1\], got 1.2"),
        ({"model": "table", "months": [0, 12, 6], "recovered": [0, 0.2, 0.3]}, "strictly increasing"),
        ({"model": "table", "months": [0, 12], "recovered": [0.5, 0.2]}, "must not decrease"),
        ({"model": "table", "months": [0, 12], "recovered": [0.5]}, "as many months as fractions"),
        ({"model": "constant", "recovered": -0.1}, r"\[0, 1\]"),
        ({"model": "exponential", "r_max": 0.5}, "needs the parameter 'tau_months'"),
        ({"model": "exponential", "r_max": 0.5, "tau_months": 0}, "tau_months must be finite and > 0"),
        ({"model": "constant", "recovered": 0.1, "months": [1]}, r"does not take the parameters \['months'\]"),
        ({"model": "magic"}, "unknown recovery model 'magic'.*cord-conservative"),
        ({"months": [1]}, "needs a 'model' key"),
    ],
)
def test_invalid_models_are_refused(spec, message):
    with pytest.raises(InputError, match=message):
        acc.recovery_model(spec)


def test_negative_interval_is_refused():
    with pytest.raises(InputError, match="interval since a prior course must be finite and >= 0"):
        acc.ConstantRecovery(0.2).recovered(-1)


def test_presets_by_name():
    assert acc.recovery_model("cord-conservative").recovered(12) == 0.5
    assert acc.recovery_model({"model": "none"}).recovered(12) == 0.0
