"""``accumulate run CONFIG.toml [--out DIR] [--backend ...]``: the whole accumulation from a configuration."""

from __future__ import annotations

from pathlib import Path

HELP = "run the re-irradiation accumulation described by a TOML configuration"

#: Exit code when the run completed but a constraint is not met (a script can tell it from a failure).
CONSTRAINTS_NOT_MET = 10


def configure(parser) -> None:
    parser.add_argument("config", type=Path, help="run configuration (TOML); paths in it are relative to it")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: [output] dir of the configuration)")
    parser.add_argument("--backend", default=None, choices=("auto", "numpy", "numba", "cupy"), help="compute backend")


def run(args) -> int:
    from . import run as run_pipeline

    result = run_pipeline(args.config, output_dir=args.out, backend=args.backend)
    failed = [v for v in result.verdicts if v.passed is False]
    for v in result.verdicts:
        value = "-" if v.value is None else f"{v.value:.2f}"
        print(f"  {v.verdict:<13s} {v.constraint.describe():<60s} value {value}")
    print(f"report: {result.files['report']}")
    return CONSTRAINTS_NOT_MET if failed else 0
