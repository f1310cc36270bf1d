"""CT numbers (HU) to mass density (g/cm3), for mass-consistent dose warping.

The default table (``configs/density/generic_schneider.csv``) is a generic curve after Schneider
et al. 2000 (Phys Med Biol 45:459, doi:10.1088/0031-9155/45/2/314); every clinic should pass the
calibration measured for its own scanner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._arrays import array_module, to_host
from ._resources import resource_dir
from ._validate import finite_array
from .errors import ConfigError, InputError
from .geometry import Volume

DEFAULT_TABLE = "generic_schneider.csv"


def read_density_table(path: str | Path) -> np.ndarray:
    """An (N, 2) float array of (HU, g/cm3) rows from a CSV file (``#`` comments, one header line)."""
    path = Path(path)
    try:
        lines = [line.strip() for line in path.read_text().splitlines()]
    except OSError as exc:
        raise ConfigError(f"cannot read the HU -> density table {path}: {exc}") from None
    rows = [line for line in lines if line and not line.startswith("#")][1:]
    try:
        table = np.array([[float(v) for v in row.split(",")] for row in rows])
    except ValueError:
        raise ConfigError(f"HU -> density table {path}: every row after the header must be 'hu,density'") from None
    return _checked(table, str(path))


def _checked(table: Any, source: str) -> np.ndarray:
    table = np.asarray(table, dtype=float)
    if table.ndim != 2 or table.shape[1] != 2 or len(table) < 2:
        raise ConfigError(f"HU -> density table {source}: need at least two (HU, density) rows, got shape {table.shape}")
    if not np.all(np.isfinite(table)) or np.any(np.diff(table[:, 0]) <= 0) or np.any(table[:, 1] <= 0):
        raise ConfigError(f"HU -> density table {source}: HU must increase strictly and densities be finite and > 0")
    return table


def density_from_ct(ct: Volume, table: str | Path | Any | None = None) -> Volume:
    """Mass density (g/cm3) of every CT voxel by piecewise-linear interpolation of a calibration table.

    Parameters
    ----------
    ct : Volume
        CT numbers in HU (quantity ``"hu"`` or unit ``"HU"``), NumPy or CuPy array.
    table : None, path or (N, 2) array-like
        (HU, g/cm3) rows, HU increasing; values beyond the first/last row are clamped. None uses
        the generic default (see the module docstring), not a clinical calibration.

    Returns
    -------
    Volume
        On the CT grid, quantity ``"density"``, unit ``"g/cm3"``, float32 for a float32 CT else float64.

    Raises
    ------
    InputError
        Not a CT in HU, non-finite CT numbers, a table that is not (HU increasing, density > 0) rows.

    Examples
    --------
    >>> import numpy as np
    >>> from accumulate import Grid, Volume
    >>> ct = Volume(np.array([[[-1000.0, 0.0, 500.0]]]), Grid((1, 1, 3)), "hu", "HU")
    >>> density_from_ct(ct, [[-1000, 0.01], [0, 1.0], [1000, 1.6]]).array
    array([[[0.01, 1.  , 1.3 ]]])
    """
    if not isinstance(ct, Volume) or (ct.quantity.lower() != "hu" and ct.unit.upper() != "HU"):
        raise InputError(f"density_from_ct needs a CT Volume in HU (quantity 'hu' or unit 'HU'), got {ct!r:.120}")
    finite_array(ct.array, "ct (HU)")
    if table is None:
        table = read_density_table(resource_dir("configs") / "density" / DEFAULT_TABLE)
    elif isinstance(table, str | Path):
        table = read_density_table(table)
    else:
        table = _checked(table, "given as an array")
    xp = array_module(ct.array)
    dtype = np.float32 if ct.array.dtype == np.float32 else np.float64
    values = np.interp(np.asarray(to_host(ct.array), dtype=float), table[:, 0], table[:, 1]).astype(dtype)
    return Volume(xp.asarray(values), ct.grid, "density", "g/cm3")
