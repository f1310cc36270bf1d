"""Shared fixtures: the fast backends to compare with the NumPy reference, and the GPU marker."""

from __future__ import annotations

import os

import pytest

from accumulate.backends import available_backends

FAST_BACKENDS = ("numba", "cuda-host", "cupy")

# Runs write no report.pdf (headless Chromium takes seconds); tests/report/test_run_report.py switches it on.
os.environ.setdefault("ACCUMULATE_PDF", "0")


def pytest_collection_modifyitems(config, items):
    if "cupy" in available_backends():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def _backend_param(name: str):
    marks = [pytest.mark.gpu] if name == "cupy" else []
    return pytest.param(name, marks=marks, id=name)


@pytest.fixture(params=[_backend_param(name) for name in FAST_BACKENDS])
def fast_backend(request) -> str:
    """Each accelerated backend in turn (cupy only where a GPU is present)."""
    return request.param


@pytest.fixture(params=[pytest.param("numpy", id="numpy")] + [_backend_param(name) for name in FAST_BACKENDS])
def any_backend(request) -> str:
    """Every backend, the reference included."""
    return request.param
