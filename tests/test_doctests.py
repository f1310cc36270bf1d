"""The Examples sections of the package's docstrings run, and print what they show.

Every module of ``accumulate`` is imported and its doctests run (stdlib :mod:`doctest`). Besides
the module's own names, an example may use ``demo_case()`` (the built-in two-course test case,
written once per session by :func:`accumulate.phantom.write_demo_case` with ``size="test"``, so
that the readers' examples run on real DICOM exports) and ``scratch`` (a fresh folder).
"""

from __future__ import annotations

import doctest
import functools
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "accumulate"
MODULES = sorted(
    ".".join(("accumulate", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
    for path in PACKAGE.rglob("*.py")
)


@pytest.fixture(scope="session")
def demo_case(tmp_path_factory):
    @functools.cache
    def write():
        from accumulate.phantom import write_demo_case

        return write_demo_case(tmp_path_factory.mktemp("doctest") / "demo", size="test")

    return write


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, demo_case, tmp_path):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:  # an optional dependency (an extra) that is not installed
        if (exc.name or "").split(".")[0] == "accumulate":
            raise
        pytest.skip(f"{name} needs {exc.name} (not installed)")
    result = doctest.testmod(
        module,
        extraglobs={"demo_case": demo_case, "scratch": tmp_path},
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        report=True,
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (see the output above)"


def test_every_module_is_found():
    assert "accumulate.backends" in MODULES and "accumulate.io" in MODULES and len(MODULES) > 100
