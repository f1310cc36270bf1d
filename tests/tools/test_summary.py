"""The ``run``/``demo`` console summary: values, limits and margins with units, the overall line, warnings last."""

from __future__ import annotations

import re
from types import SimpleNamespace

from accumulate.pipeline import RunStatus, print_summary


def _verdict(verdict, describe, metric, quantity, value, limit, reason=""):
    constraint = SimpleNamespace(metric=metric, quantity=quantity, describe=lambda: describe)
    margin = None if value is None else limit - value
    return SimpleNamespace(verdict=verdict, constraint=constraint, value=value, limit=limit, margin=margin, reason=reason,
                           note="")  # fmt: skip


def _result(unit: str):
    verdicts = [
        _verdict("pass", "SpinalCord D0.03cc <= 50", "D0.03cc", "eqd2", 37.484, 50.0),
        _verdict("fail", "Parotid_L V30Gy <= 10", "V30Gy", "physical", 12.5, 10.0),
        _verdict("pass", "PTV V95%Rx >= 95", "V95%Rx", "physical", 97.0, 100.0),
        _verdict("not evaluated", "Larynx Dmean <= 44", "Dmean", "eqd2", None, 44.0, "structure absent"),
    ]
    warnings = ("course 'prior': 2867 reference voxels map outside its dose grid and count as 0 Gy (inside BODY)",
                "structure.Mandible: 1.2 % of Mandible's volume lies outside the reference dose grid")  # fmt: skip
    status = RunStatus("not met", 10, "1 of 3 evaluated constraints not met", ("not met: Parotid_L V30Gy <= 10",), warnings)
    dose = SimpleNamespace(unit=unit)
    return SimpleNamespace(verdicts=verdicts, status=status, files={"report": "out/report.html"}, cumulative_eqd2=dose,
                           cumulative_physical=dose, uncertainty=None)  # fmt: skip


def test_every_number_has_its_unit_and_the_warnings_come_last(capsys):
    print_summary(_result("Gy"))
    out = capsys.readouterr().out
    lines = out.splitlines()

    def cells(word: str) -> list[str]:
        return re.split(r"\s{2,}", next(line for line in lines if word in line).strip())

    assert cells("verdict") == ["verdict", "constraint", "value", "limit", "margin"]
    assert cells("SpinalCord") == ["pass", "SpinalCord D0.03cc <= 50", "37.48 Gy EQD2", "50.00 Gy EQD2", "12.52 Gy EQD2"]
    assert cells("Parotid_L V30Gy")[2:] == ["12.50 cc", "10.00 cc", "-2.50 cc"]
    assert cells("V95%Rx")[2:] == ["97.00 %", "100.00 %", "3.00 %"]
    assert cells("Larynx")[2:] == ["-", "44.00 Gy EQD2", "-"]
    larynx = lines.index(next(line for line in lines if "Larynx" in line))
    assert lines[larynx + 1].strip() == "(structure absent)"
    assert "overall: NOT MET: 1 of 3 evaluated constraints not met" in lines
    tail = out[out.index("\nWarnings (2):") :]
    assert "course 'prior': 2867 reference voxels" in tail and "Mandible" in tail  # after the report line, naming each
    assert out.index("report: out/report.html") < out.index("Warnings (2):")


def test_rbe_weighted_doses_say_gy_rbe(capsys):
    print_summary(_result("Gy(RBE)"))
    out = capsys.readouterr().out
    assert "37.48 Gy(RBE) EQD2" in out and "Gy EQD2" not in out
