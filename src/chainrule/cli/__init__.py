"""The ``chainrule`` command line. Only this package prints, parses arguments and exits.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds its
parser and sets ``func`` (``args -> int`` exit status) as the parser default.
Errors a user can cause become one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser", "UsageError"]

# Subcommand modules, in the order `chainrule --help` lists them.
SUBCOMMANDS: tuple[str, ...] = ("train", "evaluate", "predict", "gradcheck", "bench", "graph")


class UsageError(Exception):
    """A problem with the user's command line or files: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in one line (``chainrule train: error: ...``) with status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from importlib import import_module

    from chainrule import __version__

    parser = _Parser(prog="chainrule", description="Backpropagation on computational graphs, done properly.")
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in SUBCOMMANDS:
        import_module(f"chainrule.cli.{name}").register(subparsers)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [UsageError, ValueError, OSError]
    try:
        from chainrule.datasets import DatasetError

        errors.append(DatasetError)
    except ImportError:
        pass
    try:
        from chainrule.checkpoint import CheckpointError

        errors.append(CheckpointError)
    except ImportError:
        pass
    try:
        from chainrule.train import TrainingDiverged

        errors.append(TrainingDiverged)
    except ImportError:
        pass
    return tuple(errors)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (also used by the console script)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as exc:
        print(f"chainrule {args.command}: error: {exc}", file=sys.stderr)
        return 2
