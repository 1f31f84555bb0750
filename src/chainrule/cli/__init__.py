"""The ``chainrule`` command line. Only this package prints, parses arguments and exits.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds its
parser and sets ``func`` (``args -> int`` exit status) as the parser default; what they share
is in :mod:`chainrule.cli.options`, and no subcommand imports another. Errors a user can cause
become one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from chainrule._version import __version__
from chainrule.checkpoint import CheckpointError
from chainrule.cli import data, evaluate, filters, gradcheck, graph, predict, train
from chainrule.cli.options import UsageError
from chainrule.datasets import DatasetError
from chainrule.runs import RunError
from chainrule.train import TrainingDiverged

__all__ = ["SUBCOMMANDS", "UsageError", "build_parser", "main"]

# Subcommand modules, in the order `chainrule --help` lists them.
SUBCOMMANDS = (train, evaluate, predict, data, gradcheck, graph, filters)
# Errors a user can cause: one line on stderr, exit status 2. (CheckpointError and RunError are
# ValueErrors; they are named for the reader.)
_USER_ERRORS = (UsageError, RunError, CheckpointError, DatasetError, TrainingDiverged, ValueError, OSError)


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in one line (``chainrule train: error: ...``) with status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="chainrule", description="Backpropagation on computational graphs, done properly.")
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in SUBCOMMANDS:
        module.register(subparsers)
    return parser


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._subparsers._group_actions:  # argparse keeps subparsers here
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[command]
    return parser  # pragma: no cover


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (also used by the console script)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "func", None) is None:
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        parser.print_help()
        return 2
    if extra:  # reported by the subcommand's parser, so the message names it and its --help
        _subparser(parser, args.command).error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return 130
    except _USER_ERRORS as exc:
        message = exc.cli_message() if isinstance(exc, (RunError, DatasetError)) else str(exc)
        print(f"chainrule {args.command}: error: {message}", file=sys.stderr)
        return 2
