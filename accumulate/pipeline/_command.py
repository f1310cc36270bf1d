"""``accumulate run CONFIG.toml [--out DIR] [--backend ...] [--check]``: the whole accumulation from a configuration."""

from __future__ import annotations

from pathlib import Path

from ..config import BACKENDS

HELP = "run the re-irradiation accumulation described by a TOML configuration"

#: Exit code when the run completed but a constraint is not met (a script can tell it from a failure).
CONSTRAINTS_NOT_MET = 10
#: Exit code when the run completed but a constraint was not evaluated or an input could not be checked.
INCOMPLETE = 12


def configure(parser) -> None:
    parser.add_argument("config", type=Path, help="run configuration (TOML); paths in it are relative to it")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: [output] dir of the configuration)")
    parser.add_argument("--backend", default=None, choices=BACKENDS, help="compute backend")
    parser.add_argument("--check", action="store_true", help="only check the inputs and settings (as 'accumulate check')")


def _unit(metric: str, quantity: str) -> str:
    if metric.upper().startswith("V"):
        return "%" if metric.endswith("%") else "cc"
    return "Gy" if quantity == "physical" else f"Gy {quantity.upper()}"


def print_summary(result) -> None:
    """The verdicts (value, limit, unit, margin), the status line with its reasons, warnings, overrides and the report."""
    rows = result.verdicts
    if rows:
        print(f"\n{'verdict':<18s} {'constraint':<58s} {'value':>8s} {'limit':>8s} {'margin':>8s}  unit")
    for v in rows:
        value = "-" if v.value is None else f"{v.value:8.2f}"
        margin = "-" if v.margin is None else f"{v.margin:8.2f}"
        unit = _unit(v.constraint.metric, v.constraint.quantity)
        print(f"{v.verdict:<18s} {v.constraint.describe():<58s} {value:>8s} {v.limit:8.2f} {margin:>8s}  {unit}")
        if v.reason:
            print(f"{'':18s}   ({v.reason})")
    status = result.status
    print(f"\n{status.state.upper()}: {status.headline}")
    for title, lines in (("why", status.reasons), ("warnings", status.warnings), ("accepted overrides", status.overrides)):
        if lines:
            print(f"  {title}:")
            for line in lines:
                print(f"    - {line}")
    print(f"report: {result.files['report']}")


def run(args) -> int:
    if args.check:
        from ._check_command import check

        return check(args.config)
    from . import run as run_pipeline

    result = run_pipeline(args.config, output_dir=args.out, backend=args.backend)
    print_summary(result)
    return result.status.exit_code
