"""What every layer with parameters shares: ``params`` and ``grads`` by the book's naming (W → dW)."""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["ParameterLayer"]


class ParameterLayer:
    """Base of the layers that own parameters (Affine, BatchNormalization, ...).

    A subclass names its parameter attributes in ``param_names`` (``("W", "b")``); after
    ``backward`` the gradient of each is in the attribute named as the book names it, ``d`` +
    the name (``dW``, ``db``). ``params`` and ``grads`` (name → array) are how
    ``gradient_check`` and the optimizers find them. ``grad_attrs`` (parameter → gradient
    attribute, made from ``param_names`` unless a class sets it) is the fast path networks read
    directly on the training path; a class that sets it to ``{}`` is read through ``grads``.
    """

    param_names: ClassVar[tuple[str, ...]] = ()
    #: parameter name → the attribute that holds its gradient after ``backward``
    grad_attrs: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "grad_attrs" not in cls.__dict__:
            cls.grad_attrs = {name: "d" + name for name in cls.param_names}

    @property
    def params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.param_names}

    @property
    def grads(self) -> dict[str, Any]:
        return {name: getattr(self, "d" + name) for name in self.param_names}
