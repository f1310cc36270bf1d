"""DICOM RT and research-format input/output.

Units and conventions: doses in Gy (Gy(RBE) for RBE-weighted doses), CT in HU, positions in
LPS mm, arrays (z, y, x); see :mod:`accumulate.geometry`. Every write is atomic.
"""

from ..names import find_structure
from ._contours import level_contours
from ._ct import ct_image_series, read_ct
from ._dicom import ImageSeries, InstanceReference, grid_to_plane, instance_reference, looks_like_dicom, read_dataset
from ._discovery import CourseFiles, discover_courses
from ._dose_writer import (
    COMPOSED_FROM_DEFORMABLE_REGISTRATION,
    COMPOSED_FROM_PRIOR_DOSES,
    COMPOSED_WITH_CURRENT_PLAN,
    COMPOSED_WITH_RADIOBIOLOGY,
    DoseDerivation,
    placeholder_plan,
    referenced_plans_of,
    write_dose,
)
from ._itkio import is_itk_path, write_itk_volume
from ._raster import plane_groups, slab_extents
from ._registration import (
    IMAGE_CONTENT_BASED,
    deformable_frames,
    displacement_from_matrix,
    read_deformable_registration,
    read_registration,
    write_deformable_registration,
    write_spatial_registration,
)
from ._rtdose import read_dose
from ._rtplan import Plan, read_plan
from ._rtstruct import read_contours, read_structures
from ._rtstruct_writer import StructureROI, fill_structure_set, write_structure_set

__all__ = [
    "COMPOSED_FROM_DEFORMABLE_REGISTRATION",
    "COMPOSED_FROM_PRIOR_DOSES",
    "COMPOSED_WITH_CURRENT_PLAN",
    "COMPOSED_WITH_RADIOBIOLOGY",
    "CourseFiles",
    "DoseDerivation",
    "IMAGE_CONTENT_BASED",
    "ImageSeries",
    "InstanceReference",
    "Plan",
    "StructureROI",
    "ct_image_series",
    "discover_courses",
    "deformable_frames",
    "displacement_from_matrix",
    "fill_structure_set",
    "find_structure",
    "grid_to_plane",
    "instance_reference",
    "is_itk_path",
    "level_contours",
    "looks_like_dicom",
    "placeholder_plan",
    "plane_groups",
    "read_contours",
    "read_ct",
    "read_dataset",
    "read_deformable_registration",
    "read_dose",
    "read_plan",
    "read_registration",
    "read_structures",
    "referenced_plans_of",
    "slab_extents",
    "write_deformable_registration",
    "write_dose",
    "write_itk_volume",
    "write_spatial_registration",
    "write_structure_set",
]
