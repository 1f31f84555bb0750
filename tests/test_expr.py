"""Tests for chainrule.expr (examples and the safe expression parser) and the ``graph`` command."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from chainrule import expr
from chainrule import graph as G
from chainrule.cli import main
from chainrule.expr import EXAMPLES, build_graph, parse_expression
from chainrule.gradcheck import numerical_gradient
from chainrule.graph import Variable, no_grad
from chainrule.layers import Sigmoid


def inputs_of(output: Variable) -> dict[str, Variable]:
    """The named leaf variables of a graph, by name."""
    found = {}
    for node in G.topological_order(output):
        for x in node.inputs:
            if x.creator is None and x.name is not None:
                found[x.name] = x
    return found


# --- the examples -----------------------------------------------------------------------------


def test_apple_example():
    price = build_graph("apple")
    price.backward()
    v = inputs_of(price)
    assert price.name == "price" and price.data == pytest.approx(220)
    assert (v["apple"].grad, v["apple_num"].grad, v["tax"].grad) == pytest.approx((2.2, 110, 200))


def test_apple_orange_example():
    price = build_graph("apple-orange")
    price.backward()
    v = inputs_of(price)
    assert price.data == pytest.approx(715)
    got = [v[k].grad for k in ("apple_num", "apple", "orange", "orange_num", "tax")]
    assert got == pytest.approx([110, 2.2, 3.3, 165, 650])


def test_chain_example():
    z = build_graph("chain")
    z.backward()
    v = inputs_of(z)
    assert z.data == 9 and v["x"].grad == pytest.approx(6) and v["y"].grad == pytest.approx(6)


@pytest.mark.parametrize("x0", [0.0, 1.3, -2.0])
def test_sigmoid_example_is_the_book_decomposition(x0):
    y = build_graph("sigmoid", {"x": x0})
    y.backward()
    layer = Sigmoid()
    assert float(y.data) == pytest.approx(float(layer.forward(np.array(x0))), rel=1e-14)
    assert float(inputs_of(y)["x"].grad) == pytest.approx(float(layer.backward(np.array(1.0))), rel=1e-12)
    assert [n.symbol for n in G.topological_order(y)] == ["×", "exp", "+", "/"]


def test_affine_example_matches_central_differences():
    L = build_graph("affine")
    L.backward()
    v = inputs_of(L)
    assert [n.op for n in G.topological_order(L)] == ["matmul", "add", "sum"]
    for name in ("X", "W", "B"):
        arr = v[name].data

        def f(_, arr=arr):
            with no_grad():
                return float(EXAMPLES["affine"].build(v).data)

        np.testing.assert_allclose(v[name].grad, numerical_gradient(f, arr), rtol=1e-6, atol=1e-9)


def test_example_values_can_be_overridden_and_unknown_names_are_refused():
    price = build_graph("apple", {"apple_num": 3})
    assert price.data == pytest.approx(330)
    with pytest.raises(ValueError, match="apple, apple_num, tax"):
        build_graph("apple", {"pear": 1})


def test_a_mistyped_example_name_is_named_as_such():
    with pytest.raises(ValueError, match=r"unknown example 'appel', did you mean apple\? \(the examples: apple, "):
        build_graph("appel")
    with pytest.raises(ValueError, match="unknown example 'sigmiod', did you mean sigmoid"):
        build_graph("sigmiod")
    with pytest.raises(ValueError, match=r"unknown example 'my-graph' \(the examples"):
        build_graph("my-graph")  # a hyphenated name is never an expression's variable
    assert build_graph("appel", {"appel": 2.0}).data == 2.0  # a variable with a value is an expression
    assert build_graph("apple - tax", {"apple": 3, "tax": 1}).data == 2


# --- expressions ------------------------------------------------------------------------------


def test_expression_chain():
    z = build_graph("(x + y) ** 2", {"x": 1, "y": 2})
    z.backward()
    v = inputs_of(z)
    assert z.data == 9 and v["x"].grad == pytest.approx(6)


def test_expression_functions_and_fan_out():
    out = build_graph("x * y + exp(x)", {"x": 1.0, "y": 2.0})
    out.backward()
    v = inputs_of(out)
    assert out.data == pytest.approx(2 + np.e)
    assert v["x"].grad == pytest.approx(2 + np.e) and v["y"].grad == pytest.approx(1)
    out = build_graph("sigmoid(x) + relu(x) - tanh(log(x)) / 2", {"x": 2.0})
    assert out.data == pytest.approx(1 / (1 + np.exp(-2)) + 2 - np.tanh(np.log(2)) / 2)


def test_expression_with_arrays():
    out = build_graph("sum(X @ W + b)", {"X": np.ones((2, 3)), "W": np.ones((3, 4)), "b": np.arange(4.0)})
    assert out.data == pytest.approx(2 * 4 * 3 + 2 * 6)


def test_variables_in_reading_order():
    assert parse_expression("b * exp(a) + c + a").variables == ("b", "a", "c")


def test_constants_are_folded():
    y = build_graph("x * -1 + 2 ** 3 / 4", {"x": 5.0})
    assert y.data == pytest.approx(-3)
    ops = [n.op for n in G.topological_order(y)]
    assert ops == ["mul", "add"]  # -1 and 2 ** 3 / 4 became single numbers


def test_missing_values_are_listed():
    with pytest.raises(ValueError, match=r"no value for y, z"):
        build_graph("x + y * z", {"x": 1})


def test_unknown_values_are_refused():
    with pytest.raises(ValueError, match="q: not a variable"):
        build_graph("x + 1", {"x": 1, "q": 2})


def test_expression_without_variables_is_refused():
    with pytest.raises(ValueError, match="no variables"):
        build_graph("2 * 3")


HOSTILE = [
    "__import__('os').system('x')",
    "x.__class__",
    "().__class__",
    "open('f')",
    "lambda: 1",
    "x[0]",
    "9**9**9",
    "x ** 1000",
    "2 ** 200 * x",
    "import os",
    "'a' * 3",
    "b'a'",
    "x if y else z",
    "[x, y]",
    "{x: 1}",
    "x < y",
    "x and y",
    "not x",
    "~x",
    "x | y",
    "x // y",
    "x % y",
    "exp",
    "exp(x, y)",
    "exp(x=1)",
    "exp(*x)",
    "foo(x)",
    "getattr(x, 'y')",
    "_x + 1",
    "__builtins__",
    "1e999 * x",
    "(x := 1)",
    "f'{x}'",
    "x; y",
    "",
    "x +",
    "(" * 300 + "x" + ")" * 300,
    "x" + " + x" * 400,
    "1j * x",
    "True * x",
    "None",
    "...",
    "exp(x).real",
    "[i for i in x]",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_expressions_are_rejected(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError):
        parse_expression(text)  # refused before any value is known
    assert list(tmp_path.iterdir()) == []  # nothing ran


@pytest.mark.parametrize("text", ["9**9**9", "x.__class__", "foo(x)", "x[0]"])
def test_rejection_messages_say_what(text):
    with pytest.raises(ValueError) as info:
        parse_expression(text)
    message = str(info.value)
    assert any(word in message for word in ("exponent", "attribute", "call not allowed", "indexing")), message


def test_parser_never_uses_eval_or_exec():
    source = inspect.getsource(expr)
    assert not re.search(r"(?<![\w.])(eval|exec|compile)\(", source)


# --- the command line -------------------------------------------------------------------------


def test_cli_writes_svg_via_subprocess(tmp_path):
    out = tmp_path / "out.svg"
    proc = subprocess.run(
        [sys.executable, "-m", "chainrule", "graph", "apple", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.strip() == f"wrote {out}"
    text = out.read_text(encoding="utf-8")
    ET.fromstring(text)
    for number in ("220", "2.2", "110", "200"):
        assert f">{number}<" in text


def test_cli_dot_to_stdout(capsys):
    assert main(["graph", "apple"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("digraph") and "220" in captured.out and "2.2" in captured.out
    assert captured.err == ""


def test_cli_svg_to_stdout_and_expression(capsys):
    assert main(["graph", "(x + y) ** 2", "--set", "x=1", "--set", "y=2", "--format", "svg"]) == 0
    out = capsys.readouterr().out
    ET.fromstring(out)
    assert ">6<" in out and ">9<" in out


def test_cli_png_and_format_from_suffix(tmp_path, capsys):
    assert main(["graph", "chain", "-o", str(tmp_path / "chain.png")]) == 0
    assert (tmp_path / "chain.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert main(["graph", "chain", "-o", str(tmp_path / "chain.dot")]) == 0
    assert (tmp_path / "chain.dot").read_text().startswith("digraph")
    assert capsys.readouterr().out == ""


def test_cli_no_grads_and_arrays(capsys):
    assert main(["graph", "affine", "--set", "X=[2, 1]", "--no-grads"]) == 0
    out = capsys.readouterr().out
    assert "#d62728" not in out and "[2, 1]" in out


def test_cli_digits(capsys):
    assert main(["graph", "sigmoid", "--set", "x=1"]) == 0
    out = capsys.readouterr().out
    assert ">0.19661</FONT>" in out and "label=<0.73106<BR/>" in out  # five significant digits by default
    assert main(["graph", "sigmoid", "--set", "x=1", "--digits", "10", "--format", "svg"]) == 0
    out = capsys.readouterr().out
    assert ">0.1966119332<" in out and ">0.7310585786<" in out
    assert main(["graph", "apple", "--digits", "2"]) == 0
    out = capsys.readouterr().out
    assert all(f"{n}<" in out for n in ("220", "2.2", "110", "200", "1.1"))  # short values stay exact


@pytest.mark.parametrize("text", ["0", "18", "five", "2.5"])
def test_cli_bad_digits(text, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["graph", "apple", "--digits", text])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--digits: expected an integer from 1 to 17, got '{text}'" in err


def test_cli_list(capsys):
    assert main(["graph", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in EXAMPLES)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["graph", "x + y", "--set", "x=1"], "no value for y"),
        (["graph", "apple", "--format", "png"], "-o"),
        (["graph", "x.__class__", "--set", "x=1"], "attribute"),
        (["graph", "apple", "--set", "apple"], "NAME=VALUE"),
        (["graph", "apple", "--set", "apple=abc"], "number"),
        (["graph", "apple", "-o", "apple.jpeg"], "format"),
        (["graph", "x * 2", "--set", "x=[1, 2]"], "scalar"),
        (["graph"], "example"),
        # issue 13, item 21: JSON that is not a number became NaN or 1
        *(
            (["graph", "x * 2", "--set", f"x={value}"], "expected a finite number or a JSON list of finite numbers")
            for value in (
                "null",
                "true",
                '"1"',
                "nan",
                "inf",
                "NaN",
                "[1, null]",
                "[true, 2]",
                "[]",
                "1e999",
                '{"a": 1}',
            )
        ),
        (["graph", "sum(x)", "--set", "x=[[1, 2], [3]]"], "rectangular"),
        # item 9: deeply nested JSON was a RecursionError traceback
        (["graph", "sum(x)", "--set", "x=" + "[" * 100_000 + "1" + "]" * 100_000], "nested more than 32 levels"),
        (["graph", "sum(x)", "--set", "x=" + "[" * 40 + "1" + "]" * 40], "nested more than 32 levels"),
        # item 16: an integer past float's range was an OverflowError traceback
        (["graph", "x * 1" + "0" * 309, "--set", "x=1"], "number too large"),
    ],
)
def test_cli_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and message in captured.err and "Traceback" not in captured.err


def test_a_constant_past_floats_range_is_a_value_error():
    with pytest.raises(ValueError, match="number too large"):
        parse_expression("x * 1" + "0" * 309)


def test_set_takes_nested_lists_of_numbers_up_to_the_nesting_limit():
    from chainrule.cli.graph import parse_assignment

    name, value = parse_assignment("W=" + "[" * 32 + "1.5" + "]" * 32)
    assert name == "W" and value.shape == (1,) * 32 and value.dtype == np.float64
    assert parse_assignment("W=[[1, 2], [3, 4]]")[1].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert parse_assignment("x=-2.5") == ("x", -2.5)
