"""Connected components on (z, y, x) masks: the largest body region and per-slice hole filling.

Breadth-first labelling with face connectivity (6 neighbours in 3-D, 4 in-plane when
``planar``), compiled with numba; plain loops, no temporaries. Numba is a core dependency; where
it is installed but does not work (the backend probe says why), the masks cannot be built and a
:class:`~accumulate.errors.BackendUnavailable` says so, naming the way around (no masks).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from .._kernels import numba_compile_notice
from ..backends import BACKENDS
from ..errors import BackendUnavailable


def _label_loops(mask: np.ndarray, planar: bool) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    nz, ny, nx = mask.shape
    labels = np.zeros(mask.shape, dtype=np.int32)
    sizes = [0]
    queue = np.empty((mask.size, 3), dtype=np.int64)
    steps = np.array([[0, 0, 1], [0, 0, -1], [0, 1, 0], [0, -1, 0], [1, 0, 0], [-1, 0, 0]])
    n_steps = 4 if planar else 6
    current = 0
    for z0 in range(nz):
        for y0 in range(ny):
            for x0 in range(nx):
                if not mask[z0, y0, x0] or labels[z0, y0, x0]:
                    continue
                current += 1
                labels[z0, y0, x0] = current
                queue[0, 0], queue[0, 1], queue[0, 2] = z0, y0, x0
                head, tail = 0, 1
                while head < tail:
                    z, y, x = queue[head, 0], queue[head, 1], queue[head, 2]
                    head += 1
                    for s in range(n_steps):
                        zz, yy, xx = z + steps[s, 0], y + steps[s, 1], x + steps[s, 2]
                        if 0 <= zz < nz and 0 <= yy < ny and 0 <= xx < nx and mask[zz, yy, xx] and not labels[zz, yy, xx]:
                            labels[zz, yy, xx] = current
                            queue[tail, 0], queue[tail, 1], queue[tail, 2] = zz, yy, xx
                            tail += 1
                sizes.append(tail)
    return labels, np.array(sizes, dtype=np.int64)


@functools.cache
def _labeller() -> Callable[[np.ndarray, bool], tuple[np.ndarray, np.ndarray]]:
    """The compiled labelling (Numba, cached on disk), or BackendUnavailable when Numba does not run here."""
    problem = BACKENDS["numba"].unavailable()
    if problem is not None:
        raise BackendUnavailable(
            f"automatic body masks need Numba, which does not work here: {problem.reason}; register without masks "
            "(accumulate register --no-masks) or give the masks"
        )
    import numba

    return numba.njit(cache=True)(_label_loops)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 6-connected region of a boolean (z, y, x) mask (all False if the mask is empty)."""
    label = _labeller()
    numba_compile_notice(label, "connected components of the body mask")
    labels, sizes = label(np.ascontiguousarray(mask, dtype=np.bool_), False)
    if sizes.size == 1:
        return np.zeros(mask.shape, dtype=bool)
    return labels == int(np.argmax(sizes[1:])) + 1


def fill_holes_per_slice(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every in-plane background region that does not touch the slice edge filled."""
    labels, _ = _labeller()(np.ascontiguousarray(~np.asarray(mask, dtype=bool)), True)
    edge = np.zeros(labels.shape, dtype=bool)
    edge[:, 0, :] = edge[:, -1, :] = edge[:, :, 0] = edge[:, :, -1] = True
    outside = np.isin(labels, np.unique(labels[edge & (labels > 0)]))
    return ~outside
