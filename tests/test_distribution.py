"""The distribution name: every documented install command names this project's, and a fresh venv gets this project.

``accumulate`` on the package index is an unrelated project; this one is ``accumulate-rt`` (the
import name and the command stay ``accumulate``).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

from accumulate.distribution import DISTRIBUTION, install_hint

ROOT = Path(__file__).resolve().parents[1]
#: `pip install X` in prose and code: X is a quoted requirement or a bare word (options skipped).
_COMMAND = re.compile(r"pip install (?:-[a-zA-Z-]+ )*('[^']+'|[^\s`'),]+)")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _requirements(text: str) -> list[str]:
    return [match.strip("'`") for match in _COMMAND.findall(text)]


def _ours(requirement: str) -> bool:
    """Whether a requirement names this project (its distribution, or a checkout: ``.``/``.[extra]``)."""
    return requirement.startswith(("accumulate", "."))


def test_every_documented_install_command_names_accumulate_rt():
    project = _project()
    assert project["name"] == DISTRIBUTION == "accumulate-rt"
    extras = set(project["optional-dependencies"])
    files = [ROOT / "README.md", *sorted((ROOT / "accumulate").rglob("*.py")), *sorted((ROOT / "configs").rglob("*"))]
    named = []
    for path in files:
        if not path.is_file():
            continue
        for requirement in _requirements(path.read_text(errors="replace")):
            if not _ours(requirement) or requirement.startswith("."):
                continue
            name, _, extra = requirement.partition("[")
            assert name == DISTRIBUTION, f"{path.relative_to(ROOT)}: pip install {requirement}"
            assert not extra or extra.rstrip("]") in extras, f"{path.relative_to(ROOT)}: unknown extra in {requirement}"
            named.append(requirement)
    readme = _requirements((ROOT / "README.md").read_text())
    assert {"accumulate-rt[service]", "accumulate-rt[cohort]"} <= set(readme)
    assert any(r.startswith(".[test]") for r in readme)  # a checkout installs itself with its test extra
    assert install_hint("cohort") == "pip install 'accumulate-rt[cohort]'"
    assert len(named) >= 4


@pytest.mark.slow
def test_the_documented_command_installs_this_project_in_a_fresh_venv(tmp_path):
    """Build this checkout's wheel, then run the README's `pip install 'accumulate-rt[cohort]'` in a new venv
    against that wheel alone (offline, no dependencies): pip must resolve the name to it."""
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("*.whl")
    assert wheel.name.startswith("accumulate_rt-")
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    command = "accumulate-rt[cohort]"  # as the README writes it for a cohort's Dask workers
    assert command in _requirements((ROOT / "README.md").read_text())
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--find-links", str(wheels),
                              command], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    probe = ("import importlib.metadata as m, json; d = m.distribution('accumulate-rt'); "
             "print(json.dumps([d.metadata['Name'], d.version, sorted(d.metadata.get_all('Provides-Extra')), "
             "[str(f) for f in d.files if str(f) == 'accumulate/__init__.py'], "
             "[e.value for e in d.entry_points if e.name == 'accumulate']]))")  # fmt: skip
    shown = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr[-2000:]
    import json

    name, version, extras, package, scripts = json.loads(shown.stdout)
    project = _project()
    assert (name, version) == ("accumulate-rt", project["version"])
    assert set(extras) == set(project["optional-dependencies"])
    assert package == ["accumulate/__init__.py"] and scripts == ["accumulate.cli:main"]
    assert (tmp_path / "venv" / "bin" / "accumulate").is_file()
