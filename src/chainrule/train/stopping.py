"""Early stopping: the policy (``EarlyStopping``) and the tracker of the best epoch so far (``BestEpoch``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from chainrule._checks import check_int, check_real

__all__ = ["MONITORS", "BestEpoch", "EarlyStopping"]

MONITORS: tuple[str, ...] = ("test_loss", "test_acc")


@dataclass(frozen=True)
class EarlyStopping:
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``monitor`` is ``"test_loss"`` (lower is better) or ``"test_acc"`` (higher is better).
    With ``restore_best`` the model ends with the parameters (and buffers) of its best epoch.
    """

    patience: int
    monitor: str = "test_loss"
    min_delta: float = 0.0
    restore_best: bool = True

    def __post_init__(self) -> None:
        check_int(self.patience, "patience", "EarlyStopping", expected="a positive number of epochs")
        if self.monitor not in MONITORS:
            raise ValueError(f"EarlyStopping: monitor must be one of {', '.join(MONITORS)}, got {self.monitor!r}")
        check_real(self.min_delta, "min_delta", "EarlyStopping", low=0.0)

    def improved(self, value: float, best: float) -> bool:
        if self.monitor == "test_acc":
            return value > best + self.min_delta
        return value < best - self.min_delta

    @property
    def config(self) -> dict[str, Any]:
        return asdict(self)


class BestEpoch:
    """The best epoch of a run under an :class:`EarlyStopping` policy.

    ``state`` is ``{"value", "row", "bad_epochs"}`` (JSON-able, saved in checkpoints) or None
    before the first evaluation; ``arrays`` holds a copy of the model's parameters and buffers
    at the best epoch (``param/<name>``, ``buffer/<name>``) when the policy restores the best.
    """

    def __init__(self, policy: EarlyStopping) -> None:
        self.policy = policy
        self.state: dict[str, Any] | None = None
        self.arrays: dict[str, np.ndarray] | None = None

    def update(self, row: Mapping[str, Any], model: Any) -> bool:
        """Take in an epoch's evaluation; True when the run should stop (no improvement for ``patience`` epochs)."""
        value = float(row[self.policy.monitor])
        if self.state is None or self.policy.improved(value, self.state["value"]):
            self.state = {"value": value, "row": dict(row), "bad_epochs": 0}
            if self.policy.restore_best:
                self.arrays = snapshot(model)
            return False
        self.state["bad_epochs"] += 1
        return self.state["bad_epochs"] >= self.policy.patience

    def restore(self, model: Any, iteration: int) -> dict[str, Any] | None:
        """At the end of a run: put the best epoch's arrays back into ``model`` and return its row.

        None (and the model left as it is) when the policy does not restore, nothing was saved,
        or the last evaluation, at ``iteration``, was the best one.
        """
        if not self.policy.restore_best or self.arrays is None or self.state is None:
            return None
        if self.state["row"]["iteration"] == iteration:
            return None
        restore(model, self.arrays)
        return dict(self.state["row"])


def snapshot(model: Any) -> dict[str, np.ndarray]:
    """Copies of ``model``'s parameters and buffers, keyed ``param/<name>`` and ``buffer/<name>``."""
    arrays = {f"param/{k}": np.array(v) for k, v in model.params.items()}
    arrays.update({f"buffer/{k}": np.array(v) for k, v in model.buffers.items()})
    return arrays


def restore(model: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """Copy a :func:`snapshot` back into ``model``'s arrays, in place."""
    params, buffers = model.params, model.buffers
    for key, value in arrays.items():
        kind, name = key.split("/", 1)
        np.copyto(params[name] if kind == "param" else buffers[name], value)
