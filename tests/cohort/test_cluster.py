"""Where patients run: a real local Dask cluster (a killed worker is one patient's failure), sizing, the CLI."""

from __future__ import annotations

import csv
import os
import sys

import pytest
from cohort_phantom import RECIPES, expected_cumulative, write_cohort, write_csv_manifest

from accumulate import BackendUnavailable
from accumulate.cli import main
from accumulate.cohort import _cluster, run_cohort
from accumulate.cohort._task import run_patient


def test_a_local_dask_cluster_runs_the_cohort_and_survives_a_killed_worker(case, tmp_path):
    recipes = (RECIPES[0], RECIPES[1], RECIPES[-1])
    synthetic = write_cohort(tmp_path, recipes, case=case)

    def dies_on_p02(task):  # pickled by value to the workers; P02's worker process exits mid-task
        if task.patient == "P02":
            os._exit(3)
        return run_patient(task)

    lines: list[str] = []
    result = run_cohort(synthetic.manifest, config=synthetic.base, output_dir=tmp_path / "out", workers=2,
                        progress=lines.append, task=dies_on_p02)  # fmt: skip
    assert any("local Dask cluster of 2 worker process(es)" in line and "dashboard: http://127.0.0.1:" in line for line in lines)
    assert result.done == 1 and set(result.failures) == {"P02", "P08-broken"}
    assert "worker process running it died" in result.failures["P02"]
    assert "no RTDOSE" in result.failures["P08-broken"]  # the broken export's own error, not the crash next door
    with (tmp_path / "out" / "results.csv").open() as handle:
        cord = next(r for r in csv.DictReader(handle) if r["patient"] == "P01" and r["structure"] == "SpinalCord")
    expected = expected_cumulative(case, RECIPES[0], "SpinalCord").max()
    assert float(cord["cumulative_eqd2_dmax"]) == pytest.approx(expected, rel=0.01)


def test_local_workers_are_sized_to_the_cores_or_pinned_one_per_gpu(monkeypatch):
    monkeypatch.setattr(_cluster, "usable_cores", lambda: 16)
    monkeypatch.setattr(_cluster, "visible_gpus", lambda backend: [])
    assert len(_cluster.worker_environments(None, None)) == 16
    assert _cluster.worker_environments(None, None)[0]["NUMBA_NUM_THREADS"] == "1"
    assert [env["OMP_NUM_THREADS"] for env in _cluster.worker_environments(4, None)] == ["4"] * 4
    monkeypatch.setattr(_cluster, "visible_gpus", lambda backend: ["2", "5"])
    gpus = _cluster.worker_environments(None, "auto")
    assert [(env["CUDA_VISIBLE_DEVICES"], env["NUMBA_NUM_THREADS"]) for env in gpus] == [("2", "8"), ("5", "8")]


def test_without_the_cohort_extra_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(BackendUnavailable, match=r"needs the package 'distributed'.*pip install 'accumulate-rt\[cohort\]'"):
        _cluster.require("distributed")


def test_cli_end_to_end_with_a_csv_manifest(case, tmp_path, capsys):
    recipes = (RECIPES[0], RECIPES[2], RECIPES[-1])  # P03: interval_months = 3 in the CSV
    synthetic = write_cohort(tmp_path, recipes, case=case)
    manifest = write_csv_manifest(tmp_path, case, recipes)
    code = main(["cohort", str(manifest), "--config", str(synthetic.base), "--out", str(tmp_path / "out"), "--workers", "0"])
    printed = capsys.readouterr().out
    assert code == 11  # finished, but a patient failed
    assert "cohort manifest.csv: 3 patients" in printed and "failed: P08-broken: course 'prior': no RTDOSE" in printed
    for name in ("results.parquet", "results.csv", "constraints.parquet", "constraints.csv", "cohort.html"):
        assert (tmp_path / "out" / name).is_file(), name
    with (tmp_path / "out" / "results.csv").open() as handle:
        cord = next(r for r in csv.DictReader(handle) if r["patient"] == "P03" and r["structure"] == "SpinalCord")
    expected = expected_cumulative(case, RECIPES[2], "SpinalCord").max()
    assert float(cord["cumulative_eqd2_dmax"]) == pytest.approx(expected, rel=0.01)
    assert main(["cohort", str(tmp_path / "missing.csv")]) == 5  # ConfigError: the manifest does not exist


def test_an_existing_cluster_is_used_by_its_scheduler_address(case, tmp_path):
    from distributed import LocalCluster

    synthetic = write_cohort(tmp_path, RECIPES[:1], case=case)
    lines: list[str] = []
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        result = run_cohort(synthetic.manifest, config=synthetic.base, output_dir=tmp_path / "out",
                            scheduler=cluster.scheduler_address, progress=lines.append)  # fmt: skip
    assert result.done == 1 and result.failures == {}
    assert any(f"on the Dask cluster at {cluster.scheduler_address} (1 workers now)" in line for line in lines)
