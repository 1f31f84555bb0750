"""Trainer callbacks: how training reports its progress to whoever is listening.

The library never prints or draws while it trains; it calls these hooks, and a front end
decides what to show (the CLI prints one line per epoch and shows a tqdm bar,
:class:`chainrule.progress.ProgressBar`). A callback is any object with some of the hook
methods; :class:`Callback` is a convenient base whose hooks do nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Callback", "EpochEndFunction", "hooks_of"]


class Callback:
    """Base class for Trainer callbacks; override the hooks you need.

    - ``on_fit_start(trainer)``: ``fit()`` begins (on a resumed trainer too);
    - ``on_batch_end(trainer, iteration, loss)``: after each optimizer step; ``iteration``
      counts steps over the whole run (1 after the first), ``loss`` is the mini-batch's loss;
    - ``on_epoch_end(trainer, row)``: after each evaluation, once the checkpoint is written, so
      an exception raised here (Ctrl-C included) loses nothing; ``row`` is the history row;
    - ``on_fit_end(trainer)``: ``fit()`` ends, normally or by an exception.
    """

    def on_fit_start(self, trainer: Any) -> None:
        pass

    def on_batch_end(self, trainer: Any, iteration: int, loss: float) -> None:
        pass

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        pass

    def on_fit_end(self, trainer: Any) -> None:
        pass


class EpochEndFunction(Callback):
    """A plain function ``fn(trainer, row)`` as an ``on_epoch_end`` callback (``Trainer(on_epoch_end=fn)``)."""

    def __init__(self, fn: Callable[[Any, dict[str, Any]], Any]) -> None:
        if not callable(fn):
            raise TypeError(f"Trainer: on_epoch_end must be callable, got {type(fn).__name__}")
        self.fn = fn

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        self.fn(trainer, row)


def hooks_of(callbacks: Sequence[Any], hook: str) -> list[Callable[..., Any]]:
    """The bound ``hook`` methods of ``callbacks`` that do something (a :class:`Callback`'s
    inherited no-op is skipped, so the training loop pays nothing for hooks nobody uses)."""
    found = []
    for cb in callbacks:
        method = getattr(cb, hook, None)
        inherited_no_op = getattr(type(cb), hook, None) is getattr(Callback, hook) and hook not in vars(cb)
        if method is None or inherited_no_op:
            continue
        found.append(method)
    return found
