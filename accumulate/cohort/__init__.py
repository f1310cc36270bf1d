"""Research cohorts: the same accumulation over every patient of a manifest, on one machine or a Dask cluster.

:func:`run_cohort` (``accumulate cohort MANIFEST``) runs each patient as an independent task,
skips patients already done with the same inputs and settings, records a patient's failure
without stopping the others, and writes one row per patient and structure (Parquet and CSV)
and a summary page. An optional sensitivity grid re-evaluates every patient's verdicts under
other alpha/beta and recovery assumptions, reusing its registration and warped doses.
"""

from ._cohort import CohortResult, run_cohort
from ._manifest import Manifest, PatientEntry, read_manifest
from ._sensitivity import SensitivityGrid, read_grid

__all__ = ["CohortResult", "Manifest", "PatientEntry", "SensitivityGrid", "read_grid", "read_manifest", "run_cohort"]
