"""Progress displays for front ends: tqdm bars driven by what the library reports.

The library itself never draws. :class:`~chainrule.train.Trainer` calls its callbacks
(``on_fit_start``, ``on_batch_end``, ``on_epoch_end``, ``on_fit_end``) and a download calls the
``progress`` factory it was given; the displays here are the standard ones those hooks can
drive. The CLI picks them (``chainrule train`` shows a bar unless ``--no-progress``); in Python
``Trainer(..., progress=True)`` and ``load_mnist(progress=True)`` ask for them. tqdm is
imported only when a bar is made.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["BAR_EVERY", "ProgressBar", "download_bar"]

#: The training bar is advanced every this many steps: tqdm's call per step would cost more
#: than the rest of the loop's bookkeeping together.
BAR_EVERY = 20


class ProgressBar:
    """A Trainer callback that shows a tqdm bar of training steps on stderr.

    The bar counts steps (``initial`` is where a resumed run starts), shows the last epoch's
    loss and test accuracy, and is closed when ``fit`` ends, however it ends.
    """

    def __init__(self, *, desc: str = "train", file: Any = None) -> None:
        self.desc = desc
        self.file = file
        self._bar: Any = None
        self._pending = 0

    def on_fit_start(self, trainer: Any) -> None:
        from tqdm import tqdm

        self._pending = 0
        self._bar = tqdm(
            total=trainer.total_iters,
            initial=trainer.iteration,
            unit="it",
            desc=self.desc,
            leave=False,
            dynamic_ncols=True,
            mininterval=0.25,
            file=self.file if self.file is not None else sys.stderr,
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
