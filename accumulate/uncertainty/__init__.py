"""Registration (DIR) uncertainty carried into the cumulative dose: shift scenarios and robust verdicts.

:func:`shift_vectors` gives the 15 shift scenarios of radius r (the nominal, 6 axis and 8
diagonal shifts of the prior dose's moving points; see ``_shifts`` for why shifted warps and
what they cover); :func:`consistency_radius` a per-voxel radius from the registration's inverse
consistency (see ``_evidence`` for the rule and why); :func:`robust_rows` turns the verdicts of
the scenarios and of the voxelwise envelopes into each constraint's plausible range and robust
verdict. The pipeline runs them with ``[uncertainty] method = "shift"`` (one radius everywhere)
or ``"inverse-consistency"`` (the per-voxel radius) (``accumulate.pipeline``).
"""

from ._evidence import DEFAULT_MINIMUM_MM, DEFAULT_SCALE, consistency_radius
from ._robust import robust_rows
from ._shifts import COVERING_COSINE, shift_directions, shift_vectors, shifted

__all__ = [
    "COVERING_COSINE",
    "DEFAULT_MINIMUM_MM",
    "DEFAULT_SCALE",
    "consistency_radius",
    "robust_rows",
    "shift_directions",
    "shift_vectors",
    "shifted",
]
