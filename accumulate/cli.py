"""The ``accumulate`` command line: one sub-command per module, imported only when used.

Each sub-command module defines ``HELP`` (one line), ``configure(parser)`` and
``run(args) -> int``; module-level imports there stay light so ``accumulate --help`` is fast.

Exit codes tell a script what failed: 0 success, 2 usage, 3 bad input, 4 geometry,
5 configuration, 6 backend unavailable, 7 registration failed, 10 a run whose constraints are
not all met, 11 a cohort in which some patient failed, 130 interrupted (a cohort resumes when
rerun), 1 anything else.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import errors

COMMANDS: dict[str, str] = {
    "demo": "accumulate._demo",
    "run": "accumulate.pipeline._command",
    "register": "accumulate.registration._command",
    "serve": "accumulate.service._serve_command",
    "watch": "accumulate.service._watch_command",
    "cohort": "accumulate.cohort._command",
}

EXIT_CODES: list[tuple[type[BaseException], int]] = [
    (errors.InputError, 3),
    (errors.GeometryError, 4),
    (errors.ConfigError, 5),
    (errors.BackendUnavailable, 6),
    (errors.RegistrationError, 7),
    (errors.AccumulateError, 1),
]


def exit_code(exc: BaseException) -> int:
    """The process exit code for an error raised by a sub-command."""
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), 1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="accumulate", description="Re-irradiation dose accumulation.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show informational log messages on the console")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        module.configure(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


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
        print(f"accumulate {args.command}: error: {exc}", file=sys.stderr)
        return exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
