"""The PNG renderer: primitives drawn with matplotlib's Agg canvas, and PNGDrawing, the bytes Jupyter shows inline.

matplotlib is imported inside ``render_png`` only (an optional heavy dependency), and only its
object API is used, so pyplot's global backend and state are never touched.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from chainrule._files import atomic_write
from chainrule.draw.primitives import Prim, bounds
from chainrule.draw.style import INK

__all__ = ["MAX_PNG_SIDE", "PNGDrawing", "render_png"]

MAX_PNG_SIDE = 16000  # pixels: a huge graph is drawn smaller rather than exceed what Agg can hold


class PNGDrawing(bytes):
    """PNG bytes of a drawn graph; displays inline in Jupyter (``_repr_png_``).

    Elsewhere its repr is one line naming its size, not the bytes; ``drawing.save(path)`` writes it.
    """

    def _repr_png_(self) -> bytes:
        return bytes(self)

    def __repr__(self) -> str:
        # The IHDR chunk: width and height, big-endian, at bytes 16-24 of every PNG.
        pixels = (
            f"{int.from_bytes(self[16:20], 'big')}x{int.from_bytes(self[20:24], 'big')} px, "
            if self[12:16] == b"IHDR"
            else ""
        )
        return f"<PNGDrawing {pixels}{len(self):,} bytes of PNG; .save(path) writes it>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython in a terminal
        p.text(repr(self))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the PNG to ``path`` atomically; returns the path."""
        return atomic_write(path, bytes(self))


def render_png(prims: list[Prim], dpi: int = 200) -> bytes:
    """PNG bytes drawing ``prims`` at ``dpi`` (lowered so that no side exceeds ``MAX_PNG_SIDE`` pixels)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, PathPatch
    from matplotlib.path import Path as MplPath

    x0, y0, x1, y1 = bounds(prims)
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
