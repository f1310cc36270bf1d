"""DICOM RT and research-format input/output.

Units and conventions: doses in Gy (Gy(RBE) for RBE-weighted doses), CT in HU, positions in
LPS mm, arrays (z, y, x); see :mod:`accumulate.geometry`. Every write is atomic.
"""

from ._ct import read_ct
from ._discovery import CourseFiles, discover_courses
from ._dose_writer import write_dose
from ._raster import plane_groups, slab_extents
from ._registration import (
    displacement_from_matrix,
    read_deformable_registration,
    read_registration,
    write_deformable_registration,
    write_spatial_registration,
)
from ._rtdose import read_dose
from ._rtplan import Plan, read_plan
from ._rtstruct import read_contours, read_structures
from ._synonyms import find_structure

__all__ = [
    "CourseFiles",
    "Plan",
    "discover_courses",
    "displacement_from_matrix",
    "find_structure",
    "plane_groups",
    "read_contours",
    "read_ct",
    "read_deformable_registration",
    "read_dose",
    "read_plan",
    "read_registration",
    "read_structures",
    "slab_extents",
    "write_deformable_registration",
    "write_spatial_registration",
    "write_dose",
]
