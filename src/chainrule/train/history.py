"""The training history on disk: ``history.csv`` (written and read back) and ``curves.png``."""

from __future__ import annotations

import csv
import html
import io
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule._files import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "ACC_TOP",
    "HISTORY_FIELDS",
    "History",
    "MARKER_LIMIT",
    "history_figure",
    "plot_history",
    "prefetch_plotting",
    "read_history_csv",
    "smooth_curve",
    "write_history_csv",
]

#: Columns of a history row (and of ``history.csv``), in order.
HISTORY_FIELDS: tuple[str, ...] = (
    "epoch",
    "iteration",
    "loss",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "lr",
    "seconds",
)


def write_history_csv(path: str | os.PathLike[str], history: Sequence[Mapping[str, Any]]) -> Path:
    """Write the history rows as CSV (columns :data:`HISTORY_FIELDS`, then any others), atomically."""
    fields = list(HISTORY_FIELDS)
    for row in history:
        fields.extend(k for k in row if k not in fields)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k, "") for k in fields})
    return atomic_write(path, buf.getvalue().encode("utf-8"))


def read_history_csv(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a ``history.csv``: ``iteration`` as int, ``epoch`` as int when whole, every
    other non-empty field as float (empty fields are left out)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = []
        for raw in csv.DictReader(f):
            row: dict[str, Any] = {}
            for key, text in raw.items():
                if text in ("", None):
                    continue
                value = float(text)
                row[key] = int(value) if key == "iteration" or (key == "epoch" and value.is_integer()) else value
            rows.append(row)
    return rows


class History(list):
    """The rows of a training run (``Trainer.history``): a list of dicts, one per epoch, keyed by
    :data:`HISTORY_FIELDS`; in Jupyter it displays as a table (the first and last 10 rows of a long run)."""

    #: The columns the table shows, in order (loss is the epoch's mean mini-batch loss).
    SHOWN: tuple[str, ...] = ("epoch", "iteration", "loss", "train_acc", "test_acc", "test_loss", "lr", "seconds")

    def _repr_html_(self) -> str:
        if not self:
            return "<p>History: no epoch finished yet</p>"
        columns = [c for c in self.SHOWN if any(c in row for row in self)]

        def cell(value: Any) -> str:
            if isinstance(value, float) and not float(value).is_integer():
                return f"{value:.4g}" if abs(value) < 1e-3 else f"{value:.4f}"
            return html.escape(str(value))

        rows = list(enumerate(self))
        if len(rows) > 20:
            rows = [*rows[:10], None, *rows[-10:]]
        head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in columns)
        body = "".join(
            f"<tr><td colspan='{len(columns)}'>… {len(self) - 20} more …</td></tr>"
            if item is None
            else "<tr>" + "".join(f"<td>{cell(item[1].get(c, ''))}</td>" for c in columns) + "</tr>"
            for item in rows
        )
        best = max(self, key=lambda r: r.get("test_acc", float("-inf")))
        caption = f"{len(self)} epochs; best test acc {best.get('test_acc', float('nan')):.4f} at epoch {best['epoch']}"
        table = f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
        return f"<table><caption>{html.escape(caption)}</caption>{table}</table>"


#: Up to this many epochs each point gets a marker; a longer run is drawn as plain lines.
MARKER_LIMIT = 30

#: The accuracy axis runs to a little above 1, so that an accuracy of 1.0 is not hidden by the frame.
ACC_TOP = 1.02


def history_figure(history: Sequence[Mapping[str, Any]], *, title: str = "") -> Figure:
    """The book's two training plots as one matplotlib ``Figure``: loss per epoch, and train/test accuracy.

    Runs of up to :data:`MARKER_LIMIT` epochs mark every point; longer runs are plain lines (hundreds
    of markers would hide the curve). The accuracy axis spans 0 to :data:`ACC_TOP`, ticks up to 1.
    The figure has an Agg canvas of its own (no pyplot, so no global backend is changed).
    """
    import matplotlib.figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not history:
        raise ValueError("plot_history: the history is empty (no epoch finished)")
    epochs = [row["epoch"] for row in history]
    markers = len(history) <= MARKER_LIMIT
    solid = {"marker": "o"} if markers else {}
    dashed = {"marker": "s", "linestyle": "--"} if markers else {"linestyle": "--"}
    fig = matplotlib.figure.Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, [row["loss"] for row in history], label="training mini-batches", **solid)
    if all("test_loss" in row for row in history):
        ax_loss.plot(epochs, [row["test_loss"] for row in history], label="test", **dashed)
    ax_loss.set_xlabel("epochs")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_acc.plot(epochs, [row["train_acc"] for row in history], label="train", **solid)
    ax_acc.plot(epochs, [row["test_acc"] for row in history], label="test", **dashed)
    ax_acc.set_xlabel("epochs")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, ACC_TOP)
    ax_acc.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax_acc.legend(loc="lower right")
    if title:
        fig.suptitle(title)
    return fig


def prefetch_plotting() -> threading.Thread:
    """Import matplotlib's figure and Agg canvas in a background thread (started, returned).

    A run folder draws ``curves.png`` when training ends; importing matplotlib costs about
    0.4 s, which a run spends while its first epoch trains instead of after its last one
    (training steps hold the interpreter only between their matrix products). Importing is
    safe from two threads at once: ``plot_history`` waits for a module still being imported.
    """

    def load() -> None:
        try:
            import matplotlib.figure  # noqa: F401
            from matplotlib.backends import backend_agg  # noqa: F401
        except Exception:  # noqa: BLE001 (plot_history, in the main thread, reports what is wrong)
            pass

    thread = threading.Thread(target=load, name="chainrule-prefetch-matplotlib", daemon=True)
    thread.start()
    return thread


def plot_history(history: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Save :func:`history_figure` as a PNG at ``path`` (atomically); returns the path."""
    fig = history_figure(history, title=title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return atomic_write(path, buf.getvalue())


def smooth_curve(x: Any, window: int = 11) -> np.ndarray:
    """A noisy curve (per-iteration losses) smoothed for plotting, as the book's ``smooth_curve``.

    A Kaiser window (β = 2) of ``window`` points, normalised to sum 1, slides over the curve
    mirrored at both ends; the result has x's length (for ``window`` = 11, the book's).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.shape[0] < window:
        raise ValueError(f"smooth_curve: expected a 1-D curve of at least {window} points, got shape {x.shape}")
    mirrored = np.concatenate([x[window - 1 : 0 : -1], x, x[-1:-window:-1]])
    weights = np.kaiser(window, 2)
    smooth = np.convolve(weights / weights.sum(), mirrored, mode="valid")
    half = window // 2
    return smooth[half : len(smooth) - half]
