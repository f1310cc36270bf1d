"""``accumulate cohort MANIFEST (--config BASE.toml | --defaults) [--out DIR] [--workers N | --scheduler ADDRESS]``.

Without base settings a cohort would run every patient with the built-in defaults (alpha/beta
3 Gy everywhere, no recovery, no constraint set) for minutes or hours: it is refused (exit 5)
unless ``--defaults`` says that is intended.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import BACKENDS, RunConfig
from ..distribution import install_hint
from ..errors import ConfigError

HELP = "run the accumulation for every patient of a cohort manifest (CSV or TOML), locally or on a Dask cluster"

#: Exit code when the cohort finished but at least one patient failed (its error is in the results).
PATIENTS_FAILED = 11
#: Exit code after Ctrl-C; the same command resumes where the cohort stopped.
INTERRUPTED = 130


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def configure(parser) -> None:
    parser.add_argument("manifest", type=Path, help="patients and their courses (CSV: one row per course; or TOML)")
    settings = parser.add_mutually_exclusive_group()
    settings.add_argument(
        "--config", type=Path, default=None, metavar="BASE.toml", help="base settings: a run configuration without [[course]]"
    )
    settings.add_argument("--defaults", action="store_true",
                          help="run without base settings, with the built-in defaults (refused unless given)")  # fmt: skip
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: cohort-out beside the manifest)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_count, default=None, metavar="N",
                       help="local worker processes (default: one per GPU if CuPy can use one, else one per core); "
                            "0 runs the patients one after another in this process")  # fmt: skip
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on an existing Dask cluster (e.g. tcp://10.0.0.5:8786); its workers need this package "
                            f"({install_hint('cohort')}, the same version) and the same paths")  # fmt: skip
    parser.add_argument("--sensitivity", type=Path, default=None, metavar="GRID.toml",
                        help="re-evaluate every patient over a grid of alpha/beta and recovery values")  # fmt: skip
    parser.add_argument("--backend", default=None, choices=BACKENDS, help="compute backend")


#: alpha/beta everywhere without base settings, Gy (the run configuration's default)
DEFAULT_ALPHA_BETA = RunConfig.__dataclass_fields__["alpha_beta_default"].default


def _no_base_settings(manifest: Path) -> str:
    return (
        f"no base settings for {manifest.name}: every patient would run with the built-in defaults (alpha/beta "
        f"{DEFAULT_ALPHA_BETA:g} Gy everywhere, no recovery, no constraint set); give --config BASE.toml "
        "(see configs/examples/cohort-base.toml), or --defaults if the defaults are intended"
    )


def run(args) -> int:
    from . import run_cohort
    from ._manifest import read_manifest

    if args.config is None:
        read_manifest(args.manifest)  # a missing or invalid manifest is said first
        if not args.defaults:
            raise ConfigError(_no_base_settings(args.manifest))
        print(f"accumulate cohort: warning: running with the built-in defaults (--defaults): alpha/beta "
              f"{DEFAULT_ALPHA_BETA:g} Gy everywhere, no recovery, no constraint set")  # fmt: skip

    try:
        result = run_cohort(args.manifest, config=args.config, output_dir=args.out, workers=args.workers,
                            scheduler=args.scheduler, sensitivity=args.sensitivity, backend=args.backend)  # fmt: skip
    except KeyboardInterrupt:
        print("accumulate cohort: interrupted; run the same command again to resume (finished patients are skipped)")
        return INTERRUPTED
    for patient, error in result.failures.items():
        print(f"  failed: {patient}: {error}")
    return PATIENTS_FAILED if result.failures else 0
