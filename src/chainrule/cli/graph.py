"""``chainrule graph``: build a computational graph, run backward, and draw it like the book.

    chainrule graph apple -o apple.svg                  # a built-in example, as SVG
    chainrule graph "(x + y) ** 2" --set x=1 --set y=2  # an expression, as Graphviz DOT on stdout
    chainrule graph chain --format png -o chain.png
    chainrule graph apple --html -o apple.html          # an interactive page: step forward and backward

Standard output carries only the drawing (DOT or SVG without ``-o``); with ``-o`` one line
``wrote FILE`` goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from chainrule._checks import is_real
from chainrule.cli.options import UsageError
from chainrule.draw import draw_graph
from chainrule.draw.labels import DIGITS, MAX_DIGITS, check_digits
from chainrule.expr import EXAMPLES, build_graph

SUFFIX_FORMATS = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot", ".html": "html", ".htm": "html"}


def register(subparsers: Any) -> None:
    names = ", ".join(EXAMPLES)
    p = subparsers.add_parser(
        "graph",
        help="draw a computational graph with its forward values and gradients",
        description=(
            "Build a computational graph (a built-in example or an arithmetic expression), run backward "
            "from its output and draw it as in the book: forward values above the arrows, gradients below "
            f"in red. Examples: {names}. Expressions use numbers, variable names, + - * / ** @, unary minus "
            'and exp log sigmoid relu tanh sum mean, e.g. "x * y + exp(x)".'
        ),
    )
    p.add_argument("spec", nargs="?", metavar="NAME|EXPR", help=f"an example ({names}) or an expression")
    p.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a variable's value: a number or a JSON list such as [[1,2],[3,4]] (repeatable)",
    )
    p.add_argument(
        "--format", choices=("dot", "svg", "png", "html"), help="output format (default: from -o's suffix, else dot)"
    )
    p.add_argument(
        "--html",
        action="store_true",
        help="write an interactive page (same as --format html): one self-contained HTML file that steps "
        "through forward and backward propagation node by node, with buttons and the arrow keys",
    )
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the drawing to FILE (needed for png)")
    p.add_argument("--no-grads", action="store_true", help="skip backward: draw forward values only")
    p.add_argument("--no-values", action="store_true", help="leave the forward values off the arrows")
    p.add_argument(
        "--engine",
        choices=("builtin", "graphviz"),
        default="builtin",
        help="lay out SVG/PNG ourselves (default, needs nothing) or with Graphviz's dot program",
    )
    p.add_argument(
        "--digits",
        type=digit_count,
        default=DIGITS,
        metavar="N",
        help=f"significant digits of the numbers on the arrows (default {DIGITS}: 0.19661, 220, 1.1)",
    )
    p.add_argument("--list", action="store_true", help="list the built-in examples and exit")
    p.set_defaults(func=run)


def digit_count(text: str) -> int:
    """``--digits``: a whole number from 1 to MAX_DIGITS."""
    try:
        return check_digits(int(text), "--digits")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer from 1 to {MAX_DIGITS}, got {text!r}") from None


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"x=1.5"`` → ``("x", 1.5)``; ``"W=[[1,2],[3,4]]"`` → ``("W", array)``.

    The value is a finite number or a JSON list (nested to at most MAX_NESTING levels) of
    finite numbers; ``null``, ``true``, strings and NaN are refused, not read as NaN or 1.
    """
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise UsageError(f"--set expects NAME=VALUE, got {text!r}")
    expected = f"--set {name}: expected a finite number or a JSON list of finite numbers, got {value!r}"
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if not np.isfinite(number):
            raise UsageError(expected)
        return name, number
    if _nesting(value) > MAX_NESTING:  # refused before json's recursive parser can overflow the stack
        raise UsageError(f"--set {name}: a JSON list nested more than {MAX_NESTING} levels deep, got {value[:40]!r}...")
    try:
        parsed = json.loads(value, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise UsageError(expected) from None
    if not _numbers_only(parsed):
        raise UsageError(expected)
    try:
        arr = np.asarray(parsed, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):  # ragged lists
        raise UsageError(f"--set {name}: expected a rectangular JSON list of numbers, got {value!r}") from None
    if not np.all(np.isfinite(arr)):  # 1e999 parses as inf
        raise UsageError(expected)
    return name, arr


MAX_NESTING = 32  # NumPy arrays have at most 64 axes; a drawing needs far fewer


def _nesting(text: str) -> int:
    """How deep ``[`` and ``{`` nest in ``text`` (brackets in JSON strings count too: strings are refused anyway)."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _refuse_constant(text: str) -> Any:
    raise ValueError(f"{text} is not a finite number")


def _numbers_only(parsed: Any) -> bool:
    """True when ``parsed`` is a number or (nested) lists of numbers; booleans and null are not numbers."""
    stack = [parsed]
    while stack:  # iterative: the nesting is bounded, but no recursion anyway
        item = stack.pop()
        if isinstance(item, list):
            if not item:
                return False
            stack.extend(item)
        elif not is_real(item):
            return False
    return True


def run(args: argparse.Namespace) -> int:
    if args.list:
        width = max(len(n) for n in EXAMPLES)
        for name, example in EXAMPLES.items():
            sys.stdout.write(f"{name.ljust(width)}  {example.description}\n")
        return 0
    if args.spec is None:
        raise UsageError("give an example name or an expression (see --list)")
    fmt = args.format
    if args.html:
        if fmt not in (None, "html"):
            raise UsageError(f"--html and --format {fmt} ask for two formats: give one")
        fmt = "html"
    if fmt is None:
        if args.output is None:
            fmt = "dot"
        else:
            fmt = SUFFIX_FORMATS.get(args.output.suffix.lower())
            if fmt is None:
                raise UsageError(f"cannot tell the format from {args.output.name!r}: add --format dot|svg|png|html")
    if fmt == "png" and args.output is None:
        raise UsageError("PNG is binary: give a file with -o FILE.png")
    if fmt == "html" and args.engine != "builtin":
        raise UsageError("the interactive page uses the built-in layout: leave --engine out")

    values: dict[str, Any] = {}
    for text in args.assignments:
        name, value = parse_assignment(text)
        if name in values:
            raise UsageError(f"--set {name} given twice")
        values[name] = value
    output = build_graph(args.spec, values)
    if not args.no_grads:
        if output.size != 1:
            raise UsageError(
                f"the output has shape {output.shape}; backward needs a scalar: wrap it in sum(...) or use --no-grads"
            )
        output.backward()
    drawing = draw_graph(
        output,
        values=not args.no_values,
        grads=not args.no_grads,
        format=fmt,
        path=args.output,
        engine=args.engine,
        digits=args.digits,
    )
    if args.output is None:
        text = str(drawing)
        try:
            sys.stdout.write(text)
        except UnicodeEncodeError:  # a terminal that cannot show × or σ: the drawing is UTF-8 regardless
            sys.stdout.flush()
            sys.stdout.buffer.write(text.encode("utf-8"))
    else:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0
