"""Where the package's data directories are: installed wheel first, then the source tree."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The ``kernels`` or ``configs`` directory (shipped inside the wheel, top level in a checkout)."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"the '{name}' directory is missing from the installation (looked in {_PACKAGE} and {_PACKAGE.parent})"
    )
