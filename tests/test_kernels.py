"""The CUDA sources: compiled by nvcc for both precisions, built for the host, and all launched.

On CI (``CI`` set) a missing nvcc is a failure, not a skip: every run must check the sources.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from accumulate import _kernels

KERNEL_DIR = _kernels.kernel_dir()
SOURCES = sorted(KERNEL_DIR.glob("*.cu"))
PACKAGE_DIR = Path(__file__).resolve().parents[1] / "accumulate"


def _extern_kernels(source: Path) -> list[str]:
    return re.findall(r'extern\s+"C"\s+__global__\s+void\s+(\w+)', source.read_text())


def _nvcc() -> str:
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        if os.environ.get("CI"):
            pytest.fail("nvcc is not on PATH: CI must compile every kernels/*.cu")
        pytest.skip("nvcc is not installed")
    return nvcc


def test_there_are_kernel_sources():
    assert {p.name for p in SOURCES} >= {"radiobiology.cu"}


@pytest.mark.parametrize("real_t", ["float", "double"])
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_nvcc_compiles(source, real_t, tmp_path):
    command = [
        _nvcc(),
        "-std=c++14",
        "-arch=sm_80",
        "--ptx",
        f"-Dreal_t={real_t}",
        f"-I{KERNEL_DIR}",
        str(source),
        "-o",
        str(tmp_path / "k.ptx"),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    ptx = (tmp_path / "k.ptx").read_text()
    for name in _extern_kernels(source):
        assert f".entry {name}(" in ptx, f"kernel {name} missing from the PTX of {source.name}"


@pytest.mark.parametrize("real_t", ["float", "double"])
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_host_build_exports_every_kernel(source, real_t):
    library = _kernels._host_library(source.stem, real_t)
    for name in _extern_kernels(source):
        assert hasattr(library, name)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_every_kernel_has_a_launcher(source):
    """No kernel ships unexecuted: each extern "C" kernel is launched from the package."""
    python = "\n".join(p.read_text() for p in PACKAGE_DIR.rglob("*.py"))
    for name in _extern_kernels(source):
        assert re.search(rf'["\']{name}["\']', python), f"kernel {name} in {source.name} is never launched"


def test_host_grid_stride_loop_covers_every_voxel():
    # one host "thread" must visit all n voxels, including n not a multiple of any block size
    dose = np.arange(1000.0 + 3)
    out = np.empty_like(dose)
    one = np.float64(1.0)
    args = (dose, np.array([2.0]), np.int64(0), one, one, np.float64(0.0), out, np.int64(dose.size))
    _kernels.launch("cuda-host", "radiobiology", "lq_equivalent_dose", dose.dtype, dose.size, *args)
    np.testing.assert_allclose(out, dose * (2 + dose) / 2)  # BED of single fractions, a/b = 2


def test_kernel_arguments_are_checked():
    with pytest.raises(TypeError, match="use an array or a NumPy scalar"):
        _kernels.launch("cuda-host", "radiobiology", "lq_equivalent_dose", np.float64, 1, 1.0)
    with pytest.raises(ValueError, match="unknown kernel executor"):
        _kernels.launch("opencl", "radiobiology", "lq_equivalent_dose", np.float64, 1)
