"""One small demo case (size="test") written once per session, and what the tests read back from it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from accumulate.io import read_ct, read_structures
from accumulate.phantom import write_demo_case


@pytest.fixture(scope="session")
def case(tmp_path_factory):
    return write_demo_case(tmp_path_factory.mktemp("phantom") / "case", size="test")


@pytest.fixture(scope="session")
def reference_ct(case):
    return read_ct(case.reirradiation.folder)


@pytest.fixture(scope="session")
def prior_ct(case):
    return read_ct(case.prior.folder)


@pytest.fixture(scope="session")
def reference_masks(case, reference_ct):
    return read_structures(case.reirradiation.structures_path, reference_ct.grid)


@pytest.fixture(scope="session")
def prior_masks(case, prior_ct):
    return read_structures(case.prior.structures_path, prior_ct.grid)


@pytest.fixture(scope="session")
def true_field(case):
    import itk

    from accumulate.geometry import DisplacementField

    return DisplacementField.from_itk(itk.imread(str(case.true_field_path)))


@pytest.fixture(scope="session")
def sample():
    """``sample(volume, points, order=1)``: values of a Volume at LPS points (scipy, trilinear by default)."""

    def _sample(volume, points, order=1):
        index = volume.grid.index_from_world(np.asarray(points, dtype=float))
        return map_coordinates(np.asarray(volume.array, dtype=float), np.moveaxis(index, -1, 0), order=order, mode="nearest")

    return _sample
