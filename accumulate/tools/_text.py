"""Plain-text tables for the command line: columns aligned, numbers right-aligned, a header with units."""

from __future__ import annotations

from collections.abc import Sequence


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool] | None = None) -> str:
    """The rows under the header, each column as wide as its widest cell; ``numeric`` columns right-aligned."""
    numeric = list(numeric) if numeric is not None else [False] * len(header)
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [str(c).rjust(w) if right else str(c).ljust(w) for c, w, right in zip(cells, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])
