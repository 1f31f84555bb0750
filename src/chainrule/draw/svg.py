"""The SVG renderer: primitives written as SVG text, and SVGDrawing, the str Jupyter shows inline."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chainrule._files import atomic_write
from chainrule.draw.primitives import Prim, bounds
from chainrule.draw.style import FONT, FONT_FAMILY, INK

__all__ = ["SVGDrawing", "render_svg"]


class SVGDrawing(str):
    """SVG text of a drawn graph; displays inline in Jupyter (``_repr_svg_``).

    Elsewhere (a terminal, IPython in a terminal) its repr is one line naming its size, not the
    text; ``str(drawing)`` is the SVG and ``drawing.save(path)`` writes it.
    """

    def _repr_svg_(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        size = re.search(r'<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"', self[:1000])
        pixels = f"{size.group(1)}x{size.group(2)} px, " if size else ""
        return f"<SVGDrawing {pixels}{len(self.encode()):,} bytes of SVG; .save(path) writes it>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython in a terminal
        p.text(repr(self))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the SVG to ``path`` atomically (UTF-8); returns the path."""
        return atomic_write(path, self.encode())


def _collinear(pts: list[tuple[float, float]]) -> bool:
    """Are three points on one line (the middle one adds nothing to a path)?"""
    (ax, ay), (bx, by), (cx, cy) = pts
    return abs((bx - ax) * (cy - ay) - (by - ay) * (cx - ax)) < 1e-6


def _svg_path(p: Prim) -> str:
    pts = [
        q for i, q in enumerate(p.points) if not 0 < i < len(p.points) - 1 or not _collinear(p.points[i - 1 : i + 2])
    ]
    return f"M{pts[0][0]:.1f},{pts[0][1]:.1f} " + " ".join(f"L{x:.1f},{y:.1f}" for x, y in pts[1:])


def render_svg(
    prims: list[Prim],
    title: str,
    *,
    attrs: Callable[[Prim], str] | None = None,
    marker_id: str = "chainrule-arrow",
) -> str:
    """SVG text (one element a line, newline-terminated) drawing ``prims``, with ``title`` as its title.

    ``attrs(prim)``, when given, adds attributes to each element (text starting with a space:
    the interactive page's ``data-at``); ``marker_id`` is the arrowhead's id, unique per drawing
    where several share one HTML page.
    """
    extra: Callable[[Prim], str] = attrs or (lambda p: "")
    x0, y0, x1, y1 = bounds(prims)
    width, height = x1 - x0, y1 - y0
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="{x0:.1f} {y0:.1f} {width:.1f} {height:.1f}" font-family="{FONT_FAMILY}" font-size="{FONT:g}">',
        f"<title>{html.escape(title)}</title>",
        "<defs>",
        f'<marker id="{marker_id}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" markerHeight="9" '
        f'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{INK}"/></marker>',
        "</defs>",
        f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{width:.1f}" height="{height:.1f}" fill="white"/>',
    ]
    for p in prims:
        if p.kind == "path":
            marker = f' marker-end="url(#{marker_id})"' if p.arrow else ""
            out.append(f'<path d="{_svg_path(p)}" fill="none" stroke="{INK}" stroke-width="1.4"{marker}{extra(p)}/>')
        elif p.kind == "circle":
            out.append(
                f'<circle cx="{p.x:.1f}" cy="{p.y:.1f}" r="{p.w:.1f}" fill="white" stroke="{INK}" stroke-width="1.6"'
                f"{extra(p)}/>"
            )
        elif p.kind == "box":
            out.append(
                f'<rect x="{p.x:.1f}" y="{p.y:.1f}" width="{p.w:.1f}" height="{p.h:.1f}" rx="12" fill="white" '
                f'stroke="{INK}" stroke-width="1.6"{extra(p)}/>'
            )
        elif p.kind == "dot":
            out.append(f'<circle cx="{p.x:.1f}" cy="{p.y:.1f}" r="{p.w:.1f}" fill="{INK}"{extra(p)}/>')
        else:
            style = ' font-style="italic"' if p.italic else ""
            size = f' font-size="{p.size:g}"' if p.size != FONT else ""
            out.append(
                f'<text x="{p.x:.1f}" y="{p.y:.1f}" text-anchor="{p.anchor}" fill="{p.color}"{size}{style}{extra(p)}>'
                f"{html.escape(p.text, quote=False)}</text>"
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"
