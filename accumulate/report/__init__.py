"""Run outputs a person reads: report.html (self-contained), and the pictures in it."""

from ._render import axial_slice_rgb, dvh_svg
from .html import Figure, render_report, write_report

__all__ = ["Figure", "axial_slice_rgb", "dvh_svg", "render_report", "write_report"]
