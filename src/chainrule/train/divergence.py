"""Telling a run that has blown up from one that is merely learning fast.

A NaN or infinite mini-batch loss is the obvious sign; the other is a loss that stays finite
but far above where any run starts. A softmax classifier that guesses uniformly scores ln C
(C classes), and a run starts near it (or at its first step's loss, if that is higher); a run
whose loss then stays more than ``factor`` times above that start for ``patience``
consecutive steps, or whose end-of-epoch evaluation finds the loss that high and the accuracy
no better than always answering the commonest class, has blown up (Fashion-MNIST with SGD at
lr 1000 logs mean losses of 2e7 then 451 with accuracy 0.10). High but sane learning rates
spike for a step or two and come back; they never stay there.

The per-step test reads the scalar loss the step computed anyway: one comparison per step.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from chainrule._checks import check_int, check_real

__all__ = ["DivergenceCheck", "TrainingDiverged"]


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite, or blew up (see :class:`DivergenceCheck`).

    The message names the iteration and the lr; ``detail`` is the message without its advice
    ("try a lower learning rate"), for a caller that words the advice its own way.
    """

    def __init__(self, loss: float, iteration: int, epoch: int, lr: float, *, reason: str | None = None) -> None:
        self.loss = loss
        self.iteration = iteration
        self.epoch = epoch
        self.lr = lr
        what = reason if reason is not None else f"the mini-batch loss became {loss}"
        self.detail = f"training diverged: {what} at iteration {iteration} (epoch {epoch}) with learning rate {lr:g}"
        super().__init__(f"{self.detail}; try a lower learning rate")


@dataclass(frozen=True)
class DivergenceCheck:
    """When a finite loss counts as blown up (the trainer's ``divergence=``; None turns it off).

    The limit is ``factor × max(ln C, the run's first mini-batch loss)``. The run has blown up
    when ``patience`` consecutive mini-batch losses exceed it, or when an epoch ends with the
    training-set loss above it and the training accuracy within a tenth of the way from chance
    (the commonest class's share) to 1.
    """

    factor: float = 10.0
    patience: int = 100

    def __post_init__(self) -> None:
        check_real(self.factor, "factor", "DivergenceCheck", low=1.0, low_open=True)
        check_int(self.patience, "patience", "DivergenceCheck", expected="a positive number of steps")

    def limit(self, first_loss: float, n_classes: int) -> float:
        """The loss above which a step counts against the run."""
        start = max(float(first_loss), math.log(n_classes)) if math.isfinite(first_loss) else math.log(n_classes)
        return self.factor * max(start, 1e-12)

    def stalled_at_chance(self, accuracy: float, chance: float) -> bool:
        """True when ``accuracy`` is no better than always answering the commonest class (within a tenth)."""
        return not accuracy > chance + (1.0 - chance) / 10

    @property
    def config(self) -> dict[str, Any]:
        return asdict(self)


def chance_accuracy(t: np.ndarray) -> float:
    """The accuracy of always answering the commonest class of labels ``t`` (indices or one-hot)."""
    labels = t if t.ndim == 1 else np.argmax(t, axis=1)
    _, counts = np.unique(labels, return_counts=True)
    return float(counts.max()) / labels.shape[0]
