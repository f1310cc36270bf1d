"""The CUDA sources: compiled by NVRTC exactly as CuPy compiles them, by nvcc, built for the host, all launched.

On CI (``CI`` set) a missing nvcc or CuPy NVRTC binding is a failure, not a skip: every run must
check the sources. CuPy's NVRTC binding compiles without a GPU.
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
SPECIALISATIONS = [(np.float32, np.int32), (np.float64, np.int32), (np.float32, np.int64), (np.float64, np.int64)]
SPECIALISATION_IDS = ["float-i32", "double-i32", "float-i64", "double-i64"]
#: Architectures the GPU path is compiled for in the check: Ampere (A100), Hopper (H100/H200)
ARCHITECTURES = ("80", "90")


def _extern_kernels(source: Path) -> list[str]:
    return re.findall(r'extern\s+"C"\s+__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s+)?(\w+)\s*\(', source.read_text())


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what}: CI must compile every kernels/*.cu")
    pytest.skip(what)


def _nvcc() -> str:
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        _missing("nvcc is not on PATH")
    return nvcc


def test_there_are_kernel_sources():
    assert {p.name for p in SOURCES} == {"radiobiology.cu", "warp.cu"}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_every_kernel_declares_its_launch_bounds(source):
    declared = re.findall(r'extern\s+"C"\s+__global__\s+void\s+(\S+)', source.read_text())
    assert declared and all(d.startswith("__launch_bounds__(THREADS_PER_BLOCK)") for d in declared)


def _cupy_nvrtc(code: str, options: tuple[str, ...], arch: str) -> bytes:
    """Compile as ``cupy.RawModule(code=code, options=options)`` does on a device of compute capability ``arch``.

    CuPy 13/14: ``compile_with_cache`` adds its include paths (``assemble_cupy_compiler_options``),
    ``_compile_with_cache_cuda`` appends ``-ftz=true`` and ``_compile_using_nvrtc`` the architecture
    and ``--device-as-default-execution-space`` before ``_NVRTCProgram.compile``. Only the device
    query (the architecture) is replaced, so no GPU is needed.
    """
    try:
        from cupy._core import core
        from cupy.cuda import compiler
    except ImportError:
        _missing("CuPy is not installed (pip install -e '.[test]' brings cupy-cuda12x and its NVRTC)")
    full = core.assemble_cupy_compiler_options(options) + ("-ftz=true", f"-arch=sm_{arch}", "--device-as-default-execution-space")
    try:
        program = compiler._NVRTCProgram(code, "kern.cu", (), (), method="cubin")
    except Exception as exc:  # the NVRTC library itself is missing
        _missing(f"CuPy cannot load NVRTC ({type(exc).__name__}: {exc})")
    binary, _ = program.compile(full)
    return binary


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("dtype, index", SPECIALISATIONS, ids=SPECIALISATION_IDS)
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_nvrtc_compiles_what_cupy_compiles(source, dtype, index, arch):
    code, options = _kernels.cupy_source(source.stem, dtype, index)
    assert code.endswith(source.read_text())  # the launcher's preamble, then the file unchanged
    binary = _cupy_nvrtc(code, options, arch)
    for name in _extern_kernels(source):
        assert name.encode() in binary, f"kernel {name} missing from the cubin of {source.name}"


@pytest.mark.parametrize("dtype, index", SPECIALISATIONS, ids=SPECIALISATION_IDS)
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_nvcc_compiles(source, dtype, index, tmp_path):
    code, options = _kernels.cupy_source(source.stem, dtype, index)
    (tmp_path / "k.cu").write_text(code)
    command = [_nvcc(), *options, "-arch=sm_80", "--ptx", str(tmp_path / "k.cu"), "-o", str(tmp_path / "k.ptx")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    ptx = (tmp_path / "k.ptx").read_text()
    for name in _extern_kernels(source):
        assert re.search(rf"\.entry {name}\(", ptx), f"kernel {name} missing from the PTX of {source.name}"
        assert f".maxntid {_kernels.THREADS_PER_BLOCK}, 1, 1" in ptx  # the launch bounds reached the PTX


@pytest.mark.backend("cuda-host")
@pytest.mark.parametrize("dtype, index", SPECIALISATIONS, ids=SPECIALISATION_IDS)
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_host_build_exports_every_kernel(source, dtype, index):
    library = _kernels._host_library(source.stem, _kernels.real_type(dtype), index)
    for name in _extern_kernels(source):
        assert hasattr(library, name)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_every_kernel_has_a_launcher(source):
    """No kernel ships unexecuted: each extern "C" kernel is launched from the package."""
    python = "\n".join(p.read_text() for p in PACKAGE_DIR.rglob("*.py"))
    for name in _extern_kernels(source):
        assert re.search(rf'["\']{name}["\']', python), f"kernel {name} in {source.name} is never launched"


@pytest.mark.backend("cuda-host")
@pytest.mark.parametrize("index", [np.int32, np.int64])
def test_host_loop_covers_every_voxel(index):
    # the OpenMP loop must visit all n voxels, including n not a multiple of any chunk size
    dose = np.arange(100_000.0 + 3)
    out = np.full_like(dose, np.nan)
    one = np.float64(1.0)
    args = (dose, np.array([2.0]), index(0), one, one, np.float64(0.0), out, index(dose.size))
    _kernels.launch("cuda-host", "radiobiology", "lq_equivalent_dose", dose.dtype, index, dose.size, *args)
    np.testing.assert_allclose(out, dose * (2 + dose) / 2)  # BED of single fractions, a/b = 2


def test_index_width_follows_the_largest_array():
    assert _kernels.index_type(10, 2**30 - 1) is np.int32
    assert _kernels.index_type(10, 2**30) is np.int64


@pytest.mark.backend("cuda-host")
def test_kernel_arguments_are_checked():
    with pytest.raises(TypeError, match="use an array or a NumPy scalar"):
        _kernels.launch("cuda-host", "radiobiology", "lq_equivalent_dose", np.float64, np.int32, 1, 1.0)
    with pytest.raises(ValueError, match="unknown kernel executor"):
        _kernels.launch("opencl", "radiobiology", "lq_equivalent_dose", np.float64, np.int32, 1)
