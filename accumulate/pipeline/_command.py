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


def _with_unit(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.2f} {unit}"


def _rows(result) -> list[tuple[list[str], str]]:
    """The table's cells for each verdict, and the line under it (reason or note, the robust verdict; empty if none)."""
    from ..evaluation import metric_unit

    units = {"physical": result.cumulative_physical.unit}
    robust = result.uncertainty.rows if result.uncertainty is not None else [{}] * len(result.verdicts)
    rows = []
    for v, bound in zip(result.verdicts, robust, strict=True):
        quantity = v.constraint.quantity
        dose_unit = units.get(quantity, result.cumulative_eqd2.unit)
        unit = metric_unit(v.constraint.metric, dose_unit, quantity)
        cells = [v.verdict, v.constraint.describe(), _with_unit(v.value, unit), _with_unit(v.limit, unit),
                 _with_unit(v.margin, unit)]  # fmt: skip
        below = [text for text in (v.reason or v.note,) if text]
        if bound.get("robust_verdict"):
            low, high = bound["value_range"]
            below.append(f"registration uncertainty: {low:.2f}-{high:.2f} {unit}, {bound['robust_verdict']}")
        rows.append((cells, "; ".join(below)))
    return rows


def print_summary(result) -> None:
    """The run's summary on the console, as complete as the report's head.

    The verdicts (verdict, constraint, value, limit and margin = limit - value, each with its
    unit: Gy, Gy(RBE), Gy EQD2, cc, %), the overall line (state, headline) with its
    reasons and accepted overrides, the report's path, and last every warning of the run (each
    naming its course or structure), so that none scrolls away.
    """
    rows = _rows(result)
    if rows:
        header = ["verdict", "constraint", "value", "limit", "margin"]
        widths = [max(len(r[0][i]) for r in rows + [(header, "")]) for i in range(len(header))]

        def line(cells: list[str]) -> str:  # text columns left, numbers right
            return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

        print(f"\n{line(header).rstrip()}")
        for cells, below in rows:
            print(line(cells).rstrip())
            if below:
                print(f"{'':{widths[0]}s}    ({below})")
    status = result.status
    print(f"\noverall: {status.state.upper()}: {status.headline}")
    for title, lines in (("why", status.reasons), ("accepted overrides", status.overrides)):
        if lines:
            print(f"  {title}:")
            for text in lines:
                print(f"    - {text}")
    print(f"report: {result.files['report']}")
    if status.warnings:
        print(f"\nWarnings ({len(status.warnings)}):")
        for text in status.warnings:
            print(f"  - {text}")
    else:
        print("\nWarnings: none")


def run(args) -> int:
    if args.check:
        from ._check_command import check

        return check(args.config)
    from . import run as run_pipeline

    result = run_pipeline(args.config, output_dir=args.out, backend=args.backend)
    print_summary(result)
    return result.status.exit_code
