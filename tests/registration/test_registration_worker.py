"""Elastix in a child process: parameter files read without ITK, images passed as raw MetaImage, a crash is an error."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from accumulate import Grid, InputError, RegistrationError, Volume
from accumulate.registration import _elastix, preset_files, read_image, register
from accumulate.registration._parameter_files import read_parameter_file
from accumulate.registration._vector_files import read_scalar_meta, write_scalar_meta

OBLIQUE = Grid((5, 6, 7), origin_mm=(-12.5, 40.0, 7.25), spacing_mm=(1.5, 2.0, 3.0), direction=(0, 1, 0, 1, 0, 0, 0, 0, -1))


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.uint8])
@pytest.mark.parametrize("compress", [False, True])
def test_scalar_metaimage_round_trip_with_itk(tmp_path, dtype, compress):
    import itk

    values = (np.arange(np.prod(OBLIQUE.shape)).reshape(OBLIQUE.shape) % 97 - 40).astype(dtype)
    ours = write_scalar_meta(Volume(values, OBLIQUE, "hu", "HU"), tmp_path / "ours.mha", compress=compress)
    by_itk = Volume.from_itk(itk.imread(str(ours)))
    assert by_itk.grid.is_close(OBLIQUE, atol_mm=1e-9, atol_direction=1e-12)
    np.testing.assert_array_equal(by_itk.array, values)
    theirs = tmp_path / "itk.mha"
    itk.imwrite(Volume(values, OBLIQUE, "hu", "HU").to_itk(), str(theirs), compression=not compress)
    back = read_scalar_meta(theirs)
    assert back.grid.is_close(OBLIQUE, atol_mm=1e-9, atol_direction=1e-12) and back.array.dtype == dtype
    np.testing.assert_array_equal(back.array, values)
    assert read_image(theirs).array.dtype == np.float32


def test_parameter_files_read_as_elastix_reads_them(tmp_path):
    import itk

    for path in preset_files("fast") + preset_files("accurate"):
        reference = itk.ParameterObject.New()
        reference.ReadParameterFile(str(path))
        assert read_parameter_file(path) == {k: list(v) for k, v in reference.GetParameterMap(0).items()}
    odd = tmp_path / "odd.txt"
    odd.write_text('// comment\n(Transform "EulerTransform") // trailing\n(Metric "A" "B")\n(Scales 1.0  2 3e-1)\n')
    assert read_parameter_file(odd) == {"Transform": ["EulerTransform"], "Metric": ["A", "B"], "Scales": ["1.0", "2", "3e-1"]}
    bad = tmp_path / "bad.txt"
    bad.write_text('(Transform "EulerTransform")\nMetric "A")\n')
    with pytest.raises(InputError, match="bad.txt.*not a \\(Key value"):
        read_parameter_file(bad)
    none = tmp_path / "none.txt"
    none.write_text('(Metric "A")\n')
    with pytest.raises(InputError, match="names no \\(Transform"):
        read_parameter_file(none)


def _cube_ct() -> Volume:
    grid = Grid((12, 16, 16), spacing_mm=(2.0, 2.0, 2.0))
    hu = np.full(grid.shape, -1000.0, np.float32)
    hu[3:9, 4:12, 4:12] = 40.0
    return Volume(hu, grid, "hu", "HU")


def test_a_crash_of_elastix_is_a_registration_error_naming_the_stage(tmp_path, monkeypatch):
    # the worker replaced by one that dies of SIGSEGV as elastix did (exit 139 from a shell)
    crash = "import os, signal, sys, pathlib, json; job = json.loads(pathlib.Path(sys.argv[1]).read_text())['jobs'][0]; "
    crash += "pathlib.Path(job['output_directory'], 'current_stage').write_text('B-spline'); os.kill(os.getpid(), signal.SIGSEGV)"
    monkeypatch.setattr(_elastix, "_worker_command", lambda job: [sys.executable, "-c", crash, str(job)])
    ct = _cube_ct()
    with pytest.raises(RegistrationError, match="elastix crashed during 'B-spline' \\(signal SIGSEGV\\)"):
        register(ct, ct, parameter_files=preset_files("fast")[:1], output_directory=tmp_path / "out")
    assert not (tmp_path / "out" / "inputs").exists()


@pytest.mark.slow
def test_multi_metric_with_two_threads_runs(small_ct, tmp_path):
    # NC + bending energy with --threads 2 was a SIGSEGV (exit 139); the threads now go through ITK's global setting.
    # An identical pair: the field must stay near zero (the bending energy keeps it smooth).
    text = (preset_files("fast")[2]).read_text()
    text = text.replace('(Registration "MultiResolutionRegistration")', '(Registration "MultiMetricMultiResolutionRegistration")')
    text = text.replace('(Metric "AdvancedNormalizedCorrelation")',
                        '(Metric "AdvancedNormalizedCorrelation" "TransformBendingEnergyPenalty")\n(Metric0Weight 1.0)\n'
                        '(Metric1Weight 0.01)')  # fmt: skip
    assert "TransformBendingEnergyPenalty" in text
    path = tmp_path / "multi.txt"
    path.write_text(text)
    result = register(small_ct, small_ct, parameter_files=[path], threads=2, overrides={"MaximumNumberOfIterations": 20},
                      output_directory=tmp_path / "out")  # fmt: skip
    assert np.percentile(np.linalg.norm(result.field.array, axis=-1), 95) < 0.5
    assert "TransformBendingEnergyPenalty" in (tmp_path / "out" / "elastix.log").read_text()
