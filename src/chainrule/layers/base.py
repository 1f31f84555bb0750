"""What layers share: ``params`` and ``grads`` by the book's naming (W → dW), and workspaces."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

__all__ = ["ParameterLayer", "Workspace", "result_dtype"]


def result_dtype(a: Any, b: Any) -> np.dtype:
    """The dtype of an arithmetic result of ``a`` and ``b``: ``a``'s when both share it (the
    training path's case, without NumPy's promotion machinery), else ``np.result_type``."""
    dtype = getattr(a, "dtype", None)
    return dtype if dtype is not None and dtype == getattr(b, "dtype", None) else np.result_type(a, b)


class Workspace:
    """Named arrays a layer writes into, step after step, instead of allocating new ones.

    A network hands each of its layers a workspace for the duration of ``Network.gradient``
    (the layer's ``_ws`` attribute; None otherwise). A layer with a workspace writes its output,
    its cached masks, its input gradient and its parameter gradients (``dW``, ``db``) into arrays
    from it (``out=`` products and ufuncs), so a steady training step allocates no array of a
    parameter's or an activation's size. Outside ``gradient`` (``predict``, a layer called by
    hand) layers return new arrays, as the book's do.

    ``array(name, shape, dtype)`` returns the C-contiguous array kept under ``name`` when it
    has that dtype and shape, or the first ``shape[0]`` rows of a larger one (the smaller last
    batch of an epoch); otherwise it allocates and keeps a new one. ``like(name, a)`` does the
    same for an array with ``a``'s shape and memory layout (a convolution's output keeps its
    channels outermost; the layers after it keep that layout). Contents are whatever the last
    step left: callers overwrite them.
    """

    __slots__ = ("_arrays", "_layouts")

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}
        self._layouts: dict[str, tuple[int, ...]] = {}  # name → strides of the template of like()

    def array(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        a = self._arrays.get(name)
        if a is not None and a.dtype == dtype:
            if a.shape == shape:
                return a
            if a.shape[1:] == shape[1:] and a.shape[0] > shape[0]:
                return a[: shape[0]]
        a = self._arrays[name] = np.empty(shape, dtype)
        self._layouts[name] = ()
        return a

    def like(self, name: str, template: np.ndarray, dtype: Any = None) -> np.ndarray:
        dtype = template.dtype if dtype is None else dtype
        a = self._arrays.get(name)
        if a is not None and a.dtype == dtype and a.shape == template.shape and self._layouts[name] == template.strides:
            return a
        a = self._arrays[name] = np.empty_like(template, dtype=dtype)
        self._layouts[name] = template.strides
        return a

    @property
    def nbytes(self) -> int:
        """Bytes held by the kept arrays."""
        return sum(a.nbytes for a in self._arrays.values())


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
