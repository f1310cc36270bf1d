"""Linear-quadratic radiobiology: BED, EQD2/EQDx, dose headroom, parameter maps, recovery models."""

from ._lq import bed, eqd2, equivalent_quantity, max_additional_dose
from .maps import alpha_beta_map, limit_map, residual_map
from .recovery import (
    PRESETS,
    ConstantRecovery,
    ExponentialRecovery,
    NoRecovery,
    RecoveryModel,
    TableRecovery,
    months_between,
    recovery_model,
)

__all__ = [
    "PRESETS",
    "ConstantRecovery",
    "ExponentialRecovery",
    "NoRecovery",
    "RecoveryModel",
    "TableRecovery",
    "alpha_beta_map",
    "bed",
    "eqd2",
    "equivalent_quantity",
    "limit_map",
    "max_additional_dose",
    "months_between",
    "recovery_model",
    "residual_map",
]
