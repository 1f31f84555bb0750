"""The drawing as primitives (paths, circles, boxes, dots, texts) shared by the SVG and matplotlib
renderers: each wire routed around what is in its way, then the nodes and labels, and their bounds."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chainrule.draw.labels import text_width
from chainrule.draw.layout import Obstacles, choose_lane, collect_obstacles, corridor_points, near, stem_span
from chainrule.draw.scene import Item, Wire
from chainrule.draw.style import CONSTANT_INK, FONT, GRAD_COLOR, INK, MARGIN, RADIUS, ROW_H

__all__ = ["Prim", "bounds", "to_primitives"]


@dataclass
class Prim:
    """One shape in layout pixels; which fields matter depends on ``kind``."""

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
    # What the shape shows, for the interactive page (see ``draw.html``): "v3" / "g3" wire 3's value /
    # gradient label, "e3" its stem, "e3-5" its arrow into item 5, "n5" item 5's shapes and text.
    tag: str = ""


def _boundary(item: Item, frm: tuple[float, float]) -> tuple[float, float]:
    """Where a line from ``frm`` towards the item's centre meets its outline."""
    dx, dy = item.x - frm[0], item.y - frm[1]
    if item.shape == "none" or (dx == 0 and dy == 0):
        return item.x, item.y
    if item.shape == "circle":
        d = (dx * dx + dy * dy) ** 0.5
        return item.x - RADIUS * dx / d, item.y - RADIUS * dy / d
    s = min(item.left / abs(dx) if dx else np.inf, item.half_h / abs(dy) if dy else np.inf)
    return item.x - dx * s, item.y - dy * s


def _route(
    pts: list[tuple[float, float]],
    t: Item,
    src: Item,
    obstacles: Obstacles,
    bends: dict[int, float],
    angles: tuple[float, float],
    n_rows: int,
) -> list[tuple[float, float]]:
    """The path from the end of ``pts`` into ``t``: straight when nothing is in the way, else
    around, coming in between ``angles`` (exclusive, see ``entry_angle``) so that operand order holds."""
    a = pts[-1]
    tip = _boundary(t, a)
    cols = range(src.col, t.col + 1)
    if not near(obstacles, cols, a, tip, (src, t)):
        return [*pts, tip]
    # Something lies on the straight line: drop to the target's row first, then go in level.
    lo, hi = angles
    via = (t.x - t.left - 16, t.y)
    if lo < 0 < hi and via[0] > a[0] and not near(obstacles, cols, a, via, (src, t)):
        return [*pts, via, (t.x - t.left, t.y)]
    # Last resort: along the free gap, then the empty corridor between two rows, then in.
    lane = choose_lane(src, t, bends, angles, t.row - 0.5 if t.y > a[1] else t.row + 0.5, n_rows)
    if lane is None:
        lane = t.row - 0.5 if t.y > a[1] else t.row + 0.5
    drop, run = corridor_points(a, t, t.y + (lane - t.row) * ROW_H, bends)
    return [*pts, drop, run, _boundary(t, run)]


def to_primitives(items: list[Item], wires: list[Wire], bends: dict[int, float]) -> list[Prim]:
    """The primitives of a laid-out scene (see ``lay_out``): wires with their labels first, then the items."""
    prims: list[Prim] = []
    obstacles = collect_obstacles(items, wires, bends)
    n_rows = max(it.row for it in items) + 1
    index = {id(it): i for i, it in enumerate(items)}
    for wi, w in enumerate(wires):
        src = w.source
        y = src.y
        sx, bx = stem_span(w, bends)
        stem = [(sx, y), (bx, y)]
        single = len(w.targets) == 1
        mid = (sx + bx) / 2
        if w.value_label:
            prims.append(Prim("text", x=mid, y=y - 9, text=w.value_label, tag=f"v{wi}"))
        if w.grad_label:
            prims.append(Prim("text", x=mid, y=y + 19, text=w.grad_label, color=GRAD_COLOR, tag=f"g{wi}"))
        if not single:
            prims.append(Prim("path", points=stem, tag=f"e{wi}"))
            prims.append(Prim("dot", x=bx, y=y, w=3.2, tag=f"e{wi}"))
        repeats: dict[int, int] = {}
        for t in w.targets:
            k = repeats.get(id(t), 0)
            repeats[id(t)] = k + 1
            total = w.targets.count(t)
            pts = list(stem) if single else [(bx, y)]
            if t.kind == "end":
                prims.append(Prim("path", points=[*pts[:-1], (t.x, t.y)], arrow=True, tag=f"e{wi}-{index[id(t)]}"))
                continue
            lane = w.corridors.get(id(t))
            if lane is not None:  # comes in from the side operand order asks for (see lay_out)
                drop, run = corridor_points(pts[-1], t, lane, bends)
                route = [*pts, drop, run, _boundary(t, run)]
            else:
                if t.col > src.col + 1 and any(c is src for c in t.children):
                    pts.append((bends[t.col - 1], y))  # a tree edge: its row is free up to the target's column
                angles = w.entry_angles.get(id(t), (-np.inf, np.inf))
                route = _route(pts, t, src, obstacles, bends, angles, n_rows)
            if total > 1:  # the same variable twice into one node (x * x): parallel arrows 10 px apart
                (ux, uy), (vx, vy) = route[-2], route[-1]
                d = ((vx - ux) ** 2 + (vy - uy) ** 2) ** 0.5 or 1.0
                off = (k - (total - 1) / 2) * 10.0
                px, py = -(vy - uy) / d * off, (vx - ux) / d * off
                route = [*route[:-2], (ux + px, uy + py), (vx + px, vy + py)]
            prims.append(Prim("path", points=route, arrow=True, tag=f"e{wi}-{index[id(t)]}"))
    for ii, item in enumerate(items):
        if item.kind == "leaf":
            const = item.var is not None and item.var.is_constant
            prims.append(
                Prim(
                    "text",
                    x=item.x - 7,
                    y=item.y + 5,
                    text=item.label,
                    anchor="end",
                    color=CONSTANT_INK if const else INK,
                    italic=const,
                    tag=f"n{ii}",
                )
            )
        elif item.kind == "end":
            if item.label:
                prims.append(Prim("text", x=item.x + 7, y=item.y + 5, text=item.label, anchor="start", tag=f"n{ii}"))
        else:
            if item.shape == "circle":
                prims.append(Prim("circle", x=item.x, y=item.y, w=RADIUS, tag=f"n{ii}"))
            else:
                box = Prim("box", x=item.x - item.left, y=item.y - item.half_h, w=2 * item.left, h=2 * item.half_h)
                box.tag = f"n{ii}"
                prims.append(box)
            prims.append(
                Prim("text", x=item.x, y=item.y + item.font * 0.36, text=item.label, size=item.font, tag=f"n{ii}")
            )
    return prims


def bounds(prims: list[Prim]) -> tuple[float, float, float, float]:
    """The drawing's extent with a margin all round: x0, y0, x1, y1."""
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
            w = text_width(p.text, p.size)
            x0 = p.x - (w if p.anchor == "end" else w / 2 if p.anchor == "middle" else 0)
            xs += [x0, x0 + w]
            ys += [p.y - p.size, p.y + 0.3 * p.size]
    return min(xs) - MARGIN, min(ys) - MARGIN, max(xs) + MARGIN, max(ys) + MARGIN
