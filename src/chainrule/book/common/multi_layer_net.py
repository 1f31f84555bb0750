"""The book's ``common/multi_layer_net.py``: ``MultiLayerNet`` with the book's argument names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chainrule.models import MultiLayerNet as _MultiLayerNet

__all__ = ["MultiLayerNet"]


class MultiLayerNet(_MultiLayerNet):
    """``MultiLayerNet(input_size, hidden_size_list, output_size, activation='relu', weight_init_std='relu',
    weight_decay_lambda=0)``, the book's signature, on :class:`chainrule.models.MultiLayerNet`.

    chainrule's own keywords (``hidden_sizes``, ``weight_init``, ``weight_decay``, ``batch_norm``,
    ``dropout``, ``dtype``, ``seed``) are accepted too; the model is saved and rebuilt as ``mlp``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Iterable[int] | None = None,
        output_size: int | None = None,
        activation: str = "relu",
        weight_init_std: float | str = "relu",
        weight_decay_lambda: float = 0,
        **chainrule_names: Any,
    ) -> None:
        hidden = chainrule_names.pop("hidden_sizes", hidden_size_list)
        if hidden is None or output_size is None:
            raise ValueError("MultiLayerNet: give hidden_size_list (a list of sizes) and output_size")
        super().__init__(
            input_size,
            hidden,
            output_size,
            activation,
            chainrule_names.pop("weight_init", weight_init_std),
            weight_decay=chainrule_names.pop("weight_decay", weight_decay_lambda),
            **chainrule_names,
        )

    @property
    def hidden_size_list(self) -> list[int]:
        return self.hidden_sizes

    @property
    def hidden_layer_num(self) -> int:
        return len(self.hidden_sizes)

    @property
    def weight_decay_lambda(self) -> float:
        return self.weight_decay
