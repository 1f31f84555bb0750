"""Numerical gradients and gradient checks: backprop verified against central differences.

Finite differences run in float64, perturb one entry at a time, restore it in ``finally`` and
leave the array exactly as it was. Checks draw a random upstream gradient (an all-ones ``dout``
hides a backward that ignores it) and report, per parameter, the worst entry and its index.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule._checks import check_real
from chainrule._rng import as_generator

__all__ = [
    "GradientCheckError",
    "GradientCheckReport",
    "ParamCheck",
    "check_layer",
    "compare_gradients",
    "gradient_check",
    "numerical_gradient",
    "numerical_gradient_2d",
]

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-9


class GradientCheckError(AssertionError):
    """Raised when backprop and numerical gradients disagree beyond the tolerance."""


def numerical_gradient(f: Callable[[np.ndarray], Any], x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central-difference gradient of the scalar ``f`` with respect to the array ``x``.

    ``f(x)`` is called twice per entry while that entry is perturbed by ±h in place (as in the
    book, ``f`` may ignore its argument and read ``x`` through a layer or network that owns
    it). Each entry is restored in ``finally``, so ``x`` ends bit-for-bit as it was even if
    ``f`` raises. Returns an array of x's shape and dtype. Use float64 for meaningful results:
    in a narrower dtype (float32, float16) ``x ± h`` is rounded to what the dtype can hold, so
    the quotient divides by the step actually taken, in float64, and a step that rounds away
    entirely (h=1e-4 at 1.0 in float16) raises ``ValueError`` instead of giving a zero gradient.
    ``h`` must be a positive finite number.
    """
    h = check_real(h, "h", "numerical_gradient", low=0.0, low_open=True)
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise TypeError(
            "numerical_gradient: x must be a floating NumPy array (it is perturbed in place), "
            f"got {type(x).__name__}" + (f" of dtype {x.dtype}" if isinstance(x, np.ndarray) else "")
        )
    if not x.flags.writeable:
        raise ValueError("numerical_gradient: x must be writeable (it is perturbed in place and restored)")
    exact = x.dtype == np.float64  # x ± h is held exactly enough: the step is 2h
    grad = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        original = x[idx].copy()
        try:
            x[idx] = original + h
            plus = float(x[idx])
            f_plus = float(f(x))
            x[idx] = original - h
            step = 2 * h if exact else plus - float(x[idx])
            f_minus = float(f(x))
        finally:
            x[idx] = original
        if step == 0:
            raise ValueError(
                f"numerical_gradient: h={h:g} is below the resolution of {x.dtype} at x{list(idx)}={float(original):g} "
                "(x ± h rounds to x): pass a float64 copy of x, or a larger h"
            )
        grad[idx] = (f_plus - f_minus) / step
    return grad if exact else grad.astype(x.dtype)


def numerical_gradient_2d(f: Callable[[np.ndarray], Any], X: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """The book's per-sample central difference: ``f`` of each row of a 2-D ``X`` (or of a 1-D ``X``).

    Row i of the result is the gradient of ``f(X[i])`` with respect to ``X[i]`` (chapter 4's
    ``gradient_2d.py`` draws these as arrows over a grid of points).
    """
    if isinstance(X, np.ndarray) and X.ndim == 1:
        return numerical_gradient(f, X, h)
    if not isinstance(X, np.ndarray) or X.ndim != 2:
        raise ValueError(
            f"numerical_gradient_2d: X must be a 1-D or 2-D floating NumPy array, got {type(X).__name__}"
            + (f" of shape {X.shape}" if isinstance(X, np.ndarray) else "")
        )
    grad = np.zeros_like(X)
    for i in range(X.shape[0]):
        row = X[i]  # a view: perturbed in place and restored by numerical_gradient
        grad[i] = numerical_gradient(lambda _, row=row: f(row), row, h)
    return grad


@dataclass(frozen=True)
class ParamCheck:
    """Comparison of one gradient: backprop (``analytic``) against central differences.

    ``max_rel_err`` is ``max_abs_diff`` divided by the largest magnitude in either gradient;
    the check passes when ``max_abs_diff <= atol + rtol * that magnitude``.
    """

    name: str
    shape: tuple[int, ...]
    max_abs_diff: float
    max_rel_err: float
    worst_index: tuple[int, ...]
    analytic_at_worst: float
    numeric_at_worst: float
    passed: bool
    max_abs_grad: float = 0.0  # the scale: the largest magnitude in either gradient


class GradientCheckReport:
    """Per-parameter results of a gradient check; prints as a table.

    ``report.passed`` is True when every parameter passed; ``report["W1"]`` is one row.
    """

    def __init__(self, checks: list[ParamCheck], rtol: float, atol: float) -> None:
        self.checks = checks
        self.rtol = rtol
        self.atol = atol

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def __getitem__(self, name: str) -> ParamCheck:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def __iter__(self):
        return iter(self.checks)

    def __len__(self) -> int:
        return len(self.checks)

    def zero_gradients(self) -> list[ParamCheck]:
        """The parameters whose gradient is zero up to rounding (both gradients within ``atol``).

        Such a gradient (a bias followed by batch norm, which subtracts the batch mean) has no
        scale to be relative to: it passes or fails on the absolute tolerance alone, and its
        relative error is not shown.
        """
        return [c for c in self.checks if c.max_abs_grad <= self.atol]

    def _rows(self) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        header = ("param", "shape", "max abs diff", "max rel err", "worst index", "result")
        zero = {c.name for c in self.zero_gradients()}
        rows = [
            (
                c.name,
                "x".join(map(str, c.shape)) or "scalar",
                f"{c.max_abs_diff:.3e}",
                "n/a (zero)" if c.name in zero else f"{c.max_rel_err:.3e}",
                str(c.worst_index),
                ("ok" if c.passed else "FAIL") + (" (zero gradient)" if c.name in zero else ""),
            )
            for c in self.checks
        ]
        return header, rows

    def _notes(self) -> list[str]:
        verdict = "passed" if self.passed else "FAILED"
        notes = [
            f"gradient check {verdict}: max |backprop - numerical| <= {self.atol:g} + {self.rtol:g} × max |gradient|"
        ]
        zero = self.zero_gradients()
        if zero:
            names = ", ".join(c.name for c in zero)
            largest = max(c.max_abs_grad for c in zero)
            notes.append(
                f"{names}: zero gradient (both gradients at most {largest:.1e} in magnitude, within the absolute "
                f"tolerance {self.atol:g}): the loss does not depend on {'it' if len(zero) == 1 else 'them'} here, "
                "so only the absolute difference is checked"
            )
        return notes

    def __str__(self) -> str:
        header, rows = self._rows()
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([*lines, *self._notes()])

    def _repr_html_(self) -> str:
        """The table for Jupyter: failing rows marked, the verdict and notes below."""
        header, rows = self._rows()
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        failed = ' style="color:#b00020;font-weight:bold"'
        body = "".join(
            f"<tr{'' if c.passed else failed}>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
            for c, row in zip(self.checks, rows, strict=True)
        )
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self._notes())
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}"

    def __repr__(self) -> str:
        return f"GradientCheckReport(passed={self.passed}, params={[c.name for c in self.checks]})"

    def raise_if_failed(self) -> None:
        """Raise ``GradientCheckError`` naming each failing parameter's worst entry."""
        bad = [c for c in self.checks if not c.passed]
        if bad:
            detail = "; ".join(
                f"{c.name}{list(c.worst_index)}: backprop {c.analytic_at_worst:.10g} vs numerical "
                f"{c.numeric_at_worst:.10g} (abs diff {c.max_abs_diff:.3e}, rel err {c.max_rel_err:.3e})"
                for c in bad
            )
            raise GradientCheckError(f"gradient check failed for {len(bad)} of {len(self.checks)}: {detail}")


def _compare(name: str, analytic: Any, numeric: np.ndarray, rtol: float, atol: float) -> ParamCheck:
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise GradientCheckError(f"{name}: backprop gradient has shape {a.shape}, expected {n.shape}")
    if a.size == 0:
        return ParamCheck(name, a.shape, 0.0, 0.0, (), 0.0, 0.0, True, 0.0)
    diff = np.abs(a - n)
    diff = np.where(np.isnan(diff), np.inf, diff)  # a NaN gradient is the worst entry and fails
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), a.shape))
    max_diff = float(diff[worst])
    # Relative to the gradient's own scale: an entry-wise ratio is noise where both are ~0.
    scale = float(max(np.max(np.abs(a)), np.max(np.abs(n))))
    rel = max_diff / scale if scale > 0 else (0.0 if max_diff == 0 else np.inf)
    ok = bool(max_diff <= atol + rtol * scale)
    return ParamCheck(
        name=name,
        shape=a.shape,
        max_abs_diff=max_diff,
        max_rel_err=float(rel),
        worst_index=worst,
        analytic_at_worst=float(a[worst]),
        numeric_at_worst=float(n[worst]),
        passed=ok,
        max_abs_grad=scale,
    )


def _tolerances(rtol: Any, atol: Any, where: str) -> tuple[float, float]:
    """``rtol`` and ``atol`` as floats when each is a finite number >= 0 (a negative or NaN one passes nothing)."""
    return check_real(rtol, "rtol", where, low=0.0), check_real(atol, "atol", where, low=0.0)


def compare_gradients(
    analytic: Mapping[str, Any],
    numeric: Mapping[str, np.ndarray],
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
) -> GradientCheckReport:
    """Build a report comparing two name → gradient mappings with the same keys."""
    rtol, atol = _tolerances(rtol, atol, "compare_gradients")
    if list(analytic) != list(numeric):
        raise GradientCheckError(f"gradient names differ: backprop {list(analytic)} vs numerical {list(numeric)}")
    checks = [_compare(k, analytic[k], numeric[k], rtol, atol) for k in numeric]
    return GradientCheckReport(checks, rtol, atol)


def gradient_check(
    net: Any,
    x: Any,
    t: Any,
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    raise_on_failure: bool = False,
) -> GradientCheckReport:
    """Compare ``net.gradient(x, t)`` with ``net.numerical_gradient(x, t)`` in float64.

    A float32 net is checked on a float64 copy (``net.copy(dtype=np.float64)``); the net itself
    is not changed. A net with a ``frozen()`` context manager (chainrule's networks) is checked
    inside it: dropout off and running statistics restored afterwards, so the loss is a
    deterministic function of the parameters. Use a small batch: the numerical gradient costs
    two losses per parameter.
    """
    rtol, atol = _tolerances(rtol, atol, "gradient_check")
    x64 = np.asarray(x, dtype=np.float64)
    if x64.ndim == 0 or x64.shape[0] == 0:
        raise ValueError(f"gradient_check: expected a batch of at least one sample, got x.shape={x64.shape}")
    if any(np.asarray(p).dtype != np.float64 for p in net.params.values()):
        net = net.copy(dtype=np.float64)
    frozen = getattr(net, "frozen", None)
    with frozen() if frozen is not None else contextlib.nullcontext():
        analytic = {k: np.array(v, dtype=np.float64) for k, v in net.gradient(x64, t).items()}
        numeric = net.numerical_gradient(x64, t)
    report = compare_gradients(analytic, numeric, rtol=rtol, atol=atol)
    if raise_on_failure:
        report.raise_if_failed()
    return report


def _input_names(count: int) -> list[str]:
    return ["x"] if count == 1 else ["x", "y"] if count == 2 else [f"input{i}" for i in range(count)]


def check_layer(
    layer: Any,
    *inputs: Any,
    seed: int | np.random.Generator | None = 0,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    raise_on_failure: bool = True,
) -> GradientCheckReport:
    """Check one layer's backward against central differences with a random upstream gradient.

    ``inputs`` are the arguments of ``layer.forward``; the first k of them are checked, where k
    is the number of gradients ``backward`` returns (a loss layer's labels are not). Inputs are
    copied to float64; parameters (``layer.params``) must already be float64 and are checked
    against ``layer.grads``. The loss is ``sum(forward(...) * dout)`` with ``dout`` drawn from
    a standard normal, so a backward that ignores ``dout`` fails.
    """
    rtol, atol = _tolerances(rtol, atol, "check_layer")
    rng = as_generator(seed)
    params = dict(getattr(layer, "params", {}) or {})
    for name, p in params.items():
        if np.asarray(p).dtype != np.float64:
            raise TypeError(
                f"check_layer: parameter {name} of {type(layer).__name__} is {np.asarray(p).dtype}; "
                "gradient checks run in float64, so build the layer with float64 parameters"
            )
    # Float arrays and Python numbers become float64 copies (the caller's arrays are never
    # perturbed); integer and boolean arrays, such as class labels, are passed through as they are.
    args = [a if isinstance(a, np.ndarray) and a.dtype.kind in "biu" else np.array(a, dtype=np.float64) for a in inputs]
    out = layer.forward(*args)
    dout = rng.standard_normal(np.shape(out))
    grads = layer.backward(dout)
    grads = grads if isinstance(grads, tuple) else (grads,)
    analytic: dict[str, Any] = {}
    numeric: dict[str, np.ndarray] = {}

    def objective(_: np.ndarray) -> float:
        return float(np.sum(np.asarray(layer.forward(*args)) * dout))

    names = _input_names(len(grads))
    param_grads = {k: np.array(v, dtype=np.float64) for k, v in (getattr(layer, "grads", {}) or {}).items()}
    for i, name in enumerate(names):
        if args[i].dtype.kind != "f":
            raise TypeError(f"check_layer: input {name} must be floating to be differentiated, got {args[i].dtype}")
        analytic[name] = grads[i]
        numeric[name] = numerical_gradient(objective, args[i])
    for name, p in params.items():
        analytic[name] = param_grads[name]
        numeric[name] = numerical_gradient(objective, p)
    report = compare_gradients(analytic, numeric, rtol=rtol, atol=atol)
    if raise_on_failure:
        report.raise_if_failed()
    return report
