"""Text from outside (attribute values, file and folder names, AE titles) made safe for a one-line log record.

A PatientID holding a newline would otherwise start a line of its own in the journal, one that can
pass for a record of the service (a forged "stored" or "case done" line). :func:`printable` escapes
every character that is not printable (control characters, line and paragraph separators, format
characters such as bidirectional overrides) the way Python's ``repr`` does, and shortens long text;
:class:`OneLineFilter` applies it to every record that a handler of the service writes.
"""

from __future__ import annotations

import logging

MAX_CHARS = 200  # a log field longer than this is cut, with its length said


def _escaped(text: str) -> str:
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def printable(text: object, max_chars: int = MAX_CHARS) -> str:
    """``text`` with each non-printable character escaped (``\\n``, ``\\x1b``, ``\\u2028``), at most ``max_chars`` kept."""
    text = str(text)
    escaped = _escaped(text[:max_chars])
    return escaped if len(text) <= max_chars else f"{escaped}... ({len(text)} characters)"


class OneLineFilter(logging.Filter):
    """Escape what cannot be printed in a record's message (its traceback, added by the formatter, is left as it is)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        safe = _escaped(message)
        if safe != message:
            record.msg, record.args = safe, None
        return True
