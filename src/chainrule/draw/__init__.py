"""Draw a recorded computational graph the way chapter 5 of the book does.

Operation nodes are circles holding their symbol (×, +, exp, ...), input variables are names on
the left, the graph flows left to right, and every arrow carries the forward value above it
and, once ``backward()`` has run, the gradient below it in red. A variable used twice splits at
a small dot after its label (its gradient is the sum over both uses).

The SVG and PNG pictures are laid out here, with no system binary: column = longest path from
the inputs, row = a tidy tree layout that keeps each node level with its first input (the
book's main line) and brings the other inputs in from below. SVG is written as text; PNG is
drawn from the same layout with matplotlib (imported only then, never touching pyplot's
global backend). ``format="dot"`` exports Graphviz source, and ``engine="graphviz"`` renders
SVG or PNG with the ``dot`` program instead, when it is installed.

The modules, each importing only those above it:

- ``style``: colours, fonts and sizes;
- ``labels``: numbers as people write them, label cleaning and width estimates;
- ``scene``: the graph as items (leaves, operations, the output's end) and wires (one per variable);
- ``layout``: columns, rows, coordinates, compaction, and the obstacles edges must avoid;
- ``primitives``: edges routed around obstacles, and the shapes both renderers draw;
- ``svg`` / ``png``: the two built-in renderers; ``dot``: Graphviz source and the ``dot`` engine;
- ``steps``: forward and backward propagation as steps, each node's local rule with its numbers;
- ``html``: the interactive page that plays those steps on the SVG drawing;
- ``filters``: a convolution's filters as an image grid (chapter 7's figure 7-24), not a graph.
"""

from __future__ import annotations

import os

from chainrule._files import atomic_write
from chainrule.draw.dot import run_graphviz, to_dot
from chainrule.draw.filters import draw_filters
from chainrule.draw.html import HTMLDrawing, render_html
from chainrule.draw.labels import DIGITS, check_digits, format_number, format_value
from chainrule.draw.layout import lay_out
from chainrule.draw.png import PNGDrawing, render_png
from chainrule.draw.primitives import to_primitives
from chainrule.draw.scene import build_scene
from chainrule.draw.steps import build_steps
from chainrule.draw.svg import SVGDrawing, render_svg
from chainrule.graph import Variable

__all__ = [
    "DIGITS",
    "ENGINES",
    "FORMATS",
    "HTMLDrawing",
    "PNGDrawing",
    "SVGDrawing",
    "draw_filters",
    "draw_graph",
    "format_number",
    "format_value",
    "to_dot",
]

FORMATS = ("svg", "png", "dot", "html")
ENGINES = ("builtin", "graphviz")


def draw_graph(
    output: Variable,
    *,
    values: bool = True,
    grads: bool = True,
    format: str = "svg",  # noqa: A002 - the public name, as in matplotlib's savefig
    path: str | os.PathLike[str] | None = None,
    engine: str = "builtin",
    digits: int = DIGITS,
) -> str | bytes:
    """Draw the graph that made ``output``: operations as circles, values above the arrows and,
    where ``backward()`` has run, gradients below them in red.

    ``format``: ``"svg"`` returns an :class:`SVGDrawing` (a ``str`` that Jupyter shows inline),
    ``"png"`` a :class:`PNGDrawing` (``bytes``, also shown inline), ``"dot"`` Graphviz source
    (``str``), ``"html"`` an :class:`HTMLDrawing`: a self-contained interactive page (``str``, shown
    inline in Jupyter) that plays forward and then backward propagation node by node, each node's
    local rule written out with its numbers (see :mod:`chainrule.draw.html`). ``path`` also writes
    the result there (atomically: a temporary file, then a
    rename; the file gets the usual umask-respecting mode). ``values`` / ``grads`` turn the two
    kinds of edge label off. Numbers are rounded to ``digits`` significant digits (1 to 17, default
    5), trailing zeros dropped: ``0.19661`` for 0.1966119332..., the book's 220 and 1.1 as they
    are; array labels show their shape and first entries, each to ``digits`` digits.
    ``engine="graphviz"`` renders SVG/PNG with the Graphviz ``dot`` program instead of the
    built-in layout (PNG uses matplotlib).
    """
    if not isinstance(output, Variable):
        raise TypeError(f"draw_graph: expected a Variable, got {type(output).__name__}")
    if format not in FORMATS:
        raise ValueError(f"draw_graph: format must be one of {', '.join(FORMATS)}, got {format!r}")
    if engine not in ENGINES:
        raise ValueError(f"draw_graph: engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    digits = check_digits(digits, "draw_graph")
    result: str | bytes
    if format == "html" and engine != "builtin":
        raise ValueError("draw_graph: the interactive page (format='html') uses the built-in layout; leave engine out")
    if format == "dot":
        result = to_dot(output, values=values, grads=grads, digits=digits)
    elif engine == "graphviz":
        data = run_graphviz(to_dot(output, values=values, grads=grads, digits=digits), format)
        result = SVGDrawing(data.decode()) if format == "svg" else PNGDrawing(data)
    else:
        items, wires, end = build_scene(output, values, grads, digits)
        bends = lay_out(items, wires, end)
        prims = to_primitives(items, wires, bends)
        title = f"computational graph of {output.name}" if output.name else "computational graph"
        if format == "svg":
            result = SVGDrawing(render_svg(prims, title))
        elif format == "html":
            steps, reveal = build_steps(output, items, wires, digits)
            result = render_html(prims, title, steps, reveal)
        else:
            result = PNGDrawing(render_png(prims))
    if path is not None:
        atomic_write(path, result.encode() if isinstance(result, str) else bytes(result))
    return result
