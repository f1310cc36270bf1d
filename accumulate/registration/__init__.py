"""Registration of the prior-course CT (moving) to the re-irradiation CT (fixed), and its quality.

The displacement field lives on the fixed grid; the moving point of fixed point p is p + u(p)
(mm, LPS; the elastix/ITK convention).
"""

from ._elastix import RegistrationResult, preset_files, presets, register
from ._field_io import check_field_grid, on_grid, read_field, write_field
from ._images import body_mask, read_image, read_mask, write_image
from ._initial import choose_rigid_start, find_spatial_registration, read_rigid_registration, rigid_start, spatial_registrations
from ._pictures import Picture, centroid_index, report_figures, review_pictures, write_pictures, write_png
from ._quality import dice, inverse_consistency_error, jacobian_determinant, read_elastix_points, target_registration_error
from ._report import NEEDS_REVIEW_EXIT_CODE, Check, QualityReport, Tolerances, assess
from ._sampling import compose, invert, resample_field, sample_linear, uncovered_voxels, warp_mask, warp_volume

__all__ = [
    "NEEDS_REVIEW_EXIT_CODE",
    "Check",
    "Picture",
    "QualityReport",
    "RegistrationResult",
    "Tolerances",
    "assess",
    "body_mask",
    "centroid_index",
    "check_field_grid",
    "choose_rigid_start",
    "compose",
    "dice",
    "find_spatial_registration",
    "inverse_consistency_error",
    "invert",
    "jacobian_determinant",
    "on_grid",
    "preset_files",
    "presets",
    "read_elastix_points",
    "read_field",
    "read_image",
    "read_mask",
    "read_rigid_registration",
    "register",
    "report_figures",
    "review_pictures",
    "resample_field",
    "rigid_start",
    "sample_linear",
    "spatial_registrations",
    "target_registration_error",
    "uncovered_voxels",
    "warp_mask",
    "warp_volume",
    "write_field",
    "write_image",
    "write_pictures",
    "write_png",
]
