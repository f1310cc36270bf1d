"""DICOM UIDs the package reads and writes: SOP classes (PS3.4 Annex B, PS3.6 Annex A).

Examples
--------
>>> RT_DOSE
'1.2.840.10008.5.1.4.1.1.481.2'
>>> NAMES[DEFORMABLE_REG]
'Deformable Spatial Registration Storage'
"""

from __future__ import annotations

VERIFICATION = "1.2.840.10008.1.1"
DETACHED_STUDY_MANAGEMENT = "1.2.840.10008.3.1.2.3.1"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2.1"
RT_DOSE = "1.2.840.10008.5.1.4.1.1.481.2"
RT_STRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
RT_PLAN = "1.2.840.10008.5.1.4.1.1.481.5"
RT_ION_PLAN = "1.2.840.10008.5.1.4.1.1.481.8"
SPATIAL_REG = "1.2.840.10008.5.1.4.1.1.66.1"
DEFORMABLE_REG = "1.2.840.10008.5.1.4.1.1.66.3"

#: The standard's name of each UID above.
NAMES = {
    VERIFICATION: "Verification SOP Class",
    DETACHED_STUDY_MANAGEMENT: "Detached Study Management SOP Class",
    CT_IMAGE: "CT Image Storage",
    ENHANCED_CT_IMAGE: "Enhanced CT Image Storage",
    RT_DOSE: "RT Dose Storage",
    RT_STRUCT: "RT Structure Set Storage",
    RT_PLAN: "RT Plan Storage",
    RT_ION_PLAN: "RT Ion Plan Storage",
    SPATIAL_REG: "Spatial Registration Storage",
    DEFORMABLE_REG: "Deformable Spatial Registration Storage",
}
