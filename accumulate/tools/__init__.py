"""The small tools of the command line, also callable from Python.

=================================  ============================================================
``accumulate inspect EXPORT``      :func:`inspect_export`: courses, plans, doses, structures
                                   and dates (with their source) in an export folder
``accumulate eqd2 RTDOSE``         :func:`dose_eqdx`: a course dose as EQD2 / EQDx / BED
``accumulate warp DOSE FIELD``     :func:`accumulate.warp_dose` through a REG or MHA/NRRD field
``accumulate dvh RTDOSE RTSTRUCT`` :func:`structure_metrics`: DVH metrics per structure
=================================  ============================================================

They follow the habits of plastimatch: inputs positional, ``-o/--output`` for what is
written, plain text on the console (``--json`` or ``--csv`` for scripts). Doses in Gy (Gy(RBE)
for RBE-weighted doses), volumes in cc, positions LPS mm. Bad input is an error naming the file
(exit code 3), never a traceback.
"""

from ._dvh import DEFAULT_METRICS, StructureMetrics, structure_metrics
from ._eqd2 import EquivalentDose, dose_eqdx, write_eqdx
from ._inspect import CourseListing, DoseListing, format_listing, inspect_export

__all__ = [
    "DEFAULT_METRICS",
    "CourseListing",
    "DoseListing",
    "EquivalentDose",
    "StructureMetrics",
    "dose_eqdx",
    "format_listing",
    "inspect_export",
    "structure_metrics",
    "write_eqdx",
]
