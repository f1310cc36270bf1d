"""Constraint sets: parsing, interval steps, percentage levels, verdicts on known DVHs."""

from __future__ import annotations

import numpy as np
import pytest

from accumulate import ConfigError, Grid, Volume
from accumulate.evaluation import constraint_set_names, dvh, evaluate, load_constraint_set, parse_constraint_set


def _uniform_dvh(name: str, dose_gy: float):
    grid = Grid((2, 2, 2), spacing_mm=(10, 10, 10))  # 8 cc
    return dvh(Volume(np.full(grid.shape, dose_gy), grid), Volume(np.ones(grid.shape, bool), grid, "mask", "1"), name)


@pytest.mark.parametrize("name", constraint_set_names())
def test_shipped_sets_load_and_cite_a_source(name):
    assert name in constraint_set_names()
    shipped = load_constraint_set(name)
    assert shipped.constraints and all(c.source for c in shipped.constraints)


def test_cord_limit_steps_up_after_six_months():
    # Nieder 2006: cumulative BED 135.5 Gy2 -> 67.75 Gy EQD2 (a/b 2) once the interval is >= 6 months
    cord = next(
        c for c in load_constraint_set("hn-reirradiation").constraints if c.structure == "SpinalCord" and c.scope == "cumulative"
    )
    assert cord.limit_for(3) == 50.0
    assert cord.limit_for(6) == pytest.approx(135.5 / 2)
    dvhs = {("cumulative", "eqd2"): {"SpinalCord": _uniform_dvh("SpinalCord", 60.0)}}
    only_cord = parse_constraint_set({"constraint": [{"structure": "SpinalCord", "metric": "D0.03cc", "limit": 50.0,
                                                      "steps": [{"min_months": 6, "limit": 67.75}]}]})  # fmt: skip
    early, late = evaluate(only_cord, dvhs, ["SpinalCord"], 3)[0], evaluate(only_cord, dvhs, ["SpinalCord"], 12)[0]
    assert (early.verdict, early.margin) == ("fail", pytest.approx(-10.0))
    assert (late.verdict, late.margin) == ("pass", pytest.approx(7.75))


def test_percentage_levels():
    spec = {
        "constraint": [
            {"structure": "Brainstem", "metric": "Dmax", "tolerance": 54.0, "levels": {"desirable": 130, "acceptable": 150}}
        ]
    }
    constraints = parse_constraint_set(spec)

    def verdict(dose):
        return evaluate(constraints, {("cumulative", "eqd2"): {"Brainstem": _uniform_dvh("Brainstem", dose)}}, ["Brainstem"])[0]

    assert verdict(70.0).verdict == "desirable"  # <= 70.2 Gy
    assert verdict(75.0).verdict == "acceptable"  # <= 81 Gy
    assert verdict(82.0).verdict == "exceeded"
    assert verdict(82.0).limit == pytest.approx(81.0)


def test_new_course_scope_and_missing_structures():
    spec = {"constraint": [
        {"structure": "SpinalCord", "metric": "D0.03cc", "scope": "new_course", "limit": 49.0},
        {"structure": "Chiasm", "metric": "Dmax", "limit": 55.0},
    ]}  # fmt: skip
    dvhs = {("new_course", "eqd2"): {"Cord": _uniform_dvh("Cord", 30.0)}}
    cord, chiasm = evaluate(parse_constraint_set(spec), dvhs, ["Cord", "BODY"])  # "Cord" is a synonym of SpinalCord
    assert cord.structure_found == "Cord" and cord.verdict == "pass" and cord.margin == pytest.approx(19.0)
    assert chiasm.verdict == "not evaluated" and chiasm.passed is None and chiasm.reason == "structure absent"


def test_volume_metric_limit():
    spec = {"constraint": [{"structure": "Lung", "metric": "V20Gy%", "limit": 30.0}]}
    grid = Grid((1, 1, 10))
    lung = dvh(
        Volume(np.arange(10.0).reshape(grid.shape) * 5, grid), Volume(np.ones(grid.shape, bool), grid, "mask", "1"), "Lung"
    )
    (verdict,) = evaluate(parse_constraint_set(spec), {("cumulative", "eqd2"): {"Lung": lung}}, ["Lung"])
    assert verdict.value == pytest.approx(60.0)  # doses 20, 25, ..., 45 Gy: 6 of 10 voxels
    assert verdict.verdict == "fail"


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"metric": "Dmax", "limit": 1}, "'structure' is required"),
        ({"structure": "Cord", "metric": "Dhot", "limit": 1}, "unknown metric 'Dhot'"),
        ({"structure": "Cord", "metric": "Dmax"}, "exactly one of 'limit', 'tiers' or 'tolerance'"),
        ({"structure": "Cord", "metric": "Dmax", "limit": "45"}, "'limit' must be a number"),
        ({"structure": "Cord", "metric": "Dmax", "limit": 45, "scope": "prior"}, "scope must be one of"),
        ({"structure": "Cord", "metric": "Dmax", "limit": 45, "limt": 1}, r"unknown key\(s\) \['limt'\]"),
        ({"structure": "Cord", "metric": "Dmax", "tolerance": 45}, "needs 'levels'"),
        ({"structure": "Cord", "metric": "Dmax", "limit": 45, "steps": [{"min_months": 24, "limit": 60}, {"min_months": 6, "limit": 50}]},  # noqa: E501
         "increasing min_months"),
    ],
)  # fmt: skip
def test_bad_constraints_name_the_entry(entry, message):
    with pytest.raises(ConfigError, match=rf"my.toml: constraint 1.*{message}"):
        parse_constraint_set({"constraint": [entry]}, "my.toml")


def test_unknown_set_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="unknown constraint set 'hn'.*hn-reirradiation"):
        load_constraint_set("hn")
