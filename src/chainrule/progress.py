"""Progress displays for front ends: tqdm bars and per-epoch lines driven by what the library reports.

The library itself never draws. :class:`~chainrule.train.Trainer` calls its callbacks
(``on_fit_start``, ``on_batch_end``, ``on_epoch_end``, ``on_fit_end``) and a download calls the
``progress`` factory it was given; the displays here are the standard ones those hooks can
drive. ``Trainer.fit(verbose=1)`` shows :class:`ProgressBar` and :class:`EpochLog` (``2``: the
lines only); the CLI picks the same (``chainrule train`` shows both, ``--no-progress`` the lines,
``--quiet`` neither).

A bar is drawn only where someone watches: on a terminal, or in a Jupyter notebook, where
``tqdm.auto`` draws a widget. On anything else (a CI log, a pipe, a file) the bar draws nothing,
so no carriage-return frames end up in logs; the per-epoch lines are the record there. A
finished bar stays on screen at 100%. tqdm is imported only when a bar is made.
"""

from __future__ import annotations

import math
import sys
from typing import Any

__all__ = ["BAR_EVERY", "EpochLog", "ProgressBar", "download_bar", "epoch_line", "in_notebook", "watched"]

#: The training bar is advanced every this many steps: tqdm's call per step would cost more
#: than the rest of the loop's bookkeeping together.
BAR_EVERY = 20


def in_notebook() -> bool:
    """True inside a Jupyter kernel (notebook, JupyterLab, VS Code), where tqdm.auto draws widgets."""
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:  # pragma: no cover - a broken IPython install
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def watched(file: Any = None) -> bool:
    """Does someone watch ``file`` (default stderr) draw: a terminal, or a notebook's own stream?"""
    stream = sys.stderr if file is None else file
    if file is None and in_notebook():
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False


def _tqdm_class(file: Any) -> Any:
    """The notebook widget bar in Jupyter (when it draws on the notebook's own output), else tqdm's text bar."""
    if file is None and in_notebook():
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm


class ProgressBar:
    """A Trainer callback that shows a tqdm bar of training steps.

    The bar counts steps (``initial`` is where a resumed run starts), shows the last epoch's
    loss and test accuracy, is closed when ``fit`` ends however it ends, and stays on screen.
    ``file``: where it draws (default stderr, or the notebook's widget area). ``enabled``:
    ``None`` (the default) draws only where someone watches (:func:`watched`), ``True``
    always, ``False`` never.
    """

    def __init__(self, *, desc: str = "train", file: Any = None, enabled: bool | None = None) -> None:
        self.desc = desc
        self.file = file
        self.enabled = enabled
        self._bar: Any = None
        self._pending = 0

    @property
    def active(self) -> bool:
        """Is a bar being drawn now (between ``on_fit_start`` and ``on_fit_end``)?"""
        return self._bar is not None

    def on_fit_start(self, trainer: Any) -> None:
        self._pending = 0
        if not (self.enabled if self.enabled is not None else watched(self.file)):
            return
        tqdm = _tqdm_class(self.file)
        options = {} if self.file is None and in_notebook() else {"file": self.file or sys.stderr}
        self._bar = tqdm(
            total=trainer.total_iters,
            initial=trainer.iteration,
            unit="it",
            desc=self.desc,
            leave=True,
            dynamic_ncols=True,
            mininterval=0.25,
            **options,
        )

    def on_batch_end(self, trainer: Any, iteration: int, loss: float) -> None:
        self._pending += 1
        if self._pending == BAR_EVERY and self._bar is not None:
            self._bar.update(BAR_EVERY)
            self._pending = 0

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        if self._bar is None:
            return
        self._flush()
        self._bar.set_postfix(
            epoch=row["epoch"], loss=f"{row['loss']:.4f}", test_acc=f"{row['test_acc']:.4f}", refresh=False
        )

    def on_fit_end(self, trainer: Any) -> None:
        if self._bar is not None:
            self._flush()
            self._bar.close()
            self._bar = None

    def _flush(self) -> None:
        if self._pending:
            self._bar.update(self._pending)
            self._pending = 0


def epoch_line(trainer: Any, row: dict[str, Any]) -> str:
    """One epoch's row as the line ``chainrule train`` prints:
    ``epoch  3/20  iter  1800  loss 0.2715  train acc 0.9246  test acc 0.9251  1.2s``."""
    total_iters = trainer.total_iters
    total = math.ceil(total_iters / trainer.iters_per_epoch)
    return (
        f"epoch {row['epoch']:>{len(str(total))}g}/{total}  iter {row['iteration']:>{len(str(total_iters))}}  "
        f"loss {row['loss']:.4f}  train acc {row['train_acc']:.4f}  test acc {row['test_acc']:.4f}  "
        f"{row['seconds']:.1f}s"
    )


class EpochLog:
    """A Trainer callback that prints one line per epoch (:func:`epoch_line`), Keras' ``verbose=2`` record.

    ``file``: default stdout. While a :class:`ProgressBar` of the same trainer is drawing, the
    line is written above the bar (``tqdm.write``) instead of through it.
    """

    def __init__(self, *, file: Any = None) -> None:
        self.file = file

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        line = epoch_line(trainer, row)
        out = self.file if self.file is not None else sys.stdout
        if any(isinstance(cb, ProgressBar) and cb.active for cb in getattr(trainer, "callbacks", ())):
            from tqdm import tqdm

            tqdm.write(line, file=out)
        else:
            print(line, file=out)
        out.flush()


def download_bar(name: str, total: int | None) -> Any:
    """A tqdm bar of bytes on stderr for downloading ``name`` (``total`` bytes, if known).

    The ``progress`` factory of the data set loaders: it returns an object with
    ``update(n_bytes)`` and ``close()``.
    """
    from tqdm import tqdm

    class _Bar(tqdm):  # type: ignore[misc, valid-type]
        # No monitor thread: it would outlive the download (a subclass attribute, so tqdm's own
        # setting for everyone else is left alone).
        monitor_interval = 0

    return _Bar(total=total, desc=name, unit="B", unit_scale=True, unit_divisor=1024, leave=False)
