"""The ``accumulate`` command line: one sub-command per module, imported only when used.

Each sub-command module defines ``HELP`` (one line), ``configure(parser)`` and
``run(args) -> int``; module-level imports there stay light so ``accumulate --help`` is fast.

Exit codes tell a script what happened:

====  ==========================================================================================
0     success (a run: every constraint evaluated and met, or no constraint set given)
1     internal error (a bug: the message says where the log and traceback are)
2     usage (unknown option, missing argument)
3     bad input (a file that is not what it should be, implausible input values)
4     geometry (grids or frames that do not fit together)
5     configuration (a missing, unknown, invalid or implausible setting)
6     backend unavailable
7     registration failed
8     outputs cannot be written (a folder that is a file or holds other files, no permission, disk full)
10    a run completed but a constraint is not met
11    a cohort in which some patient failed
12    a run completed but is incomplete: a constraint was not evaluated, or an input could not be checked
13    needs review: a registration check failed (a run or ``accumulate register``); no verdict is green until reviewed
130   interrupted (a cohort resumes when rerun)
====  ==========================================================================================
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import tempfile
import traceback
from pathlib import Path

from . import errors

COMMANDS: dict[str, str] = {
    "demo": "accumulate._demo",
    "run": "accumulate.pipeline._command",
    "check": "accumulate.pipeline._check_command",
    "register": "accumulate.registration._command",
    "serve": "accumulate.service._serve_command",
    "watch": "accumulate.service._watch_command",
    "cohort": "accumulate.cohort._command",
    "inspect": "accumulate.tools._inspect",
    "eqd2": "accumulate.tools._eqd2",
    "warp": "accumulate.tools._warp",
    "dvh": "accumulate.tools._dvh",
}

EXIT_CODES: list[tuple[type[BaseException], int]] = [
    (errors.InputError, 3),
    (errors.GeometryError, 4),
    (errors.ConfigError, 5),
    (errors.BackendUnavailable, 6),
    (errors.RegistrationError, 7),
    (errors.OutputError, 8),
    (errors.AccumulateError, 1),
]
INTERNAL_ERROR = 1


def exit_code(exc: BaseException) -> int:
    """The process exit code for an error raised by a sub-command."""
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), INTERNAL_ERROR)


def _version() -> str:
    from . import __version__

    return f"accumulate {__version__}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="accumulate", description="Re-irradiation dose accumulation.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show informational log messages on the console")
    parser.add_argument("--version", action="version", version=_version())
    common = argparse.ArgumentParser(add_help=False)  # the global options, also accepted after the sub-command
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        module.configure(sub.add_parser(name, help=module.HELP, description=module.HELP, parents=[common]))
    return parser


def _report_internal_error(command: str, exc: BaseException) -> Path | None:
    """Write the traceback of an unexpected error to a file; returns its path (None if even that fails)."""
    try:
        with tempfile.NamedTemporaryFile("w", prefix="accumulate-error-", suffix=".txt", delete=False) as handle:
            handle.write(f"accumulate {command}\n{_version()}\n\n{''.join(traceback.format_exception(exc))}")
            return Path(handle.name)
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = logging.StreamHandler()
    console.setLevel(logging.INFO if args.verbose else logging.WARNING)  # the run's log file gets everything
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[console])
    module = importlib.import_module(COMMANDS[args.command])
    try:
        return int(module.run(args) or 0)
    except errors.AccumulateError as exc:
        notes = "".join(f"\n  {note}" for note in getattr(exc, "__notes__", []))
        print(f"accumulate {args.command}: error: {exc}{notes}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        print(f"accumulate {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last resort: a bug, or something nobody foresaw; never a bare traceback
        where = _report_internal_error(args.command, exc)
        print(
            f"accumulate {args.command}: internal error ({type(exc).__name__}: {exc}). This is a bug; please report it "
            + (f"with the traceback in {where}" if where else "with the command that caused it"),
            file=sys.stderr,
        )
        return INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
