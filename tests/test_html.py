"""The interactive page (draw/steps.py, draw/html.py): the steps' texts and numbers, the page's
structure, escaping and scoping. The page in a real browser: tests/test_browser.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from chainrule import graph
from chainrule.draw import HTMLDrawing, draw_graph
from chainrule.expr import EXAMPLES, build_graph
from chainrule.graph import Variable, topological_order
from chainrule.layers import LocalRule

TAX_TEXT = "× node: d(apple_price) = dout · tax = 1 · 1.1 = 1.1, d(tax) = dout · apple_price = 1 · 200 = 200"


def page(spec, values=None, backward=True):
    out = build_graph(spec, values)
    if backward:
        out.backward()
    return draw_graph(out, format="html")


def texts(drawing):
    return [s.text for s in drawing.steps]


def embedded(drawing):
    """The steps as the page's script reads them."""
    m = re.search(r'<script type="application/json" class="cr-data">(.*?)</script>', str(drawing), re.S)
    return json.loads(m.group(1))["steps"]


def test_apple_plays_the_books_sequence():
    d = page("apple")
    assert isinstance(d, HTMLDrawing)
    assert [s.phase for s in d.steps] == ["start", "forward", "forward", "backward", "backward", "backward", "end"]
    assert texts(d)[1:3] == [
        "× node: apple_price = apple × apple_num = 100 × 2 = 200",
        "× node: price = apple_price × tax = 200 × 1.1 = 220",
    ]
    assert "dL/dL = 1" in texts(d)[3]
    assert texts(d)[4] == TAX_TEXT
    assert (
        texts(d)[5]
        == "× node: d(apple) = dout · apple_num = 1.1 · 2 = 2.2, d(apple_num) = dout · apple = 1.1 · 100 = 110"
    )
    assert "d(apple) = 2.2; d(apple_num) = 110; d(tax) = 200" in texts(d)[6]
    assert [s["text"] for s in embedded(d)] == texts(d)  # the page carries exactly these


def test_add_node_passes_dout_through():
    d = page("apple-orange")
    add = next(s for s in d.steps if s.phase == "backward" and s.text.startswith("+ node"))
    assert add.text == "+ node: d(apple_price) = dout = 1.1, d(orange_price) = dout = 1.1"
    assert add.details == ["The + node passes dout through."]


def test_fan_out_shows_the_contributions_summed():
    d = page("x*y + x", {"x": 2.0, "y": 3.0})
    last = [s for s in d.steps if s.phase == "backward"][-1]
    assert "x feeds 2 nodes, so its gradients add up: d(x) = 1 (from +) + 3 (from ×) = 4" in last.details
    same_node = page("x*x", {"x": 3.0})
    assert any("x is used 2 times" in line and "= 6" in line for s in same_node.steps for line in s.details)


def test_sigmoid_relu_and_the_books_slash_node():
    d = page("sigmoid(x) + relu(y)", {"x": 0.0, "y": -1.0})
    back = texts(d)
    assert "σ node: d(x) = dout · σ(x) · (1 − σ(x)) = 1 · 0.5 · (1 − 0.5) = 0.25" in back
    assert "relu node: d(y) = dout · [y > 0] = 1 · 0 = 0" in back
    s = page("sigmoid", {"x": 0.0})
    assert "/ node: d(exp(x × -1) + 1) = −dout · y² = −1 · 0.5² = -0.25" in texts(s)
    # A negative upstream gradient is written in parentheses, not as −-0.25.
    assert "exp node: d(x × -1) = dout · exp(x × -1) = (-0.25) · 1 = -0.25" in texts(s)


def test_network_shows_shapes_summaries_and_the_books_formulas():
    d = page("net")
    t = texts(d)
    affine = [x for x in t if x.startswith("Affine node: d(")]
    assert affine and "dout · W2ᵀ" in affine[0] and "d(W2) = hᵀ · dout" in affine[0] and "Σ_N dout" in affine[0]
    loss = next(x for x in t if x.startswith("Softmax-with-Loss node: d("))
    assert "d(scores) = dout · (y − t) / N = 1 · ((2,3) [" in loss and "norm" in loss and ") / 2 = (2,3) [" in loss
    assert any(x.startswith("relu node: h = max(") for x in t)
    assert "x = (2,3) [1, 0.5, -0.5, …], norm 2.5981" in t[0]


def test_the_last_number_is_what_backward_returned():
    out = build_graph("net")
    out.backward()
    d = draw_graph(out, format="html")
    w2 = next(x for x in out.creator.inputs[0].creator.inputs if x.name == "W2")
    expected = f"norm {np.linalg.norm(w2.grad):.5g}"
    assert any("d(W2) = hᵀ · dout" in s and expected in s for s in texts(d))


def test_every_recorded_layer_states_a_rule_that_fits_its_node():
    outs = [build_graph(name) for name in EXAMPLES]
    x = Variable(np.arange(1.0, 7.0).reshape(2, 3), name="x")
    outs += [
        graph.mean(graph.tanh(x) / graph.exp(x) - x**2),
        graph.reduce_sum(graph.transpose(graph.reshape(graph.log(x), (3, 2))) @ x.T),
        graph.reduce_sum(-graph.avg_pool2d(x.reshape(1, 1, 2, 3), 1)),
    ]
    for out in outs:
        for node in topological_order(out):
            assert isinstance(node.rule, LocalRule), node.op
            assert len(node.rule.inputs) == len(node.inputs), node.op
        out.backward()
        draw_graph(out, format="html")  # every rule fills with its layer's values


def test_local_rule_refuses_what_it_cannot_fill():
    with pytest.raises(ValueError, match="2 gradient formulas for 1 inputs"):
        LocalRule(inputs=("x",), forward="{x}", grads=("{dout}", "{dout}"))
    with pytest.raises(ValueError, match="names z, which the rule does not have"):
        LocalRule(inputs=("x",), forward="{x} + {z}", grads=("{dout}",))


def test_without_backward_the_page_plays_forward_only():
    d = page("apple", backward=False)
    assert [s.phase for s in d.steps] == ["start", "forward", "forward", "end"]
    assert "backward() has not run" in d.steps[-1].text


def test_labels_appear_when_their_node_runs():
    d = str(page("apple"))
    at = {text: int(step) for step, text in re.findall(r'data-at="(\d+)">([^<]*)</text>', d)}
    assert at["100"] == at["2"] == 0  # the inputs' values from the start
    assert at["apple_price = 200"] == 1 and at["220"] == 2  # forward
    assert at["1"] == 3 and at["200"] == 4 and at["2.2"] == 5 == at["110"]  # backward


def test_names_from_user_expressions_are_escaped():
    x = Variable(2.0, name="</script><script>alert(1)</script>")
    y = x * Variable(3.0, name="<b>&y")
    y.name = "<!-- out"
    y.backward()
    d = draw_graph(y, format="html")
    text = str(d)
    assert "<script>alert" not in text and "<b>&y" not in text and "<!-- out" not in text
    assert text.count("<script") == 2 and text.count("</script>") == 2  # the data and the player, nothing more
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in text  # in the SVG, as text
    steps = embedded(d)
    assert "d(</script><script>alert(1)</script>) = dout · <b>&y = 1 · 3 = 3" in steps[-2]["text"]


def test_the_page_is_self_contained_and_each_display_has_its_own_ids():
    d = page("apple")
    text = str(d)
    assert text.startswith("<!DOCTYPE html>") and 'lang="en"' in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)  # nothing fetched
    assert "<button" in text and 'aria-live="polite"' in text and 'tabindex="0"' in text
    a, b = d._repr_html_(), d._repr_html_()
    ids_a, ids_b = set(re.findall(r'id="([^"]+)"', a)), set(re.findall(r'id="([^"]+)"', b))
    assert ids_a and not ids_a & ids_b
    assert "<html" not in a and "(function () {" in a
    assert re.search(r"<script>\s*\(function \(\) \{", a)  # the whole script is one anonymous function
    assert "document.addEventListener" not in a and "window." not in a  # keys only on the player itself
    assert repr(d).startswith("<HTMLDrawing 7 steps")


def test_save_and_path_write_the_page(tmp_path):
    out = build_graph("apple")
    out.backward()
    d = draw_graph(out, format="html", path=tmp_path / "a.html")
    assert (tmp_path / "a.html").read_text(encoding="utf-8") == str(d)
    assert d.save(tmp_path / "b.html").read_text(encoding="utf-8") == str(d)
    with pytest.raises(ValueError, match="built-in layout"):
        draw_graph(out, format="html", engine="graphviz")


def test_a_100_node_expression_makes_a_page():
    spec = " + ".join(f"x*{i}" for i in range(2, 52))
    out = build_graph(spec, {"x": 1.5})
    out.backward()
    assert len(topological_order(out)) == 99
    d = draw_graph(out, format="html")
    assert len(d.steps) == 2 * 99 + 3
    assert "d(x) = 1325" in d.steps[-1].text  # Σ 2..51


def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "chainrule", "graph", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def test_cli_writes_the_page(tmp_path):
    r = run_cli("apple", "--html", "-o", "apple.html", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "apple.html").read_text(encoding="utf-8")
    assert TAX_TEXT in text
    r = run_cli("x * y", "--set", "x=2", "--set", "y=3", "-o", "p.html", cwd=tmp_path)
    assert r.returncode == 0 and "dout · y = 1 · 3 = 3" in (tmp_path / "p.html").read_text(encoding="utf-8")
    r = run_cli("apple", "--html", "--format", "svg", cwd=tmp_path)
    assert r.returncode == 2 and "two formats" in r.stderr
