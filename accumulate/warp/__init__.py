"""Dose warping onto the reference grid and the fused warp + EQDx accumulation.

:func:`warp_dose` maps one prior-course dose through a displacement field (elastix convention,
field on the fixed grid, moving point = fixed point + u), either by a direct trilinear pull or
energy/mass-consistently (default). :func:`accumulate_warped` fuses warping of every prior
course, the LQ conversion, recovery and the sum over courses into one pass over the reference
grid. Backends: NumPy reference, Numba, CuPy (``kernels/warp.cu``) and that CUDA source built
for the CPU (``cuda-host``).
"""

from ._dispatch import DEFAULT_SUBSAMPLES, METHODS
from ._fused import PriorCourse, accumulate_warped
from ._warp import WarpResult, warp_dose

__all__ = ["DEFAULT_SUBSAMPLES", "METHODS", "PriorCourse", "WarpResult", "accumulate_warped", "warp_dose"]
