"""The backend contract: availability that runs the backend, ``auto``'s order, the override, the families.

The broken-Numba and no-compiler cases run in a subprocess (a fake ``numba`` package first on
``sys.path``; ``PATH`` pointing at an empty folder and ``CXX`` unset), so the probes of this
process are not disturbed.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from accumulate import backends
from accumulate.backends import AUTO_ORDER, BACKENDS, CHOICES, NAMES, Family, Unavailable
from accumulate.errors import BackendUnavailable
from accumulate.radiobiology.operations import LQ, LQOperations
from accumulate.warp.operations import WARP, WarpOperations

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake_probes(monkeypatch):
    """Replace the probes by fixed answers: ``set(name=None or "reason")``; the cache is cleared around it."""

    def set_answers(**answers):
        for key, reason in answers.items():
            name = key.replace("_", "-")
            answer = None if reason is None else Unavailable(reason)
            monkeypatch.setitem(BACKENDS, name, dataclasses.replace(BACKENDS[name], probe=lambda a=answer: a))
        backends._probe.cache_clear()

    monkeypatch.delenv(backends.ENV_VARIABLE, raising=False)
    yield set_answers
    backends._probe.cache_clear()


def test_one_list_of_names():
    assert NAMES == ("numpy", "numba", "cuda-host", "cupy")
    assert CHOICES == ("auto", *NAMES) and tuple(BACKENDS) == NAMES and sorted(AUTO_ORDER) == sorted(NAMES)
    from accumulate import config

    assert config.BACKENDS is CHOICES  # the configuration accepts exactly these
    assert tuple(LQ.plugins) == NAMES and tuple(WARP.plugins) == NAMES
    for backend in BACKENDS.values():
        assert backend.dependencies and backend.install_hint
    import numpy

    assert BACKENDS["numpy"].versions() == {"numpy": numpy.__version__}
    assert BACKENDS["cuda-host"].versions() == {}  # a compiler is not a Python distribution


def test_auto_takes_the_first_available_in_order(fake_probes):
    fake_probes(cupy=None, cuda_host=None, numba=None, numpy=None)
    assert backends.resolve() == "cupy"
    fake_probes(cupy="no device")
    assert backends.resolve() == "cuda-host"
    fake_probes(cuda_host="no compiler")
    assert backends.resolve() == "numba"
    fake_probes(numba="broken")
    assert backends.resolve() == "numpy"
    assert backends.available_backends() == ["numpy"]


def test_the_environment_overrides_auto_and_must_name_a_runnable_backend(fake_probes, monkeypatch):
    fake_probes(cupy=None, cuda_host=None, numba="Numba is installed but does not work", numpy=None)
    monkeypatch.setenv(backends.ENV_VARIABLE, "numpy")
    assert backends.resolve("auto") == "numpy"
    assert backends.resolve("cuda-host") == "cuda-host"  # an explicit name is not overridden
    monkeypatch.setenv(backends.ENV_VARIABLE, "numba")
    with pytest.raises(BackendUnavailable, match=r"'numba' cannot run here: Numba is installed but does not.*ACCUMULATE_BACKEND"):
        backends.resolve("auto")
    monkeypatch.setenv(backends.ENV_VARIABLE, "cuda")
    with pytest.raises(BackendUnavailable, match=r"unknown backend 'cuda'.*ACCUMULATE_BACKEND"):
        backends.resolve("auto")
    monkeypatch.setenv(backends.ENV_VARIABLE, "auto")
    assert backends.resolve("auto") == "cupy"


def test_an_unavailable_backend_says_why_and_what_to_install(fake_probes):
    fake_probes(cupy="CuPy found no CUDA device")
    with pytest.raises(BackendUnavailable, match=r"'cupy' cannot run here: CuPy found no CUDA device\. Fix: pip install"):
        backends.resolve("cupy")
    with pytest.raises(BackendUnavailable, match="unknown backend 'opencl'"):
        backends.resolve("opencl")


def test_families_give_implementations_that_follow_their_protocol():
    for name in backends.available_backends():
        assert isinstance(LQ.operations(name)[1], LQOperations)
        assert isinstance(WARP.operations(name)[1], WarpOperations)
    with pytest.raises(ValueError, match="must name exactly the backends"):
        Family("incomplete", LQOperations, {"numpy": ("accumulate.radiobiology._reference", None)})
    wrong = Family("wrong", WarpOperations, {name: ("accumulate.radiobiology._reference", None) for name in NAMES})
    with pytest.raises(TypeError, match="does not follow WarpOperations"):
        wrong.operations("numpy")


def _run(code: str, tmp_path: Path, *, fake_numba: str | None = None, hide_compiler: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("ACCUMULATE_BACKEND", "CXX", "PYTHONPATH")}
    paths = [str(ROOT)]
    if fake_numba is not None:
        package = tmp_path / "fake" / "numba"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(textwrap.dedent(fake_numba))
        paths.insert(0, str(package.parent))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    if hide_compiler:
        empty = tmp_path / "empty-bin"
        empty.mkdir()
        env["PATH"] = str(empty)
    env["ACCUMULATE_KERNEL_CACHE"] = str(tmp_path / "kernels")  # no library built earlier can stand in for a compiler
    command = [sys.executable, "-c", textwrap.dedent(code)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)


PROBE = """
    import logging
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    import accumulate as acc
    from accumulate import backends
    print("numba:", backends.BACKENDS["numba"].unavailable())
    print("auto:", backends.resolve("auto"))
    print("eqd2:", acc.eqd2(40.0, 5, 3.0))  # 8 Gy x 5, alpha/beta 3 Gy: 88 Gy
    try:
        backends.resolve("numba")
    except acc.BackendUnavailable as exc:
        print("explicit:", exc)
    import numpy as np
    from accumulate.registration import body_mask
    try:
        body_mask(acc.Volume(np.zeros((2, 3, 3)), acc.Grid((2, 3, 3), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)), unit="HU"))
    except acc.BackendUnavailable as exc:
        print("masks:", exc)
"""


@pytest.mark.parametrize(
    "fake",
    [
        pytest.param("raise ImportError('libllvmlite.so: cannot open shared object file')\n", id="raises-at-import"),
        pytest.param("def njit(*args, **kwargs):\n    raise RuntimeError('LLVM ERROR: simulated')\n", id="raises-at-jit"),
    ],
)
def test_a_broken_numba_makes_auto_fall_back_and_numba_fail_clearly(tmp_path, fake):
    done = _run(PROBE, tmp_path, fake_numba=fake, hide_compiler=True)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "auto: numpy" in out and "eqd2: 88.0" in out
    assert "backend 'auto' passes over 'numba': Numba is installed but does not work" in done.stderr  # logged, as a warning
    assert "WARNING" in done.stderr
    assert "explicit: backend 'numba' cannot run here: Numba is installed but does not work" in out
    assert ("libllvmlite" in out) if "ImportError" in fake else ("LLVM ERROR: simulated" in out)
    # the body masks have no NumPy twin: a clear error with the way around, not an ImportError
    assert "masks: automatic body masks need Numba, which does not work here" in out and "--no-masks" in out


def test_without_a_compiler_cuda_host_is_unavailable_with_the_reason(tmp_path):
    done = _run(
        """
        from accumulate import backends
        print(backends.BACKENDS["cuda-host"].unavailable().reason)
        print(backends.resolve("auto"))
        """,
        tmp_path,
        hide_compiler=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["no C++ compiler on PATH (set CXX or install g++)", "numba"]


def test_without_a_compiler_the_tests_needing_cuda_host_skip(tmp_path):
    selection = [
        "tests/test_kernels.py::test_host_loop_covers_every_voxel",
        "tests/test_radiobiology.py::test_eqdx_for_1p8_gy_reference",
    ]
    code = f"import sys, pytest; sys.exit(pytest.main({selection!r} + ['-q', '-rs', '-p', 'no:cacheprovider']))"
    done = _run(code, tmp_path, hide_compiler=True)
    report = done.stdout
    assert done.returncode == 0, report + done.stderr
    assert "failed" not in report and "error" not in report.lower()
    skipped = [line for line in report.splitlines() if line.startswith("SKIPPED")]
    assert skipped and all("cuda-host" in line or "CUDA device" in line for line in skipped)
    assert any("'cuda-host' cannot run here: no C++ compiler" in line for line in skipped)
    assert "passed" in report  # numpy and numba still ran
