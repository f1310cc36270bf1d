"""report.pdf: the report page printed by headless Chromium (the page's print stylesheet decides the layout).

Switched off by ``[report] pdf = false`` or the environment variable ``ACCUMULATE_PDF=0``. When
Chromium is missing, fails or takes longer than :data:`PDF_TIMEOUT_S`, no PDF is written and
:func:`print_pdf` says why: the run still completes, and its summary and banner say so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..atomic import atomic_path

PDF_TIMEOUT_S = 120.0
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")  # fmt: skip


def pdf_wanted(setting: bool) -> bool:
    """``[report] pdf`` unless the environment says ``ACCUMULATE_PDF=0`` (or false, no, off)."""
    return setting and os.environ.get("ACCUMULATE_PDF", "1").strip().lower() not in ("0", "false", "no", "off")


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) executable on PATH, or None."""
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def print_pdf(page: Path, pdf: Path, *, timeout_s: float = PDF_TIMEOUT_S) -> str | None:
    """Print the HTML file ``page`` to ``pdf`` (atomically) with headless Chromium; None when written, else why not."""
    executable = find_chromium()
    if executable is None:
        return f"no Chromium found on PATH (looked for {', '.join(CHROMIUM_NAMES)})"
    with tempfile.TemporaryDirectory(prefix="accumulate-chromium-") as scratch:
        printed = Path(scratch) / "report.pdf"
        command = [executable, *CHROMIUM_FLAGS, f"--user-data-dir={Path(scratch) / 'profile'}",
                   f"--print-to-pdf={printed}", "--no-pdf-header-footer", page.absolute().as_uri()]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return f"Chromium did not finish printing within {timeout_s:g} s"
        except OSError as exc:
            return f"Chromium could not be started ({executable}): {exc.strerror or exc}"
        if not printed.is_file() or printed.stat().st_size == 0 or not printed.read_bytes().startswith(b"%PDF"):
            tail = (done.stderr or "").strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
            return f"Chromium wrote no PDF ({tail[0][:200]})"
        with atomic_path(pdf) as temporary:
            shutil.copyfile(printed, temporary)
    return None
