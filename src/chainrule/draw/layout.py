"""Where everything goes: columns, rows, sizes and coordinates, then compaction of the inputs
that enter from below; and the obstacle geometry that compaction and edge routing both check.

Column = longest path from the inputs; row = a tidy tree layout that keeps each node level
with its first input (the book's main line) and brings the other inputs in from below; where
that makes edges cross, a node's inputs are reordered when doing so lowers the crossings.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chainrule.draw.labels import text_width
from chainrule.draw.scene import Item, Wire
from chainrule.draw.style import BEND, FONT, LABEL_PAD, MARGIN, MIN_STEM, RADIUS, ROW_H, SYMBOL_FONT, WORD_FONT

__all__ = ["UNTANGLE_LIMIT", "Box", "Obstacles", "collect_obstacles", "lay_out", "near", "stem_span"]

Box = tuple[float, float, float, float]  # x0, y0, x1, y1
Obstacles = dict[int, list[tuple[Item, Box]]]  # by column: (owner, box)
Segment = tuple[tuple[float, float], tuple[float, float]]


#: Graphs with more items than this keep the tree order (untangling counts crossings for each try).
UNTANGLE_LIMIT = 200
#: Operations whose inputs may be drawn in either order (the others show operand order top to bottom).
COMMUTATIVE_OPS = frozenset({"add", "mul"})


def lay_out(items: list[Item], wires: list[Wire], end: Item) -> dict[int, float]:
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

    # The tree: depth-first from the output, each item claimed by the first item reaching it.
    # Claiming at expansion keeps siblings in argument order; the first input shares its parent's row.
    claimed = {id(end)}
    stack: list[Item] = [end]
    while stack:
        item = stack.pop()
        kids = []
        for p in item.producers:
            if id(p) not in claimed:
                claimed.add(id(p))
                kids.append(p)
        item.children = kids
        stack.extend(reversed(kids))

    # Sizes.
    for item in items:
        if item.kind == "leaf":
            item.font = FONT
            item.left, item.right = text_width(item.label, FONT) + 8, 0.0
        elif item.kind == "end":
            item.left, item.right = 0.0, (text_width(item.label, FONT) + 8 if item.label else 0.0)
        else:
            one_char = len(item.label) == 1
            item.font = SYMBOL_FONT if one_char else WORD_FONT
            w = text_width(item.label, item.font)
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
        label_w = max(text_width(w.value_label, FONT), text_width(w.grad_label, FONT))
        stem[w.source.col] = max(stem[w.source.col], label_w + 2 * LABEL_PAD)
    xs = [MARGIN + left[0]]
    for c in range(1, n_cols):
        xs.append(xs[-1] + right[c - 1] + stem[c - 1] + BEND + left[c])
    for item in items:
        item.x = xs[item.col]
    bends = {c: xs[c] + right[c] + stem[c] for c in range(n_cols)}
    _place_rows(items, wires, end, bends)
    if len(items) <= UNTANGLE_LIMIT:
        _untangle(items, wires, end, bends)
    return bends


def _place_rows(items: list[Item], wires: list[Wire], end: Item, bends: dict[int, float]) -> None:
    """Rows from the tree (each item level with its first child, later children below), then compaction."""
    preorder: list[Item] = []
    stack: list[Item] = [end]
    while stack:
        item = stack.pop()
        preorder.append(item)
        stack.extend(reversed(item.children))
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
    for item in items:
        item.y = MARGIN + 28 + item.row * ROW_H
    _compact(items, wires, bends)


def _untangle(items: list[Item], wires: list[Wire], end: Item, bends: dict[int, float]) -> None:
    """Reorder a node's inputs where that removes crossing edges.

    Why edges cross: a variable used twice is claimed by its first user, and that user's other
    inputs take the rows below it; when the variable's later use lies further down, the branch to
    it crosses them (``x/y - x**3``: ``y`` sits between ``x`` and ``x**3``, and the arrow from
    ``x`` down to ``^`` crosses ``y``'s). Moving the shared input, with its subtree, after its
    siblings puts it next to the later use: ``y`` takes ``÷``'s row and ``x`` comes in from below,
    between ``÷`` and ``^``. Each node's inputs are tried in turn, each move after its siblings;
    a move is kept only when it lowers the number of crossings, so a graph without crossings (the
    book's) keeps the tree order, and one whose crossings cannot all go keeps as few as found.
    """
    best = _count_crossings(wires, bends)
    if best == 0:
        return
    for item in items:
        if item.node is None or item.node.op not in COMMUTATIVE_OPS:
            continue  # inputs are drawn top to bottom in operand order: x/y must not read as y/x
        for child in item.children[:-1]:
            kept = item.children
            item.children = [c for c in kept if c is not child] + [child]
            _place_rows(items, wires, end, bends)
            n = _count_crossings(wires, bends)
            if n < best:
                best = n
            else:
                item.children = kept
            if best == 0:
                break
        if best == 0:
            break
    _place_rows(items, wires, end, bends)


def _segments(w: Wire, bends: dict[int, float]) -> list[Segment]:
    """A wire as straight segments, as it will be drawn when nothing is in its way: the labelled
    stem, any run along the row (a long tree edge), and a line to each target's centre."""
    src, y = w.source, w.source.y
    sx, bx = stem_span(w, bends)
    out = [((sx, y), (bx, y))] if bx > sx else []
    for t in w.targets:
        if t.kind == "end":
            continue
        a = (bx, y)
        if t.col > src.col + 1 and any(c is src for c in t.children):
            a = (bends[t.col - 1], y)
            out.append(((bx, y), a))
        out.append((a, (t.x, t.y)))
    return out


def _count_crossings(wires: list[Wire], bends: dict[int, float]) -> int:
    """How many times segments of two different wires cross (see ``_segments`` and ``_crosses``).

    All pairs at once with NumPy (``_untangle`` counts once per try); two level segments never
    cross, so each pair has a slanted segment first.
    """
    owner, ends = [], []
    for i, w in enumerate(wires):
        for a, b in _segments(w, bends):
            owner.append(i)
            ends.append((*a, *b))
    seg = np.asarray(ends, dtype=np.float64).reshape(-1, 4)
    slanted = np.flatnonzero(seg[:, 1] != seg[:, 3])
    if len(slanted) == 0:
        return 0
    ax, ay, bx, by = (seg[slanted, k, None] for k in range(4))  # the slanted segment of each pair: rows
    cx, cy, dx, dy = (seg[None, :, k] for k in range(4))  # any segment: columns
    d1 = (dx - cx) * (ay - cy) - (dy - cy) * (ax - cx)
    d2 = (dx - cx) * (by - cy) - (dy - cy) * (bx - cx)
    d3 = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    d4 = (bx - ax) * (dy - ay) - (by - ay) * (dx - ax)
    wire = np.asarray(owner)
    level = seg[:, 1] == seg[:, 3]
    once = level[None, :] | (slanted[:, None] < np.arange(len(seg))[None, :])  # two slanted: count i < j only
    crossing = (d1 * d2 < 0) & (d3 * d4 < 0) & (wire[slanted, None] != wire[None, :]) & once
    return int(crossing.sum())


def _run_end(w: Wire, bends: dict[int, float]) -> float:
    """Where the horizontal part of a wire ends: its bend, further along its row for a long tree edge."""
    if w.targets[0].kind == "end":
        return w.targets[0].x
    x = bends[w.source.col]
    for t in w.targets:
        if t.col > w.source.col + 1 and any(c is w.source for c in t.children):
            x = max(x, bends[t.col - 1])
    return x


def _legs(w: Wire, bends: dict[int, float]) -> list[tuple[tuple[float, float], tuple[float, float]]]:
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


def _compact(items: list[Item], wires: list[Wire], bends: dict[int, float]) -> None:
    """Lift each input that enters its node from below as close under that node as there is room.

    The tree layout gives every leaf a row of its own; a later input (``tax``) can usually sit in
    the row just below its node, as in the book, when nothing else occupies that stretch of row
    and no arrow would cross its label or its own arrow.
    """
    parent: dict[int, Item] = {}
    for item in items:
        for c in item.children:
            parent[id(c)] = item
    out_wire = {id(w.source): w for w in wires}

    def span(item: Item) -> tuple[float, float]:
        w = out_wire.get(id(item))
        return item.x - item.left, max(item.x + item.right, _run_end(w, bends) if w else item.x)

    legs = {id(w): _legs(w, bends) for w in wires}
    by_row: dict[int, list[Item]] = {}
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
            if near(collect_obstacles(items), range(leaf.col + 1, p.col + 1), leg[0], leg[1], (leaf, p)):
                continue
            by_row[leaf.row].remove(leaf)
            by_row.setdefault(row, []).append(leaf)
            leaf.row, leaf.y = row, y
            legs[id(w)] = _legs(w, bends)
            break


def collect_obstacles(
    items: list[Item], wires: Sequence[Wire] = (), bends: dict[int, float] | None = None
) -> Obstacles:
    """What a slanted line should not cross, by column: nodes, leaf names and (given wires) edge labels.

    Each entry is ``(owner, box)``; an edge's labels belong to its source and sit in the gap right
    of the source's column.
    """
    out: Obstacles = {}
    for it in items:
        if it.kind == "op":
            box = (it.x - it.left - 6, it.y - it.half_h - 6, it.x + it.right + 6, it.y + it.half_h + 6)
        elif it.kind == "leaf":
            box = (it.x - it.left, it.y - 14, it.x + 4, it.y + 10)
        else:
            continue
        out.setdefault(it.col, []).append((it, box))
    for w in wires:
        x0, x1, y = *stem_span(w, bends), w.source.y
        mid = (x0 + x1) / 2
        for text, base in ((w.value_label, y - 9), (w.grad_label, y + 19)):
            if text:
                half = text_width(text, FONT) / 2
                out.setdefault(w.source.col, []).append((w.source, (mid - half, base - 12, mid + half, base + 4)))
    return out


def near(obstacles: Obstacles, cols: range, a: tuple[float, float], b: tuple[float, float], skip: tuple) -> bool:
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


def stem_span(w: Wire, bends: dict[int, float]) -> tuple[float, float]:
    """The x span of a wire's labelled stem: from its source to its bend (or to the output's end)."""
    src = w.source
    sx = src.x + (src.right if src.kind == "op" else 0.0)
    return sx, (w.targets[0].x if w.targets[0].kind == "end" else bends[src.col])
