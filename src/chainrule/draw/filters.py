"""The first layer's filters as an image grid, the book's figure 7-24 (before and after training).

Each filter is drawn as a small grayscale image (``gray_r``: larger weights darker, as the
book's ``visualize_filter.py``), scaled on its own, with nearest-neighbour pixels. Several sets
(e.g. before and after training) are drawn as labelled panels one above the other.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from chainrule._checks import check_int
from chainrule._files import atomic_write
from chainrule.draw.png import PNGDrawing

__all__ = ["draw_filters"]


def _as_filters(value: Any, label: str) -> np.ndarray:
    w = np.asarray(value)
    if w.ndim != 4 or w.dtype.kind not in "fiu" or w.shape[0] == 0:
        raise ValueError(
            f"draw_filters: {label} must be convolution filters of shape (FN, C, FH, FW), got shape {w.shape}, "
            f"dtype {w.dtype}"
        )
    return w


def draw_filters(
    filters: Any,
    *,
    path: str | os.PathLike[str] | None = None,
    columns: int = 8,
    channel: int = 0,
    title: str | None = None,
    dpi: int = 100,
) -> PNGDrawing:
    """Draw convolution filters (FN, C, FH, FW) as a grid of small images; returns PNG bytes.

    ``filters`` is one array or a mapping label → array (one panel each, e.g. ``{"before
    training": W0, "after training": W1}``). Each filter shows its ``channel`` (the book shows
    channel 0). ``columns`` filters per row; ``path`` also writes the PNG (atomically). The
    result displays inline in Jupyter.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = dict(filters) if isinstance(filters, Mapping) else {"": filters}
    if not panels:
        raise ValueError("draw_filters: no filters given")
    panels = {label: _as_filters(w, repr(label) if label else "filters") for label, w in panels.items()}
    columns = check_int(columns, "columns", "draw_filters")
    channel = check_int(channel, "channel", "draw_filters", minimum=0)
    for label, w in panels.items():
        if channel >= w.shape[1]:
            raise ValueError(
                f"draw_filters: channel {channel} does not exist; {label or 'the filters'} have {w.shape[1]}"
            )
    grid = {label: (min(columns, w.shape[0]), math.ceil(w.shape[0] / columns)) for label, w in panels.items()}
    width = max(nx for nx, _ in grid.values())
    heading = 0.45 if any(panels) else 0.0
    top = 0.45 if title else 0.0
    ratios = ([top] if title else []) + [ny + heading for _, ny in grid.values()]
    fig = Figure(figsize=(0.9 * width, 0.9 * sum(ratios) + 0.1), facecolor="white")
    FigureCanvasAgg(fig)
    sub = fig.subfigures(len(ratios), 1, height_ratios=ratios, squeeze=False)[:, 0]
    if title:
        sub[0].suptitle(title, fontsize=12, y=0.5, va="center")
        sub = sub[1:]
    for (label, w), panel in zip(panels.items(), sub, strict=True):
        nx, ny = grid[label]
        if label:
            panel.suptitle(label, fontsize=11)
        axes = panel.subplots(ny, width, squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.set_axis_off()
            if i < w.shape[0]:
                ax.imshow(w[i, channel], cmap="gray_r", interpolation="nearest")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    drawing = PNGDrawing(buf.getvalue())
    if path is not None:
        atomic_write(path, bytes(drawing))
    return drawing
