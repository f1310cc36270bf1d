"""Run outputs a person reads: summary.json, dvh.csv, report.html (self-contained) and report.pdf.

:func:`write_run_report` is what the pipeline calls with its result; :data:`SUMMARY_METRICS` the
DVH metrics of every structure in summary.json and the cohort tables.
"""

from .html import Figure, render_report, write_report
from .quantities import Quantity, run_quantities
from .run_report import write_run_report
from .summary import SUMMARY_METRICS, build_summary, configuration_hash

__all__ = [
    "SUMMARY_METRICS",
    "Figure",
    "Quantity",
    "build_summary",
    "configuration_hash",
    "render_report",
    "run_quantities",
    "write_report",
    "write_run_report",
]
