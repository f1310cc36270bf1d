"""The built-in two-course head-and-neck re-irradiation case, with analytic ground truth.

``write_demo_case(folder)`` writes a prior course (70 Gy in 35 fractions, 2021) and a
stereotactic re-irradiation (35 Gy in 5 fractions, 2024) as DICOM exports, on CTs related by
a known smooth deformation, and returns a :class:`DemoCase` whose analytic functions give
the exact doses, field and cumulative EQD2 for tests. Conventions: LPS mm, arrays (z, y, x),
the field on the reference (re-irradiation) grid with prior point ``p + u(p)``.
"""

from ._anatomy import reference_hu_at
from ._case import DemoCase, DemoCourse, write_demo_case
from ._deformation import displacement_at, prior_point_of, reference_point_of
from ._doses import cumulative_eqd2_at, prior_dose_at, reirr_dose_at

__all__ = [
    "DemoCase",
    "DemoCourse",
    "cumulative_eqd2_at",
    "displacement_at",
    "prior_dose_at",
    "prior_point_of",
    "reference_hu_at",
    "reference_point_of",
    "reirr_dose_at",
    "write_demo_case",
]
