"""Doctests of the ``accumulate`` package: what their examples may use besides the package itself.

``demo_case()`` writes the built-in two-course test case once per session
(:func:`accumulate.phantom.write_demo_case` with ``size="test"``, about 3 s) and returns it, so
that the readers' examples run on real DICOM exports; ``scratch`` is a fresh folder per example.
"""

from __future__ import annotations

import functools

import pytest


@pytest.fixture(autouse=True)
def _doctest_helpers(request, tmp_path_factory):
    if type(request.node).__name__ != "DoctestItem":
        yield
        return
    namespace = request.getfixturevalue("doctest_namespace")

    @functools.cache
    def demo_case():
        from accumulate.phantom import write_demo_case

        return write_demo_case(tmp_path_factory.getbasetemp() / "doctest-demo", size="test")

    namespace["demo_case"] = _session_demo.setdefault("case", demo_case)
    namespace["scratch"] = tmp_path_factory.mktemp("example")
    yield


_session_demo: dict = {}
