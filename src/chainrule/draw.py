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
"""

from __future__ import annotations

import html
import io
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.graph import Variable, topological_order

__all__ = ["FORMATS", "PNGDrawing", "SVGDrawing", "draw_graph", "format_number", "format_value", "to_dot"]

FORMATS = ("svg", "png", "dot")
ENGINES = ("builtin", "graphviz")

GRAD_COLOR = "#d62728"  # red, as the book's backward values
INK = "#222222"
CONSTANT_INK = "#666666"
FONT_FAMILY = "DejaVu Sans, Helvetica, Arial, sans-serif"
FONT = 14.0  # px: edge labels and names
SYMBOL_FONT = 17.0  # px: one-character node symbols (× + −)
WORD_FONT = 14.0  # px: word node symbols (exp, relu)
RADIUS = 21.0
ROW_H = 84.0
MIN_STEM = 44.0
BEND = 34.0
LABEL_PAD = 13.0
MARGIN = 14.0


# ---------------------------------------------------------------------------------------------
# Numbers as people write them
# ---------------------------------------------------------------------------------------------


def format_number(value: Any, digits: int = 10) -> str:
    """A number rounded to ``digits`` significant digits, trailing zeros dropped: 3.3, 220, 1e-8, -0.25."""
    v = float(value)
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    s = f"{v:.{digits}g}"
    if "e" in s:
        mantissa, exponent = s.split("e")
        s = f"{mantissa}e{int(exponent)}"
    return "0" if s == "-0" else s


def format_value(value: Any, max_items: int = 3, digits: int = 4) -> str:
    """A short label for a number (10 significant digits) or an array (``digits`` per entry).

    ``220``, ``[1, 0.5]``, ``[[1, 2], [3, 4]]``, ``(2,3) [0.1235, 0.2, 0.3, …]``: arrays of up to
    four entries in full, larger ones as their shape and first ``max_items`` entries.
    """
    a = np.asarray(value)
    if a.ndim == 0:
        return format_number(a)
    if a.size <= 4 and a.ndim <= 2:
        if a.ndim == 1:
            return "[" + ", ".join(format_number(v, digits) for v in a) + "]"
        return "[" + ", ".join("[" + ", ".join(format_number(v, digits) for v in row) + "]" for row in a) + "]"
    shape = str(a.shape).replace(" ", "")
    flat = a.reshape(-1)
    head = ", ".join(format_number(v, digits) for v in flat[:max_items])
    return f"{shape} [{head}{', …' if a.size > max_items else ''}]"


# ---------------------------------------------------------------------------------------------
# The graph as items (leaves, operations, the output's end) and wires (one per variable)
# ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Item:
    kind: str  # "leaf" | "op" | "end"
    label: str
    var: Variable | None = None  # a leaf's variable, or the output for "end"
    node: Any = None
    producers: list[_Item] = field(default_factory=list)  # the item making each input, in order
    children: list[_Item] = field(default_factory=list)  # tree children (layout only)
    col: int = 0
    row: int = 0
    x: float = 0.0
    y: float = 0.0
    left: float = 0.0  # extent left of (x, y)
    right: float = 0.0  # extent right of (x, y)
    half_h: float = 0.0
    shape: str = "none"  # "circle" | "box" | "none"
    font: float = FONT


@dataclass(eq=False)
class _Wire:
    var: Variable
    source: _Item
    targets: list[_Item] = field(default_factory=list)
    value_label: str = ""
    grad_label: str = ""


def _clean(text: str) -> str:
    """A label without control characters (XML cannot hold most of them)."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _text_width(text: str, size: float) -> float:
    """Estimated width of ``text`` in a sans-serif font (no font metrics needed, a little generous)."""
    narrow, wide = set(".,:;'!|il1 -()[]"), set("mwMW×÷…Σ@")
    em = sum(0.34 if ch in narrow else 0.9 if ch in wide else 0.62 for ch in text)
    return em * size


def _build(output: Variable, values: bool, grads: bool) -> tuple[list[_Item], list[_Wire], _Item]:
    nodes = topological_order(output)
    op_items: dict[int, _Item] = {}
    leaf_items: dict[int, _Item] = {}
    wires: dict[int, _Wire] = {}
    items: list[_Item] = []

    def producer(var: Variable) -> _Item:
        if var.creator is not None and id(var.creator) in op_items:
            return op_items[id(var.creator)]
        item = leaf_items.get(id(var))
        if item is None:
            label = _clean(var.name) if var.name is not None else format_value(var.data)
            item = _Item("leaf", label, var=var)
            leaf_items[id(var)] = item
            items.append(item)
        return item

    def wire(var: Variable) -> _Wire:
        w = wires.get(id(var))
        if w is None:
            w = wires[id(var)] = _Wire(var, producer(var))
        return w

    for node in nodes:
        item = _Item("op", _clean(node.symbol), node=node)
        item.producers = [producer(x) for x in node.inputs]
        op_items[id(node)] = item
        items.append(item)
        for x in node.inputs:
            wire(x).targets.append(item)
    end = _Item("end", _clean(output.name or ""), var=output)
    end.producers = [producer(output)]
    wire(output).targets.append(end)
    items.append(end)

    for w in wires.values():
        var, src = w.var, w.source
        is_leaf = src.kind == "leaf"
        if values and not (is_leaf and var.name is None):  # an unnamed leaf already shows its value
            text = format_value(var.data)
            named = var.name and not is_leaf and w.targets[-1] is not end
            w.value_label = f"{_clean(var.name)} = {text}" if named else text
        elif not values and var.name and not is_leaf and w.targets[-1] is not end:
            w.value_label = _clean(var.name)
        if grads and var.grad is not None:
            w.grad_label = format_value(var.grad)
    return items, list(wires.values()), end


def _layout(items: list[_Item], wires: list[_Wire], end: _Item) -> dict[int, float]:
    """Assign columns, rows, sizes and coordinates. Returns the x of each column's bend."""
    # Columns: an operation sits one right of its deepest input; leaves just left of their first use.
    for item in items:
        if item.kind == "op":
            item.col = 1 + max((p.col for p in item.producers if p.kind == "op"), default=0)
    end.col = end.producers[0].col + 1 if end.producers[0].kind == "op" else 1
    for w in wires:
        if w.source.kind == "leaf":
            w.source.col = min(t.col for t in w.targets) - 1
    if end.producers[0].kind == "leaf":
        end.col = end.producers[0].col + 1

    # Rows: depth-first from the output, each item claimed by the first item reaching it.
    preorder: list[_Item] = []
    claimed = {id(end)}
    stack: list[_Item] = [end]
    while stack:
        item = stack.pop()
        preorder.append(item)
        kids = []
        for p in item.producers:
            if id(p) not in claimed:
                claimed.add(id(p))
                kids.append(p)
        item.children = kids
        stack.extend(reversed(kids))
    # Claiming at expansion keeps siblings in argument order; the first input shares its parent's row.
    height: dict[int, int] = {}
    for item in reversed(preorder):
        height[id(item)] = max(1, sum(height[id(c)] for c in item.children))
    start = {id(end): 0}
    for item in preorder:
        s = start[id(item)]
        item.row = s
        for c in item.children:
            start[id(c)] = s
            s += height[id(c)]

    # Sizes.
    for item in items:
        if item.kind == "leaf":
            item.font = FONT
            item.left, item.right = _text_width(item.label, FONT) + 8, 0.0
        elif item.kind == "end":
            item.left, item.right = 0.0, (_text_width(item.label, FONT) + 8 if item.label else 0.0)
        else:
            one_char = len(item.label) == 1
            item.font = SYMBOL_FONT if one_char else WORD_FONT
            w = _text_width(item.label, item.font)
            if w <= 2 * RADIUS - 4:
                item.shape, item.left, item.right, item.half_h = "circle", RADIUS, RADIUS, RADIUS
            else:
                item.shape, item.left, item.right, item.half_h = "box", w / 2 + 10, w / 2 + 10, 17.0

    n_cols = max(i.col for i in items) + 1
    left = [0.0] * n_cols
    right = [0.0] * n_cols
    stem = [MIN_STEM] * n_cols
    for item in items:
        left[item.col] = max(left[item.col], item.left)
        right[item.col] = max(right[item.col], item.right)
    for w in wires:
        label_w = max(_text_width(w.value_label, FONT), _text_width(w.grad_label, FONT))
        stem[w.source.col] = max(stem[w.source.col], label_w + 2 * LABEL_PAD)
    xs = [MARGIN + left[0]]
    for c in range(1, n_cols):
        xs.append(xs[-1] + right[c - 1] + stem[c - 1] + BEND + left[c])
    for item in items:
        item.x = xs[item.col]
        item.y = MARGIN + 28 + item.row * ROW_H
    bends = {c: xs[c] + right[c] + stem[c] for c in range(n_cols)}
    _compact(items, wires, bends)
    return bends


def _run_end(w: _Wire, bends: dict[int, float]) -> float:
    """Where the horizontal part of a wire ends: its bend, further along its row for a long tree edge."""
    if w.targets[0].kind == "end":
        return w.targets[0].x
    x = bends[w.source.col]
    for t in w.targets:
        if t.col > w.source.col + 1 and any(c is w.source for c in t.children):
            x = max(x, bends[t.col - 1])
    return x


def _legs(w: _Wire, bends: dict[int, float]) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The slanted last segments of a wire, from its run's end to each target's centre (approximate)."""
    out = []
    for t in w.targets:
        x = bends[w.source.col]
        if t.col > w.source.col + 1 and any(c is w.source for c in t.children):
            x = bends[t.col - 1]
        if t.kind != "end" and t.y != w.source.y:
            out.append(((x, w.source.y), (t.x, t.y)))
    return out


def _crosses(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float], d: tuple[float, float]) -> bool:
    """Do segments a–b and c–d cross (touching at an end does not count)?"""

    def orient(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    d1, d2, d3, d4 = orient(c, d, a), orient(c, d, b), orient(a, b, c), orient(a, b, d)
    return d1 * d2 < 0 and d3 * d4 < 0


def _compact(items: list[_Item], wires: list[_Wire], bends: dict[int, float]) -> None:
    """Lift each input that enters its node from below as close under that node as there is room.

    The tree layout gives every leaf a row of its own; a later input (``tax``) can usually sit in
    the row just below its node, as in the book, when nothing else occupies that stretch of row
    and no arrow would cross its label or its own arrow.
    """
    parent: dict[int, _Item] = {}
    for item in items:
        for c in item.children:
            parent[id(c)] = item
    out_wire = {id(w.source): w for w in wires}

    def span(item: _Item) -> tuple[float, float]:
        w = out_wire.get(id(item))
        return item.x - item.left, max(item.x + item.right, _run_end(w, bends) if w else item.x)

    legs = {id(w): _legs(w, bends) for w in wires}
    by_row: dict[int, list[_Item]] = {}
    for it in items:
        by_row.setdefault(it.row, []).append(it)
    for leaf in items:
        p = parent.get(id(leaf))
        w = out_wire.get(id(leaf))
        if leaf.kind != "leaf" or p is None or w is None or len(w.targets) != 1 or leaf.row <= p.row + 1:
            continue
        x0, x1 = span(leaf)
        other_legs = [leg for ow in wires if ow is not w for leg in legs[id(ow)]]
        for row in range(p.row + 1, leaf.row):
            if any(span(it)[0] < x1 + 12 and x0 - 12 < span(it)[1] for it in by_row.get(row, ())):
                continue
            y = MARGIN + 28 + row * ROW_H
            corners = [(x0, y - 28), (x1, y - 28), (x1, y + 28), (x0, y + 28)]
            edges = [(corners[i], corners[(i + 1) % 4]) for i in range(4)]
            if any(_crosses(a, b, c, d) for a, b in other_legs for c, d in edges):
                continue  # another arrow would run through this input's label
            leg = ((bends[leaf.col], y), (p.x, p.y))
            if any(_crosses(leg[0], leg[1], a, b) for a, b in other_legs):
                continue
            if _near(_obstacles(items), range(leaf.col + 1, p.col + 1), leg[0], leg[1], (leaf, p)):
                continue
            by_row[leaf.row].remove(leaf)
            by_row.setdefault(row, []).append(leaf)
            leaf.row, leaf.y = row, y
            legs[id(w)] = _legs(w, bends)
            break


# ---------------------------------------------------------------------------------------------
# Primitives shared by the SVG and matplotlib renderers
# ---------------------------------------------------------------------------------------------


@dataclass
class _Prim:
    kind: str  # "path" | "circle" | "box" | "dot" | "text"
    points: list[tuple[float, float]] = field(default_factory=list)  # a polyline
    arrow: bool = False
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    text: str = ""
    anchor: str = "middle"  # "start" | "middle" | "end"
    size: float = FONT
    color: str = INK
    italic: bool = False


def _boundary(item: _Item, frm: tuple[float, float]) -> tuple[float, float]:
    """Where a line from ``frm`` towards the item's centre meets its outline."""
    dx, dy = item.x - frm[0], item.y - frm[1]
    if item.shape == "none" or (dx == 0 and dy == 0):
        return item.x, item.y
    if item.shape == "circle":
        d = (dx * dx + dy * dy) ** 0.5
        return item.x - RADIUS * dx / d, item.y - RADIUS * dy / d
    s = min(item.left / abs(dx) if dx else np.inf, item.half_h / abs(dy) if dy else np.inf)
    return item.x - dx * s, item.y - dy * s


_Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def _obstacles(items: list[_Item], wires: list[_Wire] = (), bends: dict[int, float] | None = None) -> dict:
    """What a slanted line should not cross, by column: nodes, leaf names and (given wires) edge labels.

    Each entry is ``(owner, box)``; an edge's labels belong to its source and sit in the gap right
    of the source's column.
    """
    out: dict[int, list[tuple[_Item, _Box]]] = {}
    for it in items:
        if it.kind == "op":
            box = (it.x - it.left - 6, it.y - it.half_h - 6, it.x + it.right + 6, it.y + it.half_h + 6)
        elif it.kind == "leaf":
            box = (it.x - it.left, it.y - 14, it.x + 4, it.y + 10)
        else:
            continue
        out.setdefault(it.col, []).append((it, box))
    for w in wires:
        x0, x1, y = *_stem(w, bends), w.source.y
        mid = (x0 + x1) / 2
        for text, base in ((w.value_label, y - 9), (w.grad_label, y + 19)):
            if text:
                half = _text_width(text, FONT) / 2
                out.setdefault(w.source.col, []).append((w.source, (mid - half, base - 12, mid + half, base + 4)))
    return out


def _near(obstacles: dict, cols: range, a: tuple[float, float], b: tuple[float, float], skip: tuple) -> bool:
    """Does the segment a→b cross an obstacle in ``cols`` whose owner is not in ``skip``?"""
    boxes = [box for col in cols for owner, box in obstacles.get(col, ()) if not any(owner is s for s in skip)]
    if not boxes:
        return False
    for i in range(1, 40):
        t = i / 40
        px, py = a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
        if any(x0 <= px <= x1 and y0 <= py <= y1 for x0, y0, x1, y1 in boxes):
            return True
    return False


def _stem(w: _Wire, bends: dict[int, float]) -> tuple[float, float]:
    """The x span of a wire's labelled stem: from its source to its bend (or to the output's end)."""
    src = w.source
    sx = src.x + (src.right if src.kind == "op" else 0.0)
    return sx, (w.targets[0].x if w.targets[0].kind == "end" else bends[src.col])


def _route(
    pts: list[tuple[float, float]], t: _Item, src: _Item, obstacles: dict, bends: dict[int, float]
) -> list[tuple[float, float]]:
    """The path from the end of ``pts`` into ``t``: straight when nothing is in the way, else around."""
    a = pts[-1]
    tip = _boundary(t, a)
    cols = range(src.col, t.col + 1)
    if not _near(obstacles, cols, a, tip, (src, t)):
        return [*pts, tip]
    # Something lies on the straight line: drop to the target's row first, then go in level.
    via = (t.x - t.left - 16, t.y)
    if via[0] > a[0] and not _near(obstacles, cols, a, via, (src, t)):
        return [*pts, via, (t.x - t.left, t.y)]
    # Last resort: along the free gap, then the empty corridor between two rows, then in.
    corridor = t.y - ROW_H / 2 if t.y > a[1] else t.y + ROW_H / 2
    drop = (a[0] + 12, corridor)
    run = (max(drop[0], bends[t.col - 1] + 12), corridor)
    return [*pts, drop, run, _boundary(t, run)]


def _primitives(items: list[_Item], wires: list[_Wire], bends: dict[int, float]) -> list[_Prim]:
    prims: list[_Prim] = []
    obstacles = _obstacles(items, wires, bends)
    for w in wires:
        src = w.source
        y = src.y
        sx, bx = _stem(w, bends)
        stem = [(sx, y), (bx, y)]
        single = len(w.targets) == 1
        mid = (sx + bx) / 2
        if w.value_label:
            prims.append(_Prim("text", x=mid, y=y - 9, text=w.value_label))
        if w.grad_label:
            prims.append(_Prim("text", x=mid, y=y + 19, text=w.grad_label, color=GRAD_COLOR))
        if not single:
            prims.append(_Prim("path", points=stem))
            prims.append(_Prim("dot", x=bx, y=y, w=3.2))
        repeats: dict[int, int] = {}
        for t in w.targets:
            k = repeats.get(id(t), 0)
            repeats[id(t)] = k + 1
            total = w.targets.count(t)
            pts = list(stem) if single else [(bx, y)]
            if t.kind == "end":
                prims.append(_Prim("path", points=[*pts[:-1], (t.x, t.y)], arrow=True))
                continue
            if t.col > src.col + 1 and any(c is src for c in t.children):
                pts.append((bends[t.col - 1], y))  # a tree edge: its row is free up to the target's column
            route = _route(pts, t, src, obstacles, bends)
            if total > 1:  # the same variable twice into one node (x * x): parallel arrows 10 px apart
                (ux, uy), (vx, vy) = route[-2], route[-1]
                d = ((vx - ux) ** 2 + (vy - uy) ** 2) ** 0.5 or 1.0
                off = (k - (total - 1) / 2) * 10.0
                px, py = -(vy - uy) / d * off, (vx - ux) / d * off
                route = [*route[:-2], (ux + px, uy + py), (vx + px, vy + py)]
            prims.append(_Prim("path", points=route, arrow=True))
    for item in items:
        if item.kind == "leaf":
            const = item.var is not None and item.var.is_constant
            prims.append(
                _Prim(
                    "text",
                    x=item.x - 7,
                    y=item.y + 5,
                    text=item.label,
                    anchor="end",
                    color=CONSTANT_INK if const else INK,
                    italic=const,
                )
            )
        elif item.kind == "end":
            if item.label:
                prims.append(_Prim("text", x=item.x + 7, y=item.y + 5, text=item.label, anchor="start"))
        else:
            if item.shape == "circle":
                prims.append(_Prim("circle", x=item.x, y=item.y, w=RADIUS))
            else:
                prims.append(
                    _Prim("box", x=item.x - item.left, y=item.y - item.half_h, w=2 * item.left, h=2 * item.half_h)
                )
            prims.append(_Prim("text", x=item.x, y=item.y + item.font * 0.36, text=item.label, size=item.font))
    return prims


def _bounds(prims: list[_Prim]) -> tuple[float, float, float, float]:
    xs: list[float] = []
    ys: list[float] = []
    for p in prims:
        if p.kind == "path":
            xs += [q[0] for q in p.points]
            ys += [q[1] for q in p.points]
        elif p.kind in ("circle", "dot"):
            xs += [p.x - p.w, p.x + p.w]
            ys += [p.y - p.w, p.y + p.w]
        elif p.kind == "box":
            xs += [p.x, p.x + p.w]
            ys += [p.y, p.y + p.h]
        else:
            w = _text_width(p.text, p.size)
            x0 = p.x - (w if p.anchor == "end" else w / 2 if p.anchor == "middle" else 0)
            xs += [x0, x0 + w]
            ys += [p.y - p.size, p.y + 0.3 * p.size]
    return min(xs) - MARGIN, min(ys) - MARGIN, max(xs) + MARGIN, max(ys) + MARGIN


# ---------------------------------------------------------------------------------------------
# Renderers
# ---------------------------------------------------------------------------------------------


def _collinear(pts: list[tuple[float, float]]) -> bool:
    """Are three points on one line (the middle one adds nothing to a path)?"""
    (ax, ay), (bx, by), (cx, cy) = pts
    return abs((bx - ax) * (cy - ay) - (by - ay) * (cx - ax)) < 1e-6


class SVGDrawing(str):
    """SVG text of a drawn graph; displays inline in Jupyter (``_repr_svg_``)."""

    def _repr_svg_(self) -> str:
        return str(self)


class PNGDrawing(bytes):
    """PNG bytes of a drawn graph; displays inline in Jupyter (``_repr_png_``)."""

    def _repr_png_(self) -> bytes:
        return bytes(self)


def _svg_path(p: _Prim) -> str:
    pts = [
        q for i, q in enumerate(p.points) if not 0 < i < len(p.points) - 1 or not _collinear(p.points[i - 1 : i + 2])
    ]
    return f"M{pts[0][0]:.1f},{pts[0][1]:.1f} " + " ".join(f"L{x:.1f},{y:.1f}" for x, y in pts[1:])


def _render_svg(prims: list[_Prim], title: str) -> str:
    x0, y0, x1, y1 = _bounds(prims)
    width, height = x1 - x0, y1 - y0
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="{x0:.1f} {y0:.1f} {width:.1f} {height:.1f}" font-family="{FONT_FAMILY}" font-size="{FONT:g}">',
        f"<title>{html.escape(title)}</title>",
        "<defs>",
        '<marker id="chainrule-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" markerHeight="9" '
        f'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{INK}"/></marker>',
        "</defs>",
        f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{width:.1f}" height="{height:.1f}" fill="white"/>',
    ]
    for p in prims:
        if p.kind == "path":
            marker = ' marker-end="url(#chainrule-arrow)"' if p.arrow else ""
            out.append(f'<path d="{_svg_path(p)}" fill="none" stroke="{INK}" stroke-width="1.4"{marker}/>')
        elif p.kind == "circle":
            out.append(
                f'<circle cx="{p.x:.1f}" cy="{p.y:.1f}" r="{p.w:.1f}" fill="white" stroke="{INK}" stroke-width="1.6"/>'
            )
        elif p.kind == "box":
            out.append(
                f'<rect x="{p.x:.1f}" y="{p.y:.1f}" width="{p.w:.1f}" height="{p.h:.1f}" rx="12" fill="white" '
                f'stroke="{INK}" stroke-width="1.6"/>'
            )
        elif p.kind == "dot":
            out.append(f'<circle cx="{p.x:.1f}" cy="{p.y:.1f}" r="{p.w:.1f}" fill="{INK}"/>')
        else:
            style = ' font-style="italic"' if p.italic else ""
            size = f' font-size="{p.size:g}"' if p.size != FONT else ""
            out.append(
                f'<text x="{p.x:.1f}" y="{p.y:.1f}" text-anchor="{p.anchor}" fill="{p.color}"{size}{style}>'
                f"{html.escape(p.text, quote=False)}</text>"
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


MAX_PNG_SIDE = 16000  # pixels: a huge graph is drawn smaller rather than exceed what Agg can hold


def _render_png(prims: list[_Prim], dpi: int = 200) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, PathPatch
    from matplotlib.path import Path as MplPath

    x0, y0, x1, y1 = _bounds(prims)
    px = 1 / 100  # one layout pixel is 1/100 inch, so FONT px becomes FONT * 0.72 pt as in the SVG
    fig = Figure(figsize=((x1 - x0) * px, (y1 - y0) * px), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)
    ax.set_axis_off()
    pt = 72 * px
    for p in prims:
        if p.kind == "path":
            codes = [MplPath.MOVETO] + [MplPath.LINETO] * (len(p.points) - 1)
            path = MplPath(p.points, codes)
            if p.arrow:
                ax.add_patch(
                    FancyArrowPatch(
                        path=path, arrowstyle="-|>,head_length=0.55,head_width=0.3", mutation_scale=12,
                        color=INK, lw=1.4 * pt, shrinkA=0, shrinkB=0,
                    )
                )  # fmt: skip
            else:
                ax.add_patch(PathPatch(path, fill=False, edgecolor=INK, lw=1.4 * pt))
        elif p.kind == "circle":
            ax.add_patch(Circle((p.x, p.y), p.w, facecolor="white", edgecolor=INK, lw=1.6 * pt, zorder=3))
        elif p.kind == "box":
            ax.add_patch(
                FancyBboxPatch(
                    (p.x, p.y), p.w, p.h, boxstyle="round,pad=0,rounding_size=12",
                    facecolor="white", edgecolor=INK, lw=1.6 * pt, zorder=3,
                )
            )  # fmt: skip
        elif p.kind == "dot":
            ax.add_patch(Circle((p.x, p.y), p.w, color=INK, zorder=3))
        else:
            ha = {"start": "left", "middle": "center", "end": "right"}[p.anchor]
            ax.text(
                p.x, p.y, p.text, ha=ha, va="baseline", fontsize=p.size * pt, color=p.color,
                style="italic" if p.italic else "normal", family="DejaVu Sans", zorder=4, parse_math=False,
            )  # fmt: skip
    dpi = min(dpi, MAX_PNG_SIDE / (max(x1 - x0, y1 - y0) * px))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def _dot_html(text: str) -> str:
    return html.escape(text, quote=True)


def to_dot(output: Variable, *, values: bool = True, grads: bool = True) -> str:
    """Graphviz source for the graph (``dot -Tsvg``): circles for operations, edge labels with the
    value on top and the gradient below in red."""
    items, wires, end = _build(output, values, grads)
    ids = {id(item): f"n{i}" for i, item in enumerate(items)}
    lines = [
        "digraph chainrule {",
        '  rankdir=LR; ordering=in; bgcolor="white";',
        '  node [fontname="Helvetica"]; edge [fontname="Helvetica", arrowsize=0.7];',
    ]
    for item in items:
        label = _dot_html(item.label) or " "
        if item.kind == "op":
            shape = "circle" if len(item.label) <= 4 else "box, style=rounded"
            lines.append(f"  {ids[id(item)]} [shape={shape}, label=<{label}>];")
        else:
            lines.append(f"  {ids[id(item)]} [shape=plaintext, label=<{label}>];")
    for i, w in enumerate(wires):
        parts = [_dot_html(w.value_label)] if w.value_label else []
        if w.grad_label:
            parts.append(f'<FONT COLOR="{GRAD_COLOR}">{_dot_html(w.grad_label)}</FONT>')
        label = f"label=<{'<BR/>'.join(parts)}>" if parts else ""
        src = ids[id(w.source)]
        if len(w.targets) == 1:
            lines.append(f"  {src} -> {ids[id(w.targets[0])]}" + (f" [{label}]" if label else "") + ";")
        else:  # a variable used more than once: one labelled stem, then a branch point
            lines.append(f"  b{i} [shape=point, width=0.06];")
            lines.append(f"  {src} -> b{i} [{', '.join(filter(None, [label, 'arrowhead=none']))}];")
            lines.extend(f"  b{i} -> {ids[id(t)]};" for t in w.targets)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _graphviz(dot_text: str, fmt: str) -> bytes:
    exe = shutil.which("dot")
    if exe is None:
        raise FileNotFoundError(
            "draw_graph: engine='graphviz' needs the Graphviz 'dot' program on PATH "
            "(install Graphviz, or use the built-in engine, which needs nothing)"
        )
    proc = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise ChildProcessError(f"draw_graph: Graphviz failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def draw_graph(
    output: Variable,
    *,
    values: bool = True,
    grads: bool = True,
    format: str = "svg",  # noqa: A002 - the public name, as in matplotlib's savefig
    path: str | os.PathLike[str] | None = None,
    engine: str = "builtin",
) -> str | bytes:
    """Draw the graph that made ``output``: operations as circles, values above the arrows and,
    where ``backward()`` has run, gradients below them in red.

    ``format``: ``"svg"`` returns an :class:`SVGDrawing` (a ``str`` that Jupyter shows inline),
    ``"png"`` a :class:`PNGDrawing` (``bytes``, also shown inline), ``"dot"`` Graphviz source
    (``str``). ``path`` also writes the result there (atomically: a temporary file, then a
    rename). ``values`` / ``grads`` turn the two kinds of edge label off. ``engine="graphviz"``
    renders SVG/PNG with the Graphviz ``dot`` program instead of the built-in layout (PNG uses
    matplotlib).
    """
    if not isinstance(output, Variable):
        raise TypeError(f"draw_graph: expected a Variable, got {type(output).__name__}")
    if format not in FORMATS:
        raise ValueError(f"draw_graph: format must be one of {', '.join(FORMATS)}, got {format!r}")
    if engine not in ENGINES:
        raise ValueError(f"draw_graph: engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    result: str | bytes
    if format == "dot":
        result = to_dot(output, values=values, grads=grads)
    elif engine == "graphviz":
        data = _graphviz(to_dot(output, values=values, grads=grads), format)
        result = SVGDrawing(data.decode()) if format == "svg" else PNGDrawing(data)
    else:
        items, wires, end = _build(output, values, grads)
        bends = _layout(items, wires, end)
        prims = _primitives(items, wires, bends)
        if format == "svg":
            title = f"computational graph of {output.name}" if output.name else "computational graph"
            result = SVGDrawing(_render_svg(prims, title))
        else:
            result = PNGDrawing(_render_png(prims))
    if path is not None:
        _write_atomic(path, result.encode() if isinstance(result, str) else bytes(result))
    return result
