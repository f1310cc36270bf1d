"""``accumulate watch INBOX``: run each export a planning system writes into a folder, then file it in done/ or failed/."""

from __future__ import annotations

from pathlib import Path

HELP = "watch a folder the planning system exports into: run each quiet export, move it to done/ or failed/"


def configure(parser) -> None:
    parser.add_argument("inbox", type=Path, help="the export folder; each sub-folder is one case (all its courses)")
    parser.add_argument("--settings", type=Path, default=None,
                        help="run settings (a run configuration without [[course]]; default: built-in defaults)")  # fmt: skip
    parser.add_argument("--outbox", type=Path, default=None,
                        help="copy the result objects (cumulative EQD2, remaining dose, REG) to OUTBOX/<export>/")  # fmt: skip
    parser.add_argument("--reports", type=Path, default=None, help="also keep report.html and summary.json in REPORTS/<export>/")
    parser.add_argument("--quiet", type=float, default=60.0, metavar="SECONDS",
                        help="an export is run once nothing in it changed for this long (default 60)")  # fmt: skip
    parser.add_argument("--interval", type=float, default=5.0, metavar="SECONDS", help="polling interval (default 5)")
    parser.add_argument("--once", action="store_true", help="process the quiet exports there now and exit (for cron and tests)")


def run(args) -> int:
    from ..errors import ConfigError
    from . import log_to_console, stop_on_signals
    from ._settings import Profile, load_profile
    from ._watch import Inbox

    inbox = args.inbox.resolve()
    if not inbox.is_dir():
        raise ConfigError(f"watch: the inbox {inbox} is not a folder; create it or name the planning system's export folder")
    profile = load_profile(args.settings.resolve()) if args.settings else Profile(inbox, {})
    folders = [None if p is None else p.resolve() for p in (args.outbox, args.reports)]
    for folder in folders:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
    watcher = Inbox(inbox, profile, args.quiet, *folders)
    log_to_console()
    if not args.once:
        watcher.watch(args.interval, stop_on_signals())
        return 0
    outcomes = watcher.poll()
    for name, reason in outcomes.items():
        print(f"{'failed' if reason else 'done'}: {name}" + (f": {reason.splitlines()[0]}" if reason else ""))
    left = [p.name for p in watcher.exports()]
    if left:
        print(f"not yet quiet, left for the next run: {', '.join(left)}")
    return 1 if any(outcomes.values()) else 0
