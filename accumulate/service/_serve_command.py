"""Placeholder while the sub-command is being written."""

HELP = "(being written)"


def configure(parser) -> None:
    pass


def run(args) -> int:
    raise NotImplementedError
