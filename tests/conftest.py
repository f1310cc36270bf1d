"""Shared fixtures: the fast backends to compare with the NumPy reference, and the GPU and backend markers.

A test that needs a backend says so (``@pytest.mark.backend("cuda-host")``, or takes the
``fast_backend``/``any_backend`` fixture); where that backend cannot run it is skipped with the
reason (no C++ compiler, Numba broken, no CUDA device), never failed.
"""

from __future__ import annotations

import os

import pytest

from accumulate.backends import BACKENDS, NAMES, available_backends

FAST_BACKENDS = tuple(name for name in NAMES if name != "numpy")

# Runs write no report.pdf (headless Chromium takes seconds); tests/report/test_run_report.py switches it on.
os.environ.setdefault("ACCUMULATE_PDF", "0")


def pytest_collection_modifyitems(config, items):
    if "cupy" in available_backends():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def require_backend(name: str) -> None:
    """Skip the running test, with the reason, when backend ``name`` cannot run here."""
    problem = BACKENDS[name].unavailable()
    if problem is not None:
        pytest.skip(f"backend {name!r} cannot run here: {problem.reason}")


def pytest_runtest_setup(item):
    for mark in item.iter_markers("backend"):
        for name in mark.args:
            require_backend(name)


def _backend_param(name: str):
    marks = [pytest.mark.gpu] if name == "cupy" else []
    return pytest.param(name, marks=marks, id=name)


@pytest.fixture(params=[_backend_param(name) for name in FAST_BACKENDS])
def fast_backend(request) -> str:
    """Each accelerated backend in turn (each only where it runs)."""
    require_backend(request.param)
    return request.param


@pytest.fixture(params=[pytest.param("numpy", id="numpy")] + [_backend_param(name) for name in FAST_BACKENDS])
def any_backend(request) -> str:
    """Every backend, the reference included (each only where it runs)."""
    require_backend(request.param)
    return request.param
