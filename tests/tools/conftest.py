"""The built-in case at test size, written once for the tools' tests (about 3 s)."""

from __future__ import annotations

import pytest

from accumulate.phantom import write_demo_case


@pytest.fixture(scope="session")
def case(tmp_path_factory):
    return write_demo_case(tmp_path_factory.mktemp("tools-case") / "hn", size="test")
