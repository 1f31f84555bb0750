"""The optimizers of chapter 6: SGD, Momentum, Nesterov, AdaGrad, RMSprop and Adam.

Every optimizer follows the book's protocol ``update(params, grads)``: it walks the parameter
names and updates each array of ``params`` IN PLACE (never rebinding ``params[key]``, so the
layers that hold the arrays see the change). Per-parameter state (velocities, accumulated
squares, moments) is keyed by parameter NAME and created lazily on the first update with the
parameter's shape and dtype, so ``state_dict()`` / ``load_state_dict()`` make resumes exact.

Updates use in-place ufuncs into one preallocated scratch array per parameter: a step
allocates nothing after the first.

Formulations (``g`` the gradient, ``t`` the update count starting at 1):

- SGD:      ``W ← W − lr·g``
- Momentum: ``v ← μ·v − lr·g;  W ← W + v``                      (the book's; v is in W's units)
- Nesterov: ``v ← μ·v − lr·g;  W ← W + μ·v − lr·g``              (Bengio et al. 2012, eq. 7)
- AdaGrad:  ``h ← h + g²;  W ← W − lr·g / (√h + ε)``
- RMSprop:  ``h ← ρ·h + (1 − ρ)·g²;  W ← W − lr·g / (√h + ε)``
- Adam:     ``m ← m + (1 − β₁)(g − m);  v ← v + (1 − β₂)(g² − v);``
            ``W ← W − lr_t·m / (√v + ε)`` with ``lr_t = lr·√(1 − β₂ᵗ) / (1 − β₁ᵗ)`` (the book's)

Relation to ``torch.optim`` (tested in tests/test_optim.py):

- SGD, AdaGrad (``eps``), RMSprop (``alpha`` = decay_rate, ``eps``) compute the same update.
- Momentum and Nesterov equal ``torch.optim.SGD(momentum=μ[, nesterov=True])`` while ``lr`` is
  constant. PyTorch's buffer holds gradients and is multiplied by the *current* lr; ours holds
  steps already scaled by the lr of their time (the book's), so a new ``lr`` from a schedule
  acts on new gradients only.
- Nesterov: the book's code, ``W += μ²·v_old − (1 + μ)·lr·g`` and then ``v ← μ·v − lr·g``,
  is the formula of the paper it cites (Bengio et al. 2012, eq. 7) and PyTorch's
  ``SGD(nesterov=True)``; chainrule computes the same update, written above as
  ``W + μ·v_new − lr·g`` (tests/test_optim.py compares it with the book's code).
- Adam: the book's form puts ε next to √v rather than next to √v̂ = √v / √(1 − β₂ᵗ) as
  PyTorch does; the two are identical with ``eps=0`` and differ by a relative ~ε/√v otherwise.

ε defaults to 1e-7 (the book's) for AdaGrad, RMSprop and Adam.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from chainrule._checks import check_fraction, check_real, is_real

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "AdaGrad",
    "Adam",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "RMSprop",
    "make_optimizer",
]


_MISSING = object()  # grads.get's default: tells a missing name from a None value


class _RealParameter(Exception):
    """Raised by ``Optimizer._plan`` for a parameter that is a real number rather than an array."""


def _scaled_step(p: np.ndarray, num: np.ndarray, acc: np.ndarray, lr: float, eps: float, tmp: np.ndarray) -> None:
    """``p -= lr * num / (sqrt(acc) + eps)`` in place, with ``tmp`` as the only scratch."""
    np.sqrt(acc, out=tmp)
    tmp += eps
    np.divide(num, tmp, out=tmp)
    tmp *= lr
    p -= tmp


class Optimizer:
    """Base class: the ``lr`` attribute, validation, lazily created per-name state, state_dict.

    A subclass names its per-parameter state arrays in ``slots`` (e.g. ``("m", "v")``), its extra
    hyperparameters in ``hyperparameters``, and implements ``_update_param`` (or ``_apply``, the
    loop over all parameters).
    """

    name: ClassVar[str] = ""
    slots: ClassVar[tuple[str, ...]] = ()
    hyperparameters: ClassVar[tuple[str, ...]] = ()

    def __init__(self, lr: float) -> None:
        self.lr = lr
        self.steps = 0  # updates made so far (Adam's t)
        self._state: dict[str, dict[str, np.ndarray]] = {slot: {} for slot in self.slots}
        # name → (parameter, scratch, *state arrays), checked when a parameter array is first
        # seen and reused while params[name] is that same array: a step only checks the grads.
        self._plans: dict[str, tuple[np.ndarray, ...]] = {}

    @property
    def lr(self) -> float:
        """Learning rate; a schedule may assign a new one between updates (validated)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_real(value, "lr", type(self).__name__, low=0.0, low_open=True)

    @property
    def config(self) -> dict[str, Any]:
        """Name and hyperparameters as JSON-ready values: ``make_optimizer(**opt.config)`` rebuilds it."""
        return {"name": self.name, "lr": self.lr, **{h: getattr(self, h) for h in self.hyperparameters}}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items() if k != "name")
        return f"{type(self).__name__}({args})"

    def update(self, params: Mapping[str, np.ndarray], grads: Mapping[str, Any]) -> None:
        """Update every array of ``params`` in place from ``grads`` (same names and shapes).

        Everything is checked before any parameter moves: on error the parameters and the step
        count are as they were. A parameter that is a real number rather than an array (the
        book's chapter-6 comparison updates ``{"x": -7.0, "y": 2.0}``) is updated as a 0-d array
        and the new value stored back into ``params`` as a float, as the book's rebinding does.
        """
        try:
            work = self._prepare(params, grads)
        except _RealParameter:
            self._update_reals(params, grads)
            return
        self.steps += 1
        self._begin_step()
        self._apply(work)

    def _update_reals(self, params: Mapping[str, Any], grads: Mapping[str, Any]) -> None:
        """``update`` for params holding real numbers: as 0-d arrays, the results stored back as floats."""
        arrays = {
            k: np.array(p, dtype=np.float64) if not isinstance(p, np.ndarray) and is_real(p) else p
            for k, p in params.items()
        }
        self.update(arrays, grads)
        for k, p in params.items():
            if arrays[k] is not p:
                params[k] = float(arrays[k])

    def _begin_step(self) -> None:
        """Per-step scalars (Adam's bias-corrected lr); ``self.steps`` is already incremented."""

    def _apply(self, work: list[tuple[np.ndarray, ...]]) -> None:
        """Update each parameter of ``work`` (``(p, g, scratch, *state)`` tuples, all checked)."""
        step = self._update_param
        for args in work:
            step(*args)

    def _update_param(self, p: np.ndarray, g: np.ndarray, tmp: np.ndarray, *state: np.ndarray) -> None:
        raise NotImplementedError

    def _prepare(self, params: Mapping[str, Any], grads: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Check ``params`` against ``grads`` and return ``(p, g, scratch, *state)`` per parameter."""
        if not isinstance(params, (dict, Mapping)) or not isinstance(grads, (dict, Mapping)):
            raise TypeError(
                f"{self._where}: params and grads must be dicts of name → array, "
                f"got {type(params).__name__} and {type(grads).__name__}"
            )
        if len(grads) != len(params):  # equal sizes and no name missing from grads (checked below): same names
            extra = [key for key in grads if key not in params]
            if extra:
                raise ValueError(
                    f"{self._where}: grads has {extra[0]!r}, which is not a parameter (params: {list(params)})"
                )
        plans = self._plans
        work = []
        for key, p in params.items():
            plan = plans.get(key)
            if plan is None or plan[0] is not p or plan[1].shape != p.shape:
                plan = plans[key] = self._plan(key, p, self._where)
            g = grads.get(key, _MISSING)
            if type(g) is not np.ndarray:
                if g is _MISSING:
                    raise ValueError(f"{self._where}: grads has no entry for parameter {key!r} (grads: {list(grads)})")
                g = np.asarray(g)
            if g.shape != p.shape or g.dtype.kind not in "iuf":
                if g.shape != p.shape:
                    raise ValueError(
                        f"{self._where}: grads[{key!r}] has shape {g.shape}, expected {p.shape} (params[{key!r}])"
                    )
                raise ValueError(f"{self._where}: grads[{key!r}] must hold real numbers, got dtype {g.dtype}")
            work.append((p, g, *plan[1:]))
        return work

    @property
    def _where(self) -> str:
        return f"{type(self).__name__}.update"  # built only for messages

    def _plan(self, key: str, p: Any, where: str) -> tuple[np.ndarray, ...]:
        """Check a parameter array new to the optimizer; find or create its state and scratch.

        A real number instead of an array raises ``_RealParameter``: ``update`` then takes the
        path of the book's chapter-6 dicts of floats (checked here, off the per-step path)."""
        if not isinstance(p, np.ndarray) and is_real(p):
            raise _RealParameter
        if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
            raise TypeError(
                f"{where}: params[{key!r}] must be a floating NumPy array (it is updated in place), "
                f"got {type(p).__name__}" + (f" of dtype {p.dtype}" if isinstance(p, np.ndarray) else "")
            )
        if not p.flags.writeable:
            raise ValueError(f"{where}: params[{key!r}] is read-only; it must be writeable to be updated in place")
        state = []
        for slot in self.slots:
            store = self._state[slot]
            arr = store.get(key)
            if arr is None:
                arr = store[key] = np.zeros_like(p)
            elif arr.shape != p.shape or arr.dtype != p.dtype:
                raise ValueError(
                    f"{where}: state {slot}/{key} has shape {arr.shape} and dtype {arr.dtype}, "
                    f"but params[{key!r}] has shape {p.shape} and dtype {p.dtype} (state loaded for another model?)"
                )
            state.append(arr)
        return (p, np.empty_like(p), *state)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the state: ``"step"`` (0-d int64) and ``"<slot>/<param name>"`` arrays."""
        state: dict[str, np.ndarray] = {"step": np.array(self.steps, dtype=np.int64)}
        for slot in self.slots:
            for key, arr in self._state[slot].items():
                state[f"{slot}/{key}"] = arr.copy()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replace the state with (copies of) ``state`` as returned by ``state_dict``.

        Keys, shapes and dtypes are validated; on error the optimizer is left unchanged.
        """
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, Mapping):
            raise TypeError(f"{where}: expected a dict of name → array, got {type(state).__name__}")
        expected = "'step'" + "".join(f", '{slot}/<param>'" for slot in self.slots)
        if "step" not in state:
            raise ValueError(f"{where}: missing key 'step' (expected keys {expected})")
        step = np.asarray(state["step"])
        if step.shape != () or step.dtype.kind not in "iu" or int(step) < 0:
            raise ValueError(
                f"{where}: 'step' must be a non-negative 0-d integer array, got shape {step.shape}, dtype {step.dtype}"
            )
        new: dict[str, dict[str, np.ndarray]] = {slot: {} for slot in self.slots}
        for full_key, value in state.items():
            if full_key == "step":
                continue
            slot, sep, key = str(full_key).partition("/")
            if not sep or slot not in new or not key:
                raise ValueError(f"{where}: unexpected key {full_key!r} (expected {expected})")
            if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
                raise ValueError(
                    f"{where}: {full_key!r} must be a floating NumPy array, got {type(value).__name__}"
                    + (f" of dtype {value.dtype}" if isinstance(value, np.ndarray) else "")
                )
            new[slot][key] = value.copy()
        names = {key for store in new.values() for key in store}
        for key in sorted(names):
            first_slot, first = self.slots[0], new[self.slots[0]].get(key)
            for slot in self.slots:
                arr = new[slot].get(key)
                if arr is None:
                    raise ValueError(f"{where}: state for parameter {key!r} lacks '{slot}/{key}'")
                if first is not None and (arr.shape != first.shape or arr.dtype != first.dtype):
                    raise ValueError(
                        f"{where}: {first_slot}/{key} has shape {first.shape} and dtype {first.dtype}, "
                        f"but {slot}/{key} has shape {arr.shape} and dtype {arr.dtype}"
                    )
        self.steps = int(step)
        self._state = new
        self._plans.clear()


class SGD(Optimizer):
    """Stochastic gradient descent ``W ← W − lr·g`` (book default lr=0.01)."""

    name = "sgd"

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def _apply(self, work: list[tuple[np.ndarray, ...]]) -> None:
        # The loop written out (no call per parameter): SGD is the training hot path.
        lr = self._lr
        for p, g, tmp in work:
            np.multiply(g, lr, out=tmp)
            np.subtract(p, tmp, out=p)


class Momentum(Optimizer):
    """Momentum SGD ``v ← μ·v − lr·g;  W ← W + v`` (state ``v``; book defaults lr=0.01, μ=0.9)."""

    name = "momentum"
    slots = ("v",)
    hyperparameters = ("momentum",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = check_fraction(momentum, "momentum", type(self).__name__)

    def _update_param(self, p: np.ndarray, g: np.ndarray, tmp: np.ndarray, v: np.ndarray) -> None:
        np.multiply(g, self._lr, out=tmp)
        v *= self.momentum
        v -= tmp
        p += v


class Nesterov(Momentum):
    """Nesterov's accelerated gradient ``v ← μ·v − lr·g;  W ← W + μ·v − lr·g`` (state ``v``).

    The formula of Bengio et al. 2012 (eq. 7, ``W += μ²·v_old − (1+μ)·lr·g``), as in PyTorch's
    ``SGD(nesterov=True)`` and the book's code (see the module docstring).
    """

    name = "nesterov"

    def _update_param(self, p: np.ndarray, g: np.ndarray, tmp: np.ndarray, v: np.ndarray) -> None:
        np.multiply(g, self._lr, out=tmp)
        v *= self.momentum
        v -= tmp
        p -= tmp
        np.multiply(v, self.momentum, out=tmp)
        p += tmp


class AdaGrad(Optimizer):
    """AdaGrad ``h ← h + g²;  W ← W − lr·g / (√h + ε)`` (state ``h``; book defaults lr=0.01, ε=1e-7)."""

    name = "adagrad"
    slots = ("h",)
    hyperparameters = ("eps",)

    def __init__(self, lr: float = 0.01, *, eps: float = 1e-7) -> None:
        super().__init__(lr)
        self.eps = check_real(eps, "eps", type(self).__name__, low=0.0)

    def _update_param(self, p: np.ndarray, g: np.ndarray, tmp: np.ndarray, h: np.ndarray) -> None:
        np.multiply(g, g, out=tmp)
        h += tmp
        _scaled_step(p, g, h, self._lr, self.eps, tmp)


class RMSprop(Optimizer):
    """RMSprop ``h ← ρ·h + (1 − ρ)·g²;  W ← W − lr·g / (√h + ε)`` (state ``h``).

    Book defaults lr=0.01, decay_rate ρ=0.99, ε=1e-7; PyTorch calls ρ ``alpha``.
    """

    name = "rmsprop"
    slots = ("h",)
    hyperparameters = ("decay_rate", "eps")

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99, *, eps: float = 1e-7) -> None:
        super().__init__(lr)
        self.decay_rate = check_fraction(decay_rate, "decay_rate", type(self).__name__)
        self.eps = check_real(eps, "eps", type(self).__name__, low=0.0)

    def _update_param(self, p: np.ndarray, g: np.ndarray, tmp: np.ndarray, h: np.ndarray) -> None:
        h *= self.decay_rate
        np.multiply(g, g, out=tmp)
        tmp *= 1 - self.decay_rate
        h += tmp
        _scaled_step(p, g, h, self._lr, self.eps, tmp)


class Adam(Optimizer):
    """Adam in the book's form (states ``m``, ``v``; defaults lr=0.001, β₁=0.9, β₂=0.999, ε=1e-7).

    ``m ← m + (1−β₁)(g − m);  v ← v + (1−β₂)(g² − v);  W ← W − lr_t·m / (√v + ε)`` with the
    bias correction folded into ``lr_t = lr·√(1 − β₂ᵗ) / (1 − β₁ᵗ)`` (one scalar per step).
    """

    name = "adam"
    slots = ("m", "v")
    hyperparameters = ("beta1", "beta2", "eps")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, *, eps: float = 1e-7) -> None:
        super().__init__(lr)
        where = type(self).__name__
        self.beta1 = check_fraction(beta1, "beta1", where)
        self.beta2 = check_fraction(beta2, "beta2", where)
        self.eps = check_real(eps, "eps", where, low=0.0)
        self._lr_t = 0.0

    def _begin_step(self) -> None:
        t = self.steps
        self._lr_t = self._lr * math.sqrt(1.0 - self.beta2**t) / (1.0 - self.beta1**t)

    def _update_param(self, p: np.ndarray, g: np.ndarray, tmp: np.ndarray, m: np.ndarray, v: np.ndarray) -> None:
        np.subtract(g, m, out=tmp)
        tmp *= 1 - self.beta1
        m += tmp
        np.multiply(g, g, out=tmp)
        tmp -= v
        tmp *= 1 - self.beta2
        v += tmp
        _scaled_step(p, m, v, self._lr_t, self.eps, tmp)


OPTIMIZERS: dict[str, type[Optimizer]] = {cls.name: cls for cls in (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam)}


def make_optimizer(name: str, **kwargs: Any) -> Optimizer:
    """Build an optimizer by name (``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adagrad"``,
    ``"rmsprop"``, ``"adam"``; case-insensitive) with its keyword hyperparameters.

    ``make_optimizer(**opt.config)`` rebuilds ``opt`` (without its state).
    """
    cls = OPTIMIZERS.get(name.lower()) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"optimizer {cls.name!r} does not take these arguments: {exc}") from exc
