"""Elastix parameter files read and written without ITK: ``(Key value ...)`` entries, ``//`` comments.

Values are kept as elastix keeps them: strings, the quotes of text values removed. Reading
them here lets a command check its parameters (and refuse a bad file by name) before the
elastix worker, and the ITK import it needs, start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError

_ENTRY = re.compile(r"\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*((?:\"[^\"]*\"|[^()\"])*)\)")
_VALUE = re.compile(r"\"([^\"]*)\"|(\S+)")


def read_parameter_file(path: Any) -> dict[str, list[str]]:
    """The entries of one elastix parameter file, ``{key: [value, ...]}`` in file order.

    Raises
    ------
    InputError
        The file does not exist, cannot be read, holds an unbalanced parenthesis or names no
        ``(Transform ...)``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"elastix parameter file '{path}' does not exist")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"could not read elastix parameter file '{path}': {exc}") from None
    lines = [re.sub(r"//.*$", "", line) for line in text.splitlines()]
    body = "\n".join(lines)
    entries = {m.group(1): [quoted or bare for quoted, bare in _VALUE.findall(m.group(2))]
               for m in _ENTRY.finditer(body)}  # fmt: skip
    rest = _ENTRY.sub("", body)
    if rest.strip():
        bad = next(line.strip() for line in rest.splitlines() if line.strip())
        raise InputError(f"could not parse elastix parameter file '{path}': '{bad}' is not a (Key value ...) entry")
    if "Transform" not in entries:
        raise InputError(f"elastix parameter file '{path}' names no (Transform ...)")
    return entries


def parameter_maps(files: Sequence[Any], overrides: Mapping[str, Any]) -> list[dict[str, list[str]]]:
    """The parameter map of each file, with ``overrides`` (key -> value or list of values) set in every one."""
    maps = []
    for path in files:
        entries = read_parameter_file(path)
        for key, value in overrides.items():
            entries[key] = [str(v) for v in (value if isinstance(value, list | tuple) else [value])]
        maps.append(entries)
    if not maps:
        raise InputError("no elastix parameter files given")
    return maps


def write_parameter_file(entries: Mapping[str, Sequence[str]], path: Path) -> None:
    """Write one elastix parameter map as a parameter file: ``(Key value ...)``, text values quoted."""

    def token(value: str) -> str:
        try:
            float(value)
        except ValueError:
            return f'"{value}"'
        return value

    lines = [f"({key} {' '.join(token(v) for v in values)})" for key, values in sorted(entries.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
