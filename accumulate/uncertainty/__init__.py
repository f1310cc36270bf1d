"""Registration (DIR) uncertainty carried into the cumulative dose: the shift bound and robust verdicts.

:func:`shift_vectors` gives the 15 shift scenarios of radius r (the nominal, 6 axis and 8
diagonal shifts of the prior dose's moving points; see ``_shifts`` for why shifted warps and
what they cover); :func:`robust_rows` turns the verdicts of the scenarios and of the voxelwise
envelopes into each constraint's plausible range and robust verdict. The pipeline runs them with
``[uncertainty] method = "shift"`` (``accumulate.pipeline``).
"""

from ._robust import robust_rows
from ._shifts import COVERING_COSINE, shift_directions, shift_vectors, shifted

__all__ = ["COVERING_COSINE", "robust_rows", "shift_directions", "shift_vectors", "shifted"]
