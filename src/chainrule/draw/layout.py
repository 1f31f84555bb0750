"""Where everything goes: columns, rows, sizes and coordinates, then compaction of the inputs
that enter from below; and the obstacle geometry that compaction and edge routing both check.

Column = longest path from the inputs; row = a tidy tree layout that keeps each node level
with its first input (the book's main line) and brings the other inputs in from below. The inputs
of a non-commutative operation come in top to bottom in operand order: an arrow that would not
runs along a corridor between two rows. Where edges cross, the inputs of + and × are reordered,
and a variable used twice branches early, when doing so lowers the crossings.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chainrule.draw.labels import text_width
from chainrule.draw.scene import Item, Wire
from chainrule.draw.style import BEND, FONT, LABEL_PAD, MARGIN, MIN_STEM, RADIUS, ROW_H, SYMBOL_FONT, WORD_FONT

__all__ = [
    "UNTANGLE_LIMIT",
    "Box",
    "Obstacles",
    "choose_lane",
    "collect_obstacles",
    "corridor_points",
    "entry_angle",
    "lay_out",
    "near",
    "stem_span",
]

Box = tuple[float, float, float, float]  # x0, y0, x1, y1
Obstacles = dict[int, list[tuple[Item, Box]]]  # by column: (owner, box)
Segment = tuple[tuple[float, float], tuple[float, float]]
Lanes = dict[tuple[int, int], float]  # (id of a wire, id of a target) → the corridor, in rows (k + 0.5)


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
    # One exception keeps operand order: the first operand of a non-commutative operation, claimed
    # by an item further right but not placed yet, moves to that operation. In (x - y) / x, ÷
    # claims x first; left there, x would sit below y, and − would read y − x.
    claimer: dict[int, Item] = {id(end): end}
    stack: list[Item] = [end]
    while stack:
        item = stack.pop()
        kids = []
        ordered = item.kind == "op" and item.node.op not in COMMUTATIVE_OPS and len(item.producers) > 1
        for j, p in enumerate(item.producers):
            owner = claimer.get(id(p))
            movable = owner is not None and owner is not item and any(s is p for s in stack)
            if ordered and movable and j == 0:
                owner.children = [c for c in owner.children if c is not p]
                stack = [s for s in stack if s is not p]
                claimer[id(p)] = item
                kids.append(p)
            elif owner is None:
                claimer[id(p)] = item
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

    bends = _place_columns(items, wires)
    _place_rows(items, wires, end, bends)
    if len(items) <= UNTANGLE_LIMIT:
        _untangle(items, wires, end, bends)
        bends = _branch_early(items, wires, end, bends)
    return bends


def _place_columns(items: list[Item], wires: list[Wire]) -> dict[int, float]:
    """Each column's x from the widest item and edge label in it; sets each item's x, returns the bends."""
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
    return {c: xs[c] + right[c] + stem[c] for c in range(n_cols)}


def _place_rows(
    items: list[Item], wires: list[Wire], end: Item, bends: dict[int, float], lanes: Lanes | None = None
) -> None:
    """Rows from the tree (each item level with its first child, later children below), then
    compaction, then the corridors (those that operand order needs, and the arrows in ``lanes``)."""
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
    for w in wires:
        w.corridors, w.entry_angles = {}, {}
    _compact(items, wires, bends)
    _set_corridors(items, wires, bends, lanes or {})


def _set_corridors(items: list[Item], wires: list[Wire], bends: dict[int, float], lanes: Lanes) -> None:
    """Send an input along a corridor between two rows where coming in straight would break
    operand order (a non-commutative operation's inputs enter top to bottom in operand order), and
    each arrow in ``lanes`` along the corridor given there, where that keeps operand order.

    Order is what a reader sees: the angle at which each arrow comes in (see ``entry_angle``).
    Tree children come in order (they are placed in operand order); a variable claimed by another
    user may not. In ``x - y/x``, ``x`` sits on −'s row above ``y``; its arrow into ÷ runs along
    the corridor below ÷'s row and comes in from below. Straight arrows that stay get the angles
    they must keep (``Wire.entry_angles``) for routing around obstacles.
    """
    out_wire = {id(w.source): w for w in wires}
    n_rows = max(it.row for it in items) + 1
    for u in items:
        if u.kind != "op":
            continue
        ps = u.producers
        ordered = u.node.op not in COMMUTATIVE_OPS
        tree = [any(c is p for c in u.children) for p in ps]
        entry = [entry_angle(_leg_start(p, u, bends, tree[j]), u) for j, p in enumerate(ps)]
        for j, p in enumerate(ps):
            w = out_wire[id(p)]
            asked = lanes.get((id(w), id(u)))
            if tree[j] or not (ordered or asked is not None):
                continue
            lo, hi = -np.inf, np.inf
            if ordered:
                lo = max((entry[k] for k in range(j) if ps[k] is not p), default=lo)
                hi = min((entry[k] for k in range(j + 1, len(ps)) if ps[k] is not p), default=hi)
            if asked is not None and lo < entry_angle(lane_end(p, u, asked, bends), u) < hi:
                lane = asked
            elif lo < entry[j] < hi:
                w.entry_angles[id(u)] = (lo, hi)
                continue
            else:
                lane = choose_lane(p, u, bends, (lo, hi), u.row + (0.5 if entry[j] <= lo else -0.5), n_rows)
                if lane is None:
                    continue
            entry[j] = entry_angle(lane_end(p, u, lane, bends), u)
            w.corridors[id(u)] = MARGIN + 28 + lane * ROW_H


def entry_angle(a: tuple[float, float], t: Item) -> float:
    """The direction a straight line from ``a`` comes into ``t``: 0 level, negative from above,
    positive from below. Inputs of a non-commutative operation come in with increasing angles."""
    return float(np.arctan2(a[1] - t.y, t.x - a[0]))


def _leg_start(p: Item, t: Item, bends: dict[int, float], tree_edge: bool) -> tuple[float, float]:
    """Where the straight last leg of the arrow from ``p`` into ``t`` starts (see ``_segments``)."""
    if tree_edge and t.col > p.col + 1:
        return bends[t.col - 1], p.y
    return bends[p.col], p.y


def lane_end(p: Item, t: Item, lane: float, bends: dict[int, float]) -> tuple[float, float]:
    """Where an arrow from ``p`` along the corridor ``lane`` (in rows) leaves it to go into ``t``."""
    return corridor_points((bends[p.col], p.y), t, MARGIN + 28 + lane * ROW_H, bends)[-1]


def choose_lane(
    p: Item, t: Item, bends: dict[int, float], angles: tuple[float, float], prefer: float, n_rows: int
) -> float | None:
    """The corridor (in rows, k + 0.5) nearest ``prefer`` whose arrow into ``t`` comes in between
    ``angles`` (exclusive); None where none does."""
    lo, hi = angles
    for lane in sorted((k + 0.5 for k in range(-1, n_rows)), key=lambda k: abs(k - prefer)):
        if lo < entry_angle(lane_end(p, t, lane, bends), t) < hi:
            return lane
    return None


def corridor_points(
    a: tuple[float, float], t: Item, lane_y: float, bends: dict[int, float]
) -> list[tuple[float, float]]:
    """The bends of an arrow from ``a`` into ``t`` along the corridor at ``lane_y``: down (or up)
    into it just after ``a``, along it to just past the column before ``t``; then it goes in."""
    drop = (a[0] + 12, lane_y)
    return [drop, (max(drop[0], bends[t.col - 1] + 12), lane_y)]


def _untangle(items: list[Item], wires: list[Wire], end: Item, bends: dict[int, float]) -> None:
    """Reorder the inputs of + and × where that removes crossing edges.

    Why edges cross: a variable used twice is claimed by its first user, and that user's other
    inputs take the rows below it; when the variable's later use lies further down, the branch to
    it crosses them (``x*y - x**3``: ``y`` sits between ``x`` and ``x**3``, and the arrow from
    ``x`` down to ``^`` crosses ``y``'s). Moving the shared input, with its subtree, after its
    siblings puts it next to the later use: ``y`` takes ``×``'s row and ``x`` comes in from below,
    between ``×`` and ``^`` (for ÷ that would read y/x; see ``_branch_early``). Each node's inputs
    are tried in turn, each move after its siblings;
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


MAX_BRANCH_TRIES = 400


def _branch_early(items: list[Item], wires: list[Wire], end: Item, bends: dict[int, float]) -> dict[int, float]:
    """Let a variable used twice branch before the inputs next to it, where that removes crossings.

    ``x/y - x**3``: ``x`` feeds ÷ on its row and ^ two rows down, and ``y`` comes into ÷ from the
    row in between, so the branch from ``x`` down to ``^`` crosses ``y``'s arrow. Operand order
    forbids swapping ``x`` and ``y``; instead ``x`` moves one column left, and its branch runs down
    to the corridor above ``^``'s row just after it, left of ``y``, along it and into ``^`` from
    above (``y`` rises to ÷ right of the branch). Each branch of a variable used twice tries each
    corridor, with and without the move; a try is kept only when it lowers the number of
    crossings, so a drawing without crossings stays as it is. At most ``MAX_BRANCH_TRIES`` tries
    (each lays out the whole graph once): a book-sized graph needs a few dozen, and a 100-node
    expression whose variable feeds 50 nodes still draws in about a second. Returns the bends.
    """
    best = _count_crossings(wires, bends)
    tries = 0
    out_wire = {id(w.source): w for w in wires}
    parent = {id(c): it for it in items for c in it.children}
    n_rows = max(it.row for it in items) + 1
    lanes: Lanes = {}
    for leaf in items:
        w = out_wire.get(id(leaf))
        if best == 0 or leaf.kind != "leaf" or w is None or len({id(t) for t in w.targets}) < 2:
            continue
        for t in w.targets:
            if t.kind != "op" or t is parent.get(id(leaf)) or best == 0 or tries >= MAX_BRANCH_TRIES:
                continue
            for move in (False, True):
                cols = [it.col for it in items]
                if move:
                    if leaf.col == 0:
                        for it in items:
                            it.col += 1
                    leaf.col -= 1
                tried_bends = _place_columns(items, wires)
                for lane in [None, *(k + 0.5 for k in range(-1, n_rows))]:
                    tries += 1
                    tried = dict(lanes)
                    if lane is not None:
                        tried[(id(w), id(t))] = lane
                    _place_rows(items, wires, end, tried_bends, tried)
                    n = _count_crossings(wires, tried_bends)
                    if n < best:
                        best, lanes, bends, cols = n, tried, tried_bends, [it.col for it in items]
                for it, c in zip(items, cols, strict=True):
                    it.col = c
    _place_columns(items, wires)
    _place_rows(items, wires, end, bends, lanes)
    return bends


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
        lane = w.corridors.get(id(t))
        if lane is not None:
            drop, run = corridor_points(a, t, lane, bends)
            out += [(a, drop), (drop, run), (run, (t.x, t.y))]
            continue
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
