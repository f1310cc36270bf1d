"""The report page from a summary: banner, reasons, warnings under the banner, verdicts with units, assumptions."""

from __future__ import annotations

from accumulate.report import Figure, render_report, write_report

SUMMARY = {
    "title": "Re-irradiation: test case",
    "status": {
        "state": "not met",
        "exit_code": 10,
        "headline": "1 of 2 evaluated constraints not met",
        "reasons": ["not met: SpinalCord D0.03cc <= 50 (value 52.10, limit 50)"],
        "warnings": ["course 'prior': 2867 reference voxels map outside its dose grid and count as 0 Gy"],
        "overrides": [],
    },
    "constraints": [
        {
            "structure": "SpinalCord",
            "metric": "D0.03cc",
            "scope": "cumulative",
            "quantity": "eqd2",
            "value": 52.1,
            "limit": 50.0,
            "margin": -2.1,
            "verdict": "fail",
            "source": "QUANTEC",
        },
        {
            "structure": "Brainstem",
            "metric": "D0.03cc",
            "scope": "cumulative",
            "quantity": "eqd2",
            "value": 40.0,
            "limit": 60.0,
            "margin": 20.0,
            "verdict": "pass",
            "source": "convention",
        },
    ],
    "assumptions": {
        "alpha_beta_gy": {"default": 3.0, "SpinalCord": 2.0},
        "recovery": {"SpinalCord": "table (0 mo: 0 %, 12 mo: 50 %)"},
    },  # noqa: E501
}


def test_report_states_verdicts_and_assumptions(tmp_path):
    page = render_report(SUMMARY, figures=[Figure("a slice", png=b"\x89PNG\r\n\x1a\n")])
    assert '<span class="banner notmet">NOT MET: 1 of 2 evaluated constraints not met</span>' in page
    assert '<div class="panel reasons"><h3>Why</h3><ul><li>not met: SpinalCord D0.03cc' in page
    assert "<h3>Warnings</h3><ul><li>course &#x27;prior&#x27;: 2867 reference voxels map outside" in page
    assert '<tr class="fail"><td class="c-structure">SpinalCord</td>' in page and "-2.10" in page
    assert "<th>value [unit]</th>" in page and '<td class="c-unit">Gy EQD2</td>' in page
    assert "table (0 mo: 0 %, 12 mo: 50 %)" in page and "data:image/png;base64," in page
    path = write_report(tmp_path / "report.html", SUMMARY)
    assert path.read_text().startswith("<!DOCTYPE html>") and not list(tmp_path.glob(".report*"))


def test_incomplete_banner_is_amber_with_its_reasons():
    status = {
        "state": "incomplete",
        "exit_code": 12,
        "headline": "1 of 2 constraints not evaluated",
        "reasons": ["not evaluated: Brianstem D0.03cc <= 60: structure absent"],
        "warnings": [],
        "overrides": [],
    }
    page = render_report({**SUMMARY, "status": status})
    assert '<span class="banner incomplete">INCOMPLETE: 1 of 2 constraints not evaluated' in page
    assert "Brianstem D0.03cc &lt;= 60: structure absent" in page
    assert "banner pass" not in page and "banner passed" not in page
