"""Tests for chainrule.draw: number formatting, DOT, SVG, PNG, the layout and file writing."""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import chainrule.draw.dot as draw_dot
import chainrule.draw.layout as draw_layout
from chainrule import _files, draw_graph
from chainrule import graph as G
from chainrule.draw import PNGDrawing, SVGDrawing, format_number, format_value
from chainrule.draw.labels import text_width
from chainrule.draw.layout import lay_out
from chainrule.draw.png import MAX_PNG_SIDE
from chainrule.draw.primitives import to_primitives
from chainrule.draw.scene import build_scene
from chainrule.draw.style import GRAD_COLOR
from chainrule.expr import EXAMPLES, build_graph, parse_expression
from chainrule.graph import Variable

SVG_NS = "{http://www.w3.org/2000/svg}"
DOCS_APPLE_SVG = Path(__file__).resolve().parents[1] / "docs" / "apple.svg"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def apple_graph(backward: bool = True) -> Variable:
    price = build_graph("apple")
    if backward:
        price.backward()
    return price


def svg_texts(svg: str) -> list[tuple[str, str]]:
    root = ET.fromstring(svg)
    return [(el.text or "", el.get("fill", "")) for el in root.iter(f"{SVG_NS}text")]


# --- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3.3000000000000003, "3.3"),
        (220.00000000000003, "220"),
        (715.0000000000001, "715"),
        (110.00000000000001, "110"),
        (2.2, "2.2"),
        (1.0, "1"),
        (-0.25, "-0.25"),
        (-0.0, "0"),
        (1e-8, "1e-8"),
        (0.1966119332414819, "0.19661"),
        (-0.19661193324148185, "-0.19661"),
        (0.7310585786300049, "0.73106"),
        (2 / 3, "0.66667"),
        (12345.678, "12346"),
        (123456789012.0, "1.2346e11"),
        (np.float32(1.1), "1.1"),
        (float("nan"), "nan"),
        (float("-inf"), "-inf"),
        (np.e, "2.7183"),
    ],
)
def test_format_number(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("digits", "text"), [(1, "0.2"), (3, "0.197"), (5, "0.19661"), (10, "0.1966119332"), (17, "0.19661193324148191")]
)
def test_format_number_digits(digits, text):
    assert format_number(0.19661193324148191, digits) == text


def test_book_values_stay_exact_at_any_digits():
    # The book's apple and apple-orange values, as float arithmetic leaves them.
    for value, text in [(220.00000000000003, "220"), (2.2, "2.2"), (110.00000000000001, "110"), (200, "200")]:
        for digits in (2, 3, 5, 10):
            assert format_number(value, digits) == text
    for value, text in [(1.1, "1.1"), (715.0000000000001, "715"), (3.3000000000000003, "3.3"), (650, "650")]:
        assert format_number(value, 5) == text


def test_format_value_summarises_arrays():
    assert format_value(np.array(220.00000000000003)) == "220"
    assert format_value(np.array(0.1966119332)) == "0.19661"
    assert format_value(np.array([1.0, 0.5])) == "[1, 0.5]"
    assert format_value(np.array([[1.0, 2.0], [3.0, 4.0]])) == "[[1, 2], [3, 4]]"
    assert format_value(np.arange(6.0).reshape(2, 3)) == "(2,3) [0, 1, 2, …]"
    assert format_value(np.zeros((2, 3, 4))) == "(2,3,4) [0, 0, 0, …]"
    assert format_value(np.arange(5.0)) == "(5,) [0, 1, 2, …]"
    assert format_value(np.array([1 / 3, 2 / 3])) == "[0.33333, 0.66667]"
    assert format_value(np.array([1 / 3, 2 / 3]), digits=6) == "[0.333333, 0.666667]"
    assert format_value(np.array(1 / 3), digits=3) == "0.333"


def test_graph_labels_show_five_digits_unless_told():
    x = Variable(1.0, name="x")
    y = G.sigmoid(x)
    y.name = "y"
    y.backward()
    labels = [t for t, _ in svg_texts(draw_graph(y))]
    assert "0.73106" in labels and "0.19661" in labels and "1" in labels
    labels = [t for t, _ in svg_texts(draw_graph(y, digits=10))]
    assert "0.7310585786" in labels and "0.1966119332" in labels
    dot = draw_graph(y, format="dot", digits=2)
    assert "label=<0.73<BR/>" in dot and ">0.2</FONT>" in dot


def test_constant_leaves_use_the_digits_too():
    x = Variable(2.0, name="x")
    y = x * (1 / 3)
    y.backward()
    assert "0.33333" in [t for t, _ in svg_texts(draw_graph(y))]
    assert "0.333" in [t for t, _ in svg_texts(draw_graph(y, digits=3))]


@pytest.mark.parametrize("digits", [0, 18, 2.5, "5", True, None])
def test_bad_digits_are_refused(digits):
    with pytest.raises(ValueError, match="digits must be an integer from 1 to 17"):
        draw_graph(apple_graph(), digits=digits)
    with pytest.raises(ValueError, match="to_dot: digits"):
        draw_dot.to_dot(apple_graph(), digits=digits)


def test_dot_carries_values_and_grads():
    dot = draw_graph(apple_graph(), format="dot")
    assert isinstance(dot, str) and dot.startswith("digraph")
    for number in ("220", "2.2", "110", "200", "100", "1.1"):
        assert number in dot
    assert "apple_num" in dot and "price" in dot and "×" in dot
    assert "220.00000000000003" not in dot
    assert GRAD_COLOR in dot


def test_dot_without_grads_or_values():
    price = apple_graph()
    assert GRAD_COLOR not in draw_graph(price, format="dot", grads=False)
    no_values = draw_graph(price, format="dot", values=False, grads=False)
    assert "220" not in no_values and "label=<apple>" in no_values


def test_dot_branch_point_for_reused_variable():
    x = Variable(3.0, name="x")
    y = x * x + x
    y.backward()
    dot = draw_graph(y, format="dot")
    assert "shape=point" in dot and "7" in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_dot_is_accepted_by_graphviz():
    svg = draw_graph(apple_graph(), format="svg", engine="graphviz")
    ET.fromstring(svg)
    assert "220" in svg


def test_graphviz_engine_without_graphviz_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(draw_dot.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="Graphviz"):
        draw_graph(apple_graph(), format="png", engine="graphviz")


# --- SVG --------------------------------------------------------------------------------------


def test_drawings_repr_in_one_line_and_save(tmp_path):
    svg = draw_graph(apple_graph())
    width, height = re.search(r'<svg[^>]*width="(\d+)" height="(\d+)"', svg).groups()
    assert repr(svg) == f"<SVGDrawing {width}x{height} px, {len(svg.encode()):,} bytes of SVG; .save(path) writes it>"
    assert svg.save(tmp_path / "g.svg").read_text(encoding="utf-8") == str(svg)
    png = draw_graph(apple_graph(), format="png")
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        w, h = img.size
    assert repr(png) == f"<PNGDrawing {w}x{h} px, {len(png):,} bytes of PNG; .save(path) writes it>"
    assert png.save(tmp_path / "g.png").read_bytes() == bytes(png)
    pretty = pytest.importorskip("IPython.lib.pretty")
    assert pretty.pretty(svg) == repr(svg) and pretty.pretty(png) == repr(png)  # IPython in a terminal


def test_svg_is_well_formed_and_carries_the_numbers():
    svg = draw_graph(apple_graph())
    assert isinstance(svg, SVGDrawing) and isinstance(svg, str)
    assert svg._repr_svg_() == str(svg)
    texts = svg_texts(svg)
    labels = [t for t, _ in texts]
    for number in ("220", "100", "2", "1.1", "200"):
        assert number in labels
    grads = [t for t, fill in texts if fill == GRAD_COLOR]
    assert sorted(grads) == sorted(["2.2", "110", "200", "1.1", "1"])
    for name in ("apple", "apple_num", "tax", "price", "×"):
        assert name in labels


def test_svg_values_above_and_grads_below_each_arrow():
    root = ET.fromstring(draw_graph(apple_graph()))
    texts = {}
    for el in root.iter(f"{SVG_NS}text"):
        texts.setdefault(el.text, []).append((float(el.get("x")), float(el.get("y")), el.get("fill")))
    ((x_value, y_value, _),) = texts["220"]
    ((x_grad, y_grad, fill),) = texts["1"]
    assert fill == GRAD_COLOR and x_value == x_grad and y_value < y_grad


def test_svg_before_backward_has_no_gradients():
    svg = draw_graph(apple_graph(backward=False))
    assert not [t for t, fill in svg_texts(svg) if fill == GRAD_COLOR]


def test_svg_of_the_apple_graph_is_the_one_in_the_docs():
    # Pins the built-in layout and SVG writer byte for byte: docs/apple.svg is the README's picture.
    svg = draw_graph(apple_graph(), format="svg")
    assert str(svg).encode("utf-8") == DOCS_APPLE_SVG.read_bytes()


def test_svg_escapes_names():
    x = Variable(2.0, name='<b>&"x"')
    y = x * 3
    y.name = "</svg>"
    y.backward()
    svg = draw_graph(y)
    labels = [t for t, _ in svg_texts(svg)]
    assert '<b>&"x"' in labels and "</svg>" in labels


@pytest.mark.parametrize(
    "spec", [*EXAMPLES, "x * y + exp(x)", "x * x + x", "(x + y) ** 2 / (x - y * 3)", "x * y * x + y / x - exp(y)"]
)
def test_labels_and_lines_do_not_collide(spec):
    values = {} if spec in EXAMPLES else {n: v for n, v in {"x": 1.5, "y": 2.0}.items() if n in spec}
    out = build_graph(spec, values)
    out.backward()
    items, wires, end = build_scene(out, True, True)
    bends = lay_out(items, wires, end)
    prims = to_primitives(items, wires, bends)
    symbols = {(it.x, it.label) for it in items if it.kind == "op"}
    boxes = []
    for p in prims:
        if p.kind == "text" and (p.x, p.text) not in symbols:
            w = text_width(p.text, p.size)
            x0 = p.x - (w if p.anchor == "end" else w / 2 if p.anchor == "middle" else 0)
            boxes.append((p.text, x0, p.y - 0.75 * p.size, x0 + w, p.y + 0.2 * p.size))
    for it in items:
        if it.kind == "op":
            boxes.append((f"node {it.label}", it.x - it.left, it.y - it.half_h, it.x + it.right, it.y + it.half_h))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]:
                pytest.fail(f"{a} overlaps {b}")
    texts = [b for b in boxes if not b[0].startswith("node ")]
    for p in prims:
        if p.kind != "path":
            continue
        for (ax, ay), (bx, by) in zip(p.points, p.points[1:], strict=False):
            for k in range(1, 50):
                px, py = ax + (bx - ax) * k / 50, ay + (by - ay) * k / 50
                for t in texts:
                    if t[1] + 1 < px < t[3] - 1 and t[2] + 1 < py < t[4] - 1:
                        pytest.fail(f"a line crosses the label {t[0]!r}")


def laid_out_scene(spec, values=None):
    """The items, wires and primitives of a graph drawn after backward (x=2, y=3, z=1.5 for expressions)."""
    if values is None:
        named = set(re.findall(r"\b[xyz]\b", spec))
        values = {} if spec in EXAMPLES else {n: v for n, v in {"x": 2.0, "y": 3.0, "z": 1.5}.items() if n in named}
    with np.errstate(all="ignore"):  # random expressions may overflow; the drawing shows inf
        out = build_graph(spec, values)
        out.backward()
    items, wires, end = build_scene(out, True, True)
    bends = lay_out(items, wires, end)
    return items, wires, to_primitives(items, wires, bends)


def laid_out(spec, values=None):
    """The items and primitives of a graph drawn after backward (see ``laid_out_scene``)."""
    items, _, prims = laid_out_scene(spec, values)
    return items, prims


def operand_order_errors(items, wires, prims):
    """Non-commutative operations whose arrows do not come in top to bottom in operand order.

    What a reader sees: where each arrow meets its node, as the angle from the node's leftmost
    point, negative above it, positive below (an arrow from the row below that comes in along the
    box's bottom edge further right is further on). Two inputs from one variable (x - x) are one.
    """
    arrows = iter(p for p in prims if p.kind == "path" and p.arrow)  # one per (wire, target), in order
    tips = {}
    for w in wires:
        for t in w.targets:
            tips.setdefault((id(w.source), id(t)), next(arrows).points[-1])
    errors = []
    for it in items:
        if it.kind != "op" or it.node.op in draw_layout.COMMUTATIVE_OPS:
            continue
        angles = [np.arctan2(tips[id(p), id(it)][1] - it.y, it.x - tips[id(p), id(it)][0]) for p in it.producers]
        pairs = zip(angles, angles[1:], it.producers, it.producers[1:], strict=False)
        if any(p is not q and not a < b for a, b, p, q in pairs):
            errors.append((it.label, [p.label for p in it.producers], [round(float(np.degrees(a))) for a in angles]))
    return errors


def edge_crossings(prims):
    """Pairs of segments of two different drawn edges that cross (touching at an end does not count)."""
    paths = [list(zip(p.points, p.points[1:], strict=False)) for p in prims if p.kind == "path"]
    return [
        (a, b, c, d)
        for i, first in enumerate(paths)
        for second in paths[i + 1 :]
        for a, b in first
        for c, d in second
        if draw_layout._crosses(a, b, c, d)
    ]


@pytest.mark.parametrize("spec", [*EXAMPLES, "x*y - x**3", "x * y + exp(x)", "x/(y + x**2)", "x/y - x**3"])
def test_edges_do_not_cross(spec):
    # x*y/z - y**2 + z drew without crossings only with z above x*y, reading z / (x*y); in operand
    # order one crossing is forced (see CROSSINGS).
    _, prims = laid_out(spec)
    assert edge_crossings(prims) == []


def test_shared_input_of_a_product_moves_next_to_its_later_use():
    # x*y - x**3: x is used by × and by ^; with x on ×'s row, y would sit between x and ^.
    items, prims = laid_out("x*y - x**3")
    by_label = {it.label: it for it in items}
    mul, power = by_label["×"], by_label["^"]
    assert by_label["y"].y == mul.y < by_label["x"].y < power.y  # y level with ×, x between × and ^
    assert edge_crossings(prims) == []


#: Expressions whose drawings are pinned: (spec, most edge crossings allowed). Where the layout
#: before operand order was enforced drew fewer (x*y/z - y**2 + z: 0, x * y * x + y / x - exp(y):
#: 2), it drew z above x*y into ÷, or x above y into ÷: the figure misstated the expression. In
#: operand order x*y/z - y**2 + z cannot do without one (y feeds × and ^, which enclose z's way
#: into ÷ from below). x/y - x**3 and x**3 - x/y lost their crossing by branching early.
CROSSINGS = [
    *((name, 0) for name in EXAMPLES),
    ("x/y - x**3", 0),
    ("x**3 - x/y", 0),
    ("(x - y) / x", 0),
    ("x - (y - x)", 0),
    ("x / (x - y)", 0),
    ("x - 2 ** x", 0),
    ("2 ** x - x", 0),
    ("y - x ** y", 0),
    ("x - y/x", 0),
    ("(x - y) ** x", 0),
    ("(x - 1) / x", 0),
    ("x / (1 - x)", 0),
    ("exp(x) - x", 0),
    ("(y - z) / (x - z)", 0),
    ("(x - y) / z - x", 0),
    ("exp(x - y) / y", 0),
    ("x*y - x**3", 0),
    ("x*y/z - y**2 + z", 4),
    ("(x+y)*(x-y)", 1),
    ("(x + y) ** 2 / (x - y * 3)", 0),
    ("(x + 1) * (x + 2) * (x + 3)", 0),
    ("x * x + x", 1),
    ("(x - y) * (x / y)", 1),
    ("(x - y) / (y - x)", 0),
    ("y ** x - x ** y", 0),
    ("x/y - y/x", 0),
    ("x * y * x + y / x - exp(y)", 3),
]


@pytest.mark.parametrize(("spec", "most"), CROSSINGS)
def test_operands_of_non_commutative_operations_stay_in_order(spec, most):
    # Inputs are drawn top to bottom in operand order; x/y must never read as y/x, even where
    # swapping them would save a crossing, and a variable claimed by another user, a constant or
    # a nested operation must not turn (x - y) / x into (y - x) / x.
    items, wires, prims = laid_out_scene(spec)
    assert operand_order_errors(items, wires, prims) == []
    assert len(edge_crossings(prims)) <= most


_LEAVES = st.sampled_from(["x", "y", "z", "2", "3"])
_EXPRESSIONS = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.builds(lambda a, op, b: f"({a} {op} {b})", inner, st.sampled_from(["+", "-", "*", "/", "**"]), inner),
        st.builds(lambda a: f"exp({a})", inner),
    ),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(_EXPRESSIONS.filter(lambda spec: re.search(r"\b[xyz]\b", spec) is not None))
def test_random_expressions_keep_operand_order(spec):
    try:
        parse_expression(spec)
    except ValueError:  # the parser refuses a constant part such as 3 / (2 - 2) or 2 ** exp(exp(2))
        assume(False)
    items, wires, prims = laid_out_scene(spec)
    assert operand_order_errors(items, wires, prims) == [], spec


@pytest.mark.parametrize(
    "spec",
    ["(x + y) ** 2 / (x - y * 3)", "x * y * x + y / x - exp(y)", "(x + 1) * (x + 2) * (x + 3)", "(x+y)*(x-y)"],
)
def test_untangling_never_adds_crossings(spec, monkeypatch):
    # Some crossings cannot go ((x+y)*(x-y): x and y both feed + and −); those graphs keep no more than before.
    _, prims = laid_out(spec)
    monkeypatch.setattr(draw_layout, "UNTANGLE_LIMIT", 0)
    _, tree_order = laid_out(spec)
    assert len(edge_crossings(prims)) <= len(edge_crossings(tree_order))


def dejavu_width(text, size):
    """The width matplotlib draws ``text`` with in DejaVu Sans (the PNG's font), from the font's advances."""
    from matplotlib import font_manager, ft2font

    font = ft2font.FT2Font(font_manager.findfont("DejaVu Sans"))
    font.set_size(size, 72)
    return sum(font.load_char(ord(ch)).linearHoriAdvance / 65536 for ch in text)


@pytest.mark.parametrize(
    "text",
    ["(1,2,2,2) [1.7402, 1.7122, 1.1955, …]", "-11.667", "111.11", "apple_num", "Softmax-with-Loss", "X·W = [1, 2]"],
)
def test_text_width_is_the_fonts(text):
    # Labels are spaced by text_width; short of the real width, they ran into the nodes (digits, "1" above all).
    real = dejavu_width(text, 14)
    assert real <= text_width(text, 14) <= real * 1.03 + 0.5


@pytest.mark.parametrize("spec", EXAMPLES)
def test_edge_labels_fit_between_the_nodes(spec):
    # Measured with the font's own widths: a label clears the shapes at both ends of its stem.
    out = build_graph(spec)
    out.backward()
    items, wires, end = build_scene(out, True, True)
    bends = lay_out(items, wires, end)
    for w in wires:
        sx, bx = draw_layout.stem_span(w, bends)
        after = [t for t in items if t.kind == "op" and t.y == w.source.y and t.x > sx]
        right_end = min([bx, *(t.x - t.left for t in after)])
        for label in (w.value_label, w.grad_label):
            if label:
                half = dejavu_width(label, 14) / 2
                mid = (sx + bx) / 2
                assert sx + 8 <= mid - half and mid + half <= right_end - 8, f"{label!r} touches a node"


def test_layout_keeps_the_main_line_straight_and_flows_left_to_right():
    items, wires, end = build_scene(apple_graph(), True, True)
    lay_out(items, wires, end)
    by_label = {it.label: it for it in items if it.kind != "op"}
    ops = [it for it in items if it.kind == "op"]
    assert by_label["apple"].y == ops[0].y == ops[1].y == by_label["price"].y
    assert by_label["apple"].x < ops[0].x < ops[1].x < by_label["price"].x
    assert by_label["apple_num"].y > ops[0].y and by_label["tax"].y > ops[1].y


def test_long_chain_draws():
    x = Variable(1.0, name="x")
    y = x
    for _ in range(1500):
        y = G.sigmoid(y)
    y.backward()
    svg = draw_graph(y)
    ET.fromstring(svg)
    assert svg.count("<circle") >= 1500


def test_drawing_large_arrays_and_labels():
    rng = np.random.default_rng(0)
    x = Variable(rng.standard_normal((4, 5)), name="x")
    t = np.array([0, 1, 2, 1])
    W, b = Variable(rng.standard_normal((5, 3)), name="W"), Variable(np.zeros(3), name="b")
    loss = G.softmax_cross_entropy(G.relu(G.affine(x, W, b)), t)
    loss.backward()
    svg = draw_graph(loss)
    labels = [t for t, _ in svg_texts(svg)]
    first = ", ".join(format_number(v) for v in x.data[0, :3])
    assert f"(4,5) [{first}, …]" in labels
    assert "Softmax-with-Loss" in labels and "Affine" in labels


# --- PNG, files, errors -----------------------------------------------------------------------


def test_png_has_magic_bytes():
    png = draw_graph(apple_graph(), format="png")
    assert isinstance(png, PNGDrawing) and png.startswith(PNG_MAGIC)
    assert png._repr_png_() == bytes(png)


def test_path_is_written_atomically(tmp_path):
    out = tmp_path / "apple.svg"
    svg = draw_graph(apple_graph(), path=out)
    assert out.read_text(encoding="utf-8") == svg
    png_path = tmp_path / "apple.png"
    draw_graph(apple_graph(), format="png", path=png_path)
    assert png_path.read_bytes().startswith(PNG_MAGIC)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["apple.png", "apple.svg"]  # no temporary files left


def test_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(OSError):
        draw_graph(apple_graph(), path=tmp_path / "missing-folder" / "x.svg")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["svg", "png", "dot"])
def test_written_file_gets_the_usual_mode(tmp_path, fmt):
    umask = os.umask(0)
    os.umask(umask)
    out = tmp_path / f"apple.{fmt}"
    draw_graph(apple_graph(), format=fmt, path=out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_failure_while_writing_leaves_no_temporary_file(tmp_path, monkeypatch):
    out = tmp_path / "apple.svg"
    out.write_text("old drawing", encoding="utf-8")

    def failing_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(_files.os, "fsync", failing_fsync)  # fails after the data went into the temporary file
    with pytest.raises(OSError, match="disk full"):
        draw_graph(apple_graph(), path=out)
    assert [p.name for p in tmp_path.iterdir()] == ["apple.svg"]
    assert out.read_text(encoding="utf-8") == "old drawing"


def test_bad_arguments():
    with pytest.raises(ValueError, match="format"):
        draw_graph(apple_graph(), format="jpeg")
    with pytest.raises(ValueError, match="engine"):
        draw_graph(apple_graph(), engine="cairo")
    with pytest.raises(TypeError, match="Variable"):
        draw_graph(np.ones(3))


def test_leaf_output_draws():
    x = Variable(4.0, name="x")
    x.backward()
    svg = draw_graph(x)
    assert "x" in [t for t, _ in svg_texts(svg)]


def test_odd_names_render_in_every_format():
    x = Variable(2.0, name="$x\x01$")  # a control character and mathtext dollars
    y = G.exp(x) * 3
    y.name = "a$b"
    y.backward()
    svg = draw_graph(y)
    assert "$x?$" in [t for t, _ in svg_texts(svg)]
    assert draw_graph(y, format="png").startswith(PNG_MAGIC)
    assert "$x?$" in draw_graph(y, format="dot")


def test_wide_graph_png_stays_within_size_limits():
    x = Variable(0.5, name="x")
    y = x
    for _ in range(150):
        y = G.sigmoid(y)
    png = draw_graph(y, format="png")
    width = int.from_bytes(png[16:20], "big")
    assert png.startswith(PNG_MAGIC) and width <= MAX_PNG_SIDE


def test_drawings_are_deterministic():
    assert draw_graph(apple_graph()) == draw_graph(apple_graph())
    assert draw_graph(apple_graph(), format="dot") == draw_graph(apple_graph(), format="dot")
