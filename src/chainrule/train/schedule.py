"""Learning-rate schedules: the rate for each epoch, set on the optimizer as the epoch starts."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from chainrule._checks import check_int, check_real

__all__ = ["SCHEDULES", "LRSchedule"]

SCHEDULES: tuple[str, ...] = ("none", "step", "cosine")


@dataclass(frozen=True)
class LRSchedule:
    """Learning rate per epoch, set on ``optimizer.lr`` at the start of each epoch.

    ``"none"``: the base rate throughout. ``"step"``: ``base · gamma ** (epoch // step_size)``.
    ``"cosine"``: from the base rate down to ``min_lr`` along half a cosine over the whole run,
    ``min_lr + (base - min_lr) · (1 + cos(π · epoch / total_epochs)) / 2``.
    """

    kind: str = "none"
    step_size: int = 10
    gamma: float = 0.1
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"LRSchedule: kind must be one of {', '.join(SCHEDULES)}, got {self.kind!r}")
        check_int(self.step_size, "step_size", "LRSchedule", expected="a positive number of epochs")
        check_real(self.gamma, "gamma", "LRSchedule", low=0.0, low_open=True)
        check_real(self.min_lr, "min_lr", "LRSchedule", low=0.0)

    def lr_at(self, base_lr: float, epoch: int, total_epochs: float) -> float:
        """Learning rate for the epoch that starts after ``epoch`` completed epochs."""
        if self.kind == "step":
            return base_lr * self.gamma ** (epoch // self.step_size)
        if self.kind == "cosine":
            frac = min(epoch / total_epochs, 1.0) if total_epochs > 0 else 1.0
            return self.min_lr + (base_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * frac))
        return base_lr

    @property
    def config(self) -> dict[str, Any]:
        return asdict(self)
