"""Graphs from text: the book's example graphs and a safe parser for arithmetic expressions.

``build_graph("apple")`` builds one of :data:`EXAMPLES`; ``build_graph("(x + y) ** 2", {"x": 1,
"y": 2})`` parses an expression. Expressions are parsed with :mod:`ast` and checked against a
strict whitelist (numbers, variable names, ``+ - * / ** @``, unary ``-``/``+`` and calls to
:data:`FUNCTIONS`) before anything runs; nothing is ever passed to ``eval``. Attribute access,
subscripts, lambdas, strings, dunder names, unknown functions and huge exponents raise
``ValueError``. Constant sub-expressions (``-1``, ``1/2``) are folded into one number, so the
drawing shows them as a single input.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

import chainrule.graph as graph
from chainrule._checks import is_real
from chainrule.graph import Variable

__all__ = ["EXAMPLES", "FUNCTIONS", "Example", "Expression", "build_graph", "parse_expression"]

MAX_LENGTH = 1000  # characters in an expression
MAX_EXPONENT = 100  # |c| for a constant exponent: 9**9**9 is refused, not computed

# Names an expression may call: each takes one argument and records one graph node.
FUNCTIONS: dict[str, Callable[[Any], Variable]] = {
    "exp": graph.exp,
    "log": graph.log,
    "sigmoid": graph.sigmoid,
    "relu": graph.relu,
    "tanh": graph.tanh,
    "sum": graph.reduce_sum,
    "mean": graph.mean,
}

_BINARY: dict[type, Callable[[Any, Any], Variable]] = {
    ast.Add: graph.add,
    ast.Sub: graph.sub,
    ast.Mult: graph.mul,
    ast.Div: graph.div,
    ast.Pow: graph.power,
    ast.MatMult: graph.matmul,
}
_FOLD: dict[type, Callable[[np.float64, np.float64], np.float64]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}

_DESCRIBE = {
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.Lambda: "lambda",
    ast.Compare: "comparison",
    ast.BoolOp: "'and'/'or'",
    ast.IfExp: "conditional expression",
    ast.NamedExpr: "assignment",
    ast.List: "list",
    ast.Tuple: "tuple",
    ast.Dict: "dict",
    ast.Set: "set",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension",
    ast.JoinedStr: "string",
    ast.Starred: "star argument",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "slice",
}


class Expression:
    """A parsed, validated arithmetic expression. ``variables`` lists its names in order of first use."""

    def __init__(self, text: str, tree: ast.Expression, variables: tuple[str, ...]) -> None:
        self.text = text
        self._tree = tree
        self.variables = variables

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def evaluate(self, values: Mapping[str, Any]) -> Variable:
        """Build the graph: one named :class:`Variable` per variable, one node per operation."""
        missing = [n for n in self.variables if n not in values]
        if missing:
            raise ValueError(
                f"no value for {', '.join(missing)} in {self.text!r}: every variable needs one "
                f"(on the command line: {' '.join(f'--set {n}=1' for n in missing)})"
            )
        unknown = [n for n in values if n not in self.variables]
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)}: not a variable of {self.text!r} (its variables: {', '.join(self.variables)})"
            )
        inputs = {n: Variable(values[n], name=n) for n in self.variables}
        result = _evaluate(self.text, self._tree.body, inputs)
        if not isinstance(result, Variable):
            raise ValueError(f"{self.text!r} has no variables: nothing to differentiate")
        return result


def _segment(text: str, node: ast.AST) -> str:
    return ast.get_source_segment(text, node) or type(node).__name__


def parse_expression(text: str) -> Expression:
    """Parse and validate ``text``; raise ``ValueError`` saying what is not allowed and where."""
    if not isinstance(text, str):
        raise TypeError(f"parse_expression: expected a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"expression too long ({len(text)} characters; at most {MAX_LENGTH})")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not a valid expression: {text!r} ({exc.msg})") from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise ValueError(f"not a valid expression: {text!r} ({exc})") from None
    text = text.strip()
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    allowed_functions = ", ".join(FUNCTIONS)
    variables: list[str] = []
    for node in ast.walk(tree):  # breadth-first, iterative
        if isinstance(node, (ast.Expression, ast.Load, ast.operator, ast.unaryop)):
            if isinstance(node, ast.operator) and type(node) not in _BINARY:
                raise ValueError(f"operator {type(node).__name__} is not allowed (use + - * / ** @)")
            if isinstance(node, ast.unaryop) and not isinstance(node, (ast.USub, ast.UAdd)):
                raise ValueError(f"operator {type(node).__name__} is not allowed (only unary - and +)")
            continue
        if isinstance(node, (ast.BinOp, ast.UnaryOp)):
            continue
        if isinstance(node, ast.Constant):
            value = node.value
            if not is_real(value):
                raise ValueError(f"only numbers are allowed as constants, got {_segment(text, node)}")
            try:
                finite = bool(np.isfinite(float(value)))
            except OverflowError:  # an int past float's range (1 followed by 309 zeros)
                finite = False
            if not finite:
                raise ValueError(f"number too large: {_segment(text, node)}")
            continue
        if isinstance(node, ast.Name):
            name = node.id
            if name.startswith("_"):
                raise ValueError(f"names starting with '_' are not allowed: {name}")
            if name in FUNCTIONS and id(node) not in called:
                raise ValueError(f"{name} is a function: call it, e.g. {name}(x)")
            if id(node) not in called and name not in variables:
                variables.append(name)
            continue
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise ValueError(
                    f"call not allowed: {_segment(text, node)} (functions: {allowed_functions}, one argument each)"
                )
            if len(node.args) != 1 or node.keywords or isinstance(node.args[0], ast.Starred):
                raise ValueError(f"{node.func.id}() takes exactly one argument: {_segment(text, node)}")
            continue
        what = _DESCRIBE.get(type(node), type(node).__name__)
        raise ValueError(f"{what} is not allowed in an expression: {_segment(text, node)}")
    # ast.walk is breadth-first; list variables in reading order instead.
    positions = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in variables:
            pos = (node.lineno, node.col_offset)
            positions[node.id] = min(positions.get(node.id, pos), pos)
    # Dry run with placeholders: refuses huge exponents and non-finite constants before any value exists.
    if _evaluate(text, tree.body, None) is not _PLACEHOLDER:
        raise ValueError(f"{text!r} has no variables: nothing to differentiate")
    return Expression(text, tree, tuple(sorted(variables, key=lambda n: positions[n])))


def _constant_exponent(text: str, node: ast.AST, exponent: Any) -> None:
    if isinstance(exponent, np.float64) and abs(float(exponent)) > MAX_EXPONENT:
        raise ValueError(
            f"exponent {exponent:g} in {_segment(text, node)!r} is too large (a constant exponent must lie in "
            f"[-{MAX_EXPONENT}, {MAX_EXPONENT}])"
        )


_PLACEHOLDER = object()  # a variable's stand-in during the dry run in parse_expression


def _evaluate(text: str, root: ast.AST, inputs: Mapping[str, Variable] | None) -> Any:
    """Post-order walk with an explicit stack. Constants stay numbers until they meet a variable.

    With ``inputs=None`` every name is a placeholder: only the constant parts are computed.
    """
    results: dict[int, Variable | np.float64] = {}
    stack: list[tuple[ast.AST, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if isinstance(node, ast.Constant):
            results[id(node)] = np.float64(node.value)
            continue
        if isinstance(node, ast.Name):
            results[id(node)] = _PLACEHOLDER if inputs is None else inputs[node.id]
            continue
        kids = (
            [node.left, node.right]
            if isinstance(node, ast.BinOp)
            else [node.operand]
            if isinstance(node, ast.UnaryOp)
            else list(node.args)
        )
        if not ready:
            stack.append((node, True))
            stack.extend((k, False) for k in reversed(kids))
            continue
        args = [results.pop(id(k)) for k in kids]
        results[id(node)] = _apply(text, node, args)
    return results[id(root)]


def _apply(text: str, node: ast.AST, args: list[Any]) -> Any:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        _constant_exponent(text, node, args[1])
    if any(a is _PLACEHOLDER for a in args):
        return _PLACEHOLDER
    constant = not any(isinstance(a, Variable) for a in args)
    if isinstance(node, ast.UnaryOp):
        (x,) = args
        if isinstance(node.op, ast.UAdd):
            return x
        return -x if constant else graph.neg(x)
    if isinstance(node, ast.BinOp):
        a, b = args
        if constant:
            if type(node.op) not in _FOLD:
                raise ValueError(f"{_segment(text, node)!r}: @ needs arrays, not numbers")
            with np.errstate(all="ignore"):
                value = _FOLD[type(node.op)](a, b)
            if not np.isfinite(value):
                raise ValueError(f"constant {_segment(text, node)!r} is not a finite number")
            return np.float64(value)
        return _BINARY[type(node.op)](a, b)
    assert isinstance(node, ast.Call)
    fn = FUNCTIONS[node.func.id]
    (x,) = args
    if constant:
        with graph.no_grad(), np.errstate(all="ignore"):
            value = np.float64(fn(Variable(x)).data)
        if not np.isfinite(value):
            raise ValueError(f"constant {_segment(text, node)!r} is not a finite number")
        return value
    return fn(x)


# ---------------------------------------------------------------------------------------------
# The book's graphs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """A built-in graph: its inputs' default values and how the output is computed from them."""

    name: str
    description: str
    defaults: Mapping[str, Any]
    build: Callable[[Mapping[str, Variable]], Variable]


def _named(v: Variable, name: str) -> Variable:
    v.name = name
    return v


# The book's names for the intermediate values (its code calls them so), which the interactive
# page uses in its rules: "d(apple_price) = dout · tax = 1 · 1.1 = 1.1".
def _apple(v: Mapping[str, Variable]) -> Variable:
    apple_price = _named(v["apple"] * v["apple_num"], "apple_price")
    return _named(apple_price * v["tax"], "price")


def _apple_orange(v: Mapping[str, Variable]) -> Variable:
    apple_price = _named(v["apple"] * v["apple_num"], "apple_price")
    orange_price = _named(v["orange"] * v["orange_num"], "orange_price")
    all_price = _named(apple_price + orange_price, "all_price")
    return _named(all_price * v["tax"], "price")


def _chain(v: Mapping[str, Variable]) -> Variable:
    t = _named(v["x"] + v["y"], "t")
    return _named(t**2, "z")


def _sigmoid(v: Mapping[str, Variable]) -> Variable:
    # The book's decomposition of 1 / (1 + exp(-x)): ×(−1) → exp → +1 → 1/x.
    return _named(graph.reciprocal(graph.exp(v["x"] * -1) + 1), "y")


def _affine(v: Mapping[str, Variable]) -> Variable:
    xw = _named(v["X"] @ v["W"], "X·W")
    y = _named(xw + v["B"], "Y")
    return _named(y.sum(), "L")


def _convnet(v: Mapping[str, Variable]) -> Variable:
    h = _named(graph.relu(graph.conv2d(v["x"], v["W1"], v["b1"])), "h")
    scores = _named(graph.affine(graph.flatten(graph.max_pool2d(h, 2)), v["W2"], v["b2"]), "scores")
    return _named(graph.softmax_cross_entropy(scores, np.array([1])), "L")


def _net(v: Mapping[str, Variable]) -> Variable:
    h = _named(graph.relu(graph.affine(v["x"], v["W1"], v["b1"])), "h")
    scores = _named(graph.affine(h, v["W2"], v["b2"]), "scores")
    return _named(graph.softmax_cross_entropy(scores, np.array([0, 2])), "L")


_RNG = np.random.default_rng(7)  # fixed example values, drawn once

EXAMPLES: dict[str, Example] = {
    e.name: e
    for e in (
        Example(
            "apple",
            "buying 2 apples at 100 with 10% tax (price 220)",
            {"apple": 100.0, "apple_num": 2.0, "tax": 1.1},
            _apple,
        ),
        Example(
            "apple-orange",
            "2 apples at 100 and 3 oranges at 150 with 10% tax (price 715)",
            {"apple": 100.0, "apple_num": 2.0, "orange": 150.0, "orange_num": 3.0, "tax": 1.1},
            _apple_orange,
        ),
        Example("chain", "the chain rule: z = t², t = x + y", {"x": 1.0, "y": 2.0}, _chain),
        Example("sigmoid", "the sigmoid as ×(−1) → exp → +1 → 1/x", {"x": 0.0}, _sigmoid),
        Example(
            "affine",
            "Y = X·W + B with X (2,), W (2, 3), B (3,), and L = ΣY",
            {
                "X": np.array([1.0, 0.5]),
                "W": np.array([[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]]),
                "B": np.array([0.1, 0.2, 0.3]),
            },
            _affine,
        ),
        Example(
            "convnet",
            "a tiny ConvNet: x (1,1,4,4) → Conv (2 filters 3x3) → ReLU → 2x2 max pool → flatten → Affine → "
            "Softmax-with-Loss (label 1)",
            {
                "x": np.round(_RNG.standard_normal((1, 1, 4, 4)), 2),
                "W1": np.round(_RNG.standard_normal((2, 1, 3, 3)) * 0.5, 2),
                "b1": np.array([0.1, -0.1]),
                "W2": np.round(_RNG.standard_normal((2, 3)), 2),
                "b2": np.zeros(3),
            },
            _convnet,
        ),
        Example(
            "net",
            "a two-layer network on a batch of 2: x (2,3) → Affine (4) → ReLU → Affine (3) → "
            "Softmax-with-Loss (labels 0, 2)",
            {
                "x": np.array([[1.0, 0.5, -0.5], [-1.0, 2.0, 0.5]]),
                "W1": np.round(_RNG.standard_normal((3, 4)) * 0.5, 2),
                "b1": np.array([0.1, -0.1, 0.0, 0.2]),
                "W2": np.round(_RNG.standard_normal((4, 3)) * 0.5, 2),
                "b2": np.zeros(3),
            },
            _net,
        ),
    )
}


_EXAMPLE_LIKE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*")


def build_graph(spec: str, values: Mapping[str, Any] | None = None) -> Variable:
    """The output variable of an example (``"apple"``) or of an expression (``"x * y + exp(x)"``).

    ``values`` maps variable names to numbers or arrays; for an example they replace its
    defaults, for an expression every variable needs one. Backward has not run yet.
    """
    values = dict(values or {})
    example = EXAMPLES.get(spec)
    if example is None:
        # A bare name that is close to an example's (appel, apple-orang) is a typo, not a variable.
        if _EXAMPLE_LIKE.fullmatch(spec) and spec not in values:
            close = difflib.get_close_matches(spec, list(EXAMPLES), n=1, cutoff=0.6)
            if close or "-" in spec:
                hint = f", did you mean {close[0]}?" if close else ""
                raise ValueError(f"unknown example {spec!r}{hint} (the examples: {', '.join(EXAMPLES)})")
        return parse_expression(spec).evaluate(values)
    unknown = [n for n in values if n not in example.defaults]
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)}: not a variable of the {example.name!r} graph "
            f"(its variables: {', '.join(example.defaults)})"
        )
    inputs = {n: Variable(values.get(n, default), name=n) for n, default in example.defaults.items()}
    return example.build(inputs)
