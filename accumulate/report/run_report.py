"""The report stage of a run: dvh.csv, report.html, report.pdf and summary.json, from the pipeline's result.

The pipeline writes its DICOM outputs, then hands its result here; every file goes into
``result.output_dir`` (the run's staging folder, so they appear with the rest of the run or not
at all). The page is rendered first, then printed to PDF; when the PDF cannot be written the page
is written again with the reason under the banner, and summary.json says it (``pdf``). A dose
grid whose axes are not along LPS gets no pictures (said in the page and the warnings).
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import write_json_atomic
from ..errors import GeometryError
from ..registration import report_figures
from .dvhs import dvh_section
from .html import write_report
from .pdf import pdf_wanted, print_pdf
from .quantities import run_quantities
from .review import review_section
from .summary import build_summary
from .tables import dvh_keys, structure_table, write_dvh_csv

if TYPE_CHECKING:
    from ..pipeline import RunResult


def _tables_section(result: RunResult, quantities) -> str:
    structures = list(result.evaluation.dvhs.structures)
    parts = [
        "<h2>Structures: DVH metrics per course and quantity</h2>",
        '<p class="small">Doses in the column\'s unit (Gy, Gy(RBE) for RBE-weighted courses; EQDx as named); volume '
        "metrics in the row's unit (cc or %). A prior course's columns give its interval and the recovered fraction "
        "applied in the structure (volume-weighted over its points); values in bold are those a constraint compares "
        "with its limit.</p>",
    ]
    parts += [structure_table(result, name, quantities) for name in structures]
    return "\n".join(parts)


def write_run_report(result: RunResult, stage_s: Mapping[str, float], cap_gy: float) -> dict[str, Path]:
    """Write dvh.csv, report.html, report.pdf (when wanted and possible) and summary.json into ``result.output_dir``.

    ``cap_gy`` is the remaining dose's value where no limit applies (Gy). Sets ``result.summary``
    (with ``report_s``: seconds to render the page, its CPU seconds, seconds to print the PDF)
    and returns the files by key (``dvh``, ``report``, ``pdf``, ``summary``).
    """
    out = result.output_dir
    started, started_cpu = time.perf_counter(), time.process_time()
    quantities = run_quantities(result)
    files = {"dvh": write_dvh_csv(out / "dvh.csv", result, dvh_keys(result, quantities))}
    summary = build_summary(result, stage_s, cap_gy)
    try:
        review = review_section(result, quantities)
    except GeometryError as exc:
        summary["warnings"].append(f"no dose review pictures: {exc}")
        review = f'<h2>Dose review</h2><div class="panel reasons"><h3>No pictures</h3><p>{html.escape(str(exc))}</p></div>'
    sections = [review, dvh_section(result, quantities, list(result.evaluation.dvhs.structures)),
                _tables_section(result, quantities)]  # fmt: skip
    wanted = pdf_wanted(result.config.report_pdf)
    summary["pdf"] = {"wanted": wanted, "written": False, "file": None,
                      "reason": None if wanted else "switched off ([report] pdf = false or ACCUMULATE_PDF=0)"}  # fmt: skip
    summary["outputs"] = {**summary["outputs"], "dvh": "dvh.csv", "report": "report.html", "summary": "summary.json"}
    figures = [f for pictures in result.prepared.review.values() for f in report_figures(pictures)]  # registration review
    files["report"] = write_report(out / "report.html", summary, sections, figures)
    rendered, rendered_cpu = time.perf_counter(), time.process_time()
    if wanted:
        reason = print_pdf(files["report"], out / "report.pdf")
        if reason is None:
            files["pdf"] = out / "report.pdf"
            summary["pdf"].update(written=True, file="report.pdf")
            summary["outputs"]["pdf"] = "report.pdf"
        else:
            summary["pdf"]["reason"] = reason
            summary["warnings"].append(f"report.pdf was NOT written: {reason}")
            files["report"] = write_report(out / "report.html", summary, sections, figures)
    summary["report_s"] = {"html": round(rendered - started, 2), "html_cpu": round(rendered_cpu - started_cpu, 2),
                           "pdf": round(time.perf_counter() - rendered, 2)}  # fmt: skip
    result.summary = summary
    files["summary"] = write_json_atomic(out / "summary.json", summary)
    return files
