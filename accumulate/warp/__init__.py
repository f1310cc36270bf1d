"""Dose warping onto the reference grid.

:func:`warp_dose` maps one prior-course dose through a displacement field (elastix convention,
field on the fixed grid, moving point = fixed point + u), either by a direct trilinear pull or
energy/mass-consistently (default). Backends: NumPy reference, Numba, CuPy (``kernels/warp.cu``)
and that CUDA source built for the CPU with OpenMP (``cuda-host``).
"""

from ._dispatch import DEFAULT_SUBSAMPLES, METHODS
from ._warp import WarpResult, warp_dose

__all__ = ["DEFAULT_SUBSAMPLES", "METHODS", "WarpResult", "warp_dose"]
