"""The accuracy benchmark's preset variants: only the B-spline stage changes, and only in the keys asked."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_registration_accuracy import VARIANTS, variant_files  # noqa: E402

from accumulate.registration import preset_files  # noqa: E402


def test_variant_changes_only_the_bspline_stage(tmp_path):
    changes = {"MaximumNumberOfIterations": "1000", "Metric1Weight": "2.0"}
    files = variant_files("fast", changes, tmp_path)
    shipped = preset_files("fast")
    assert [f.name for f in files] == [f.name for f in shipped]
    for new, old in zip(files[:-1], shipped[:-1], strict=True):
        assert new.read_text() == old.read_text()
    new_lines = files[-1].read_text().splitlines()
    old_lines = shipped[-1].read_text().splitlines()
    assert "(MaximumNumberOfIterations 1000)" in new_lines and "(MaximumNumberOfIterations 250)" in old_lines
    assert "(Metric1Weight 2.0)" in new_lines  # a key the preset lacks is added
    assert sorted(set(old_lines) - set(new_lines)) == ["(MaximumNumberOfIterations 250)"]
    assert all(preset in ("fast", "accurate") for preset, _ in VARIANTS.values())
