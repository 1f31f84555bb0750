"""Chapter 7's layers: Convolution (7.4) and Pooling (7.3, 7.4.4), on images (N, C, H, W).

The convolution is one matrix product: the filters (FN, C·FH·FW) times every window of the
input as a column (:func:`~chainrule.windows.patch_matrix`, C·FH·FW × N·OH·OW), so its local
rule is the matrix product's (:func:`~chainrule.layers.affine.matmul_backward`, shared with
Affine) followed by :func:`~chainrule.windows.scatter_patches` (the book's col2im). Outputs keep
channels outermost in memory (a transposed view of a (C, N, H, W) array): the next layer works
on them elementwise or by window, and the gradient coming back reaches the matrix product
without a copy. Pooling slides over the same windows one offset at a time.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from chainrule._checks import as_float_array, check_int, require_forward
from chainrule._kernels import row_sums
from chainrule.layers.affine import matmul_backward
from chainrule.layers.base import ParameterLayer, Workspace, result_dtype
from chainrule.layers.rules import LocalRule
from chainrule.windows import offset_slices, out_size, pad_images, patch_matrix, scatter_patches

__all__ = ["POOL_MODES", "Convolution", "Pooling"]

POOL_MODES: tuple[str, ...] = ("max", "avg")


def _images(x: Any, where: str) -> np.ndarray:
    x = as_float_array(x, where)
    if x.ndim != 4:
        raise ValueError(f"{where}: expected a batch of images (N, C, H, W), got x.shape={x.shape}")
    return x


def _check_dout(dout: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    dout = np.asarray(dout)
    if dout.shape != shape:
        raise ValueError(f"{where}: expected dout of shape {shape}, got {dout.shape}")
    return dout


def _channels_first(a: np.ndarray) -> np.ndarray:
    """``a`` (N, C, H, W) as (C, N, H, W): a free view when ``a`` already keeps channels outermost."""
    return a.transpose(1, 0, 2, 3)


class Convolution(ParameterLayer):
    """Convolution layer (the book's cross-correlation): y[n, f] = Σ_c W[f, c] ⋆ x[n, c] + b[f].

    Shapes: W (FN, C, FH, FW), b (FN,); x (N, C, H, W) → y (N, FN, OH, OW) with
    ``OH = (H + 2·pad − FH) / stride + 1`` (likewise OW), which must be a whole number: a
    stride that does not fit the padded input is an error, not silently dropped pixels.
    backward(dout) returns dx in x's shape and stores ``dW`` (FN, C, FH, FW) and ``db`` (FN,):
    with ``col`` the input's windows, ``dW = dout·colᵀ``, ``db = Σ dout``, ``dx = col2im(Wᵀ·dout)``.
    ``W`` and ``b`` are used by reference, as in Affine. Inside ``Network.gradient`` the
    windows, the output, dW, db and dx are reused buffers (``Workspace``).
    """

    param_names: ClassVar[tuple[str, ...]] = ("W", "b")
    _ws: Workspace | None = None  # set by the network that owns the layer, while it trains

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> None:
        W = np.asarray(W)
        b = np.asarray(b)
        if W.ndim != 4 or W.dtype.kind != "f":
            raise ValueError(
                f"Convolution: W must be a 4-D floating array (FN, C, FH, FW), got shape {W.shape}, dtype {W.dtype}"
            )
        if b.shape != (W.shape[0],) or b.dtype.kind != "f":
            raise ValueError(
                f"Convolution: b must be a floating array of shape ({W.shape[0]},) to match W {W.shape}, "
                f"got shape {b.shape}, dtype {b.dtype}"
            )
        self.W = W
        self.b = b
        self.stride = check_int(stride, "stride", "Convolution")
        self.pad = check_int(pad, "pad", "Convolution", minimum=0)
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None
        self._x_shape: tuple[int, ...] | None = None
        self._cols: np.ndarray | None = None  # (C·FH·FW, N·OH·OW): the input's windows

    def output_shape(self, x_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """The output's shape for an input of ``x_shape`` (N, C, H, W), or ``ValueError`` saying why none."""
        fn, c, fh, fw = self.W.shape
        n, xc, h, w = x_shape
        if xc != c:
            raise ValueError(
                f"Convolution: expected {c} input channels to match W (FN, C, FH, FW) = {self.W.shape}, "
                f"got {xc} (x.shape={tuple(x_shape)})"
            )
        hp, wp = h + 2 * self.pad, w + 2 * self.pad
        if fh > hp or fw > wp:
            raise ValueError(
                f"Convolution: the {fh}x{fw} filter is larger than the padded input {hp}x{wp} "
                f"(x.shape={tuple(x_shape)}, pad={self.pad})"
            )
        for axis, size, f in (("height", hp, fh), ("width", wp, fw)):
            if (size - f) % self.stride:
                raise ValueError(
                    f"Convolution: the output {axis} (H + 2·pad − FH) / stride + 1 = "
                    f"({size} − {f}) / {self.stride} + 1 = {(size - f) / self.stride + 1:g} is not a whole number "
                    f"(x.shape={tuple(x_shape)}, pad={self.pad}, stride={self.stride}); change the pad or the stride"
                )
        return n, fn, out_size(h, fh, self.stride, self.pad), out_size(w, fw, self.stride, self.pad)

    def forward(self, x: Any) -> np.ndarray:
        x = _images(x, "Convolution")
        n, fn, oh, ow = self.output_shape(x.shape)
        fh, fw = self.W.shape[2:]
        ws = self._ws
        if ws is None:
            cols = patch_matrix(x, fh, fw, self.stride, self.pad)
            out = self.W.reshape(fn, -1) @ cols  # (FN, N·OH·OW): one matrix product for the whole batch
        else:
            c, p = x.shape[1], self.pad
            padded = ws.array("padded", (n, c, x.shape[2] + 2 * p, x.shape[3] + 2 * p), x.dtype) if p else None
            blocks = ws.array("cols", (c, fh, fw, n, oh, ow), x.dtype)
            cols = patch_matrix(x, fh, fw, self.stride, p, out=blocks, padded=padded)
            out_buffer = ws.array("out", (fn, n * oh * ow), result_dtype(x, self.W))
            out = np.matmul(self.W.reshape(fn, -1), cols, out=out_buffer)
        out += self.b[:, None]  # out is this layer's own array: adding in place saves a temporary
        self._x_shape, self._cols = x.shape, cols
        return out.reshape(fn, n, oh, ow).transpose(1, 0, 2, 3)

    rule = LocalRule(
        inputs=("x", "W", "b"),
        forward="conv({x}, {W}) + {b}",
        grads=("col2im({dout} · {W}ᵀ)", "im2col({x})ᵀ · {dout}", "Σ {dout}"),
        note="uses the matrix product's rule over the input's windows (im2col) and sums b's gradient per filter",
    )

    def backward(self, dout: Any, *, input_grad: bool = True) -> np.ndarray | None:
        """Store dW, db and return dx; ``input_grad=False`` skips dx (a network's first layer
        needs no gradient for its data) and returns None."""
        require_forward(self, "_cols")
        fn, _, fh, fw = self.W.shape
        n, _, h, w = self._x_shape
        shape = (n, fn, out_size(h, fh, self.stride, self.pad), out_size(w, fw, self.stride, self.pad))
        dout = _check_dout(dout, shape, "Convolution")
        dout2 = _channels_first(dout).reshape(fn, -1)  # (FN, N·OH·OW); a view when dout keeps channels outermost
        W2, cols = self.W.reshape(fn, -1), self._cols
        ws = self._ws
        if ws is None:
            dW2, dcols = matmul_backward(W2, cols, dout2, weight_grad=input_grad)
            self.db = row_sums(dout2)
        else:
            # y = W2·cols: matmul_backward's (dx, dW) are (dW2, dcols) here.
            dW2, dcols = matmul_backward(
                W2,
                cols,
                dout2,
                weight_grad=input_grad,
                dx_out=ws.array("dW", W2.shape, result_dtype(dout2, cols)),
                dW_out=ws.array("dcols", cols.shape, result_dtype(W2, dout2)) if input_grad else None,
            )
            self.db = row_sums(dout2, out=ws.array("db", self.b.shape, dout2.dtype))
        self.dW = dW2.reshape(self.W.shape)
        if dcols is None:
            return None
        dxp = None
        if ws is not None:
            n, c, h, w = self._x_shape
            dxp = ws.array("dxp", (c, n, h + 2 * self.pad, w + 2 * self.pad), dcols.dtype)
        return scatter_patches(dcols, self._x_shape, fh, fw, self.stride, self.pad, out=dxp)


class Pooling:
    """Pooling layer: the maximum (``mode="max"``, the book's) or the mean (``"avg"``) of each window.

    Shapes: x (N, C, H, W) → y (N, C, OH, OW), ``OH = (H + 2·pad − pool_h) // stride + 1``
    (rounded down, as the book and PyTorch do). Padding is −∞ for max pooling (a pad may not
    win; PyTorch's rule; the book pads with 0, which only matters for negative inputs) and 0 for
    average pooling (counted in the mean, PyTorch's ``count_include_pad=True``). backward(dout):
    max pooling routes each window's gradient to its arg-max (the first maximum in row-major
    order, as ``np.argmax``), average pooling spreads ``dout / (pool_h·pool_w)`` over the window;
    where windows overlap the contributions add up. Inside ``Network.gradient`` the padded
    input, the output, the arg-max offsets and dx are reused buffers (``Workspace``).
    """

    _ws: Workspace | None = None  # set by the network that owns the layer, while it trains

    def __init__(self, pool_h: int, pool_w: int, stride: int = 1, pad: int = 0, *, mode: str = "max") -> None:
        self.pool_h = check_int(pool_h, "pool_h", "Pooling")
        self.pool_w = check_int(pool_w, "pool_w", "Pooling")
        self.stride = check_int(stride, "stride", "Pooling")
        self.pad = check_int(pad, "pad", "Pooling", minimum=0)
        if mode not in POOL_MODES:
            raise ValueError(f"Pooling: mode must be one of {', '.join(POOL_MODES)}, got {mode!r}")
        if mode == "max" and (self.pad >= self.pool_h or self.pad >= self.pool_w):
            raise ValueError(
                f"Pooling: pad {self.pad} must be smaller than the {self.pool_h}x{self.pool_w} pool, "
                "so that every window holds an input value"
            )
        self.mode = mode
        self._x_shape: tuple[int, ...] | None = None
        self._arg: np.ndarray | None = None  # max: the offset of each window's maximum, (C, N, OH, OW)

    def output_shape(self, x_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """The output's shape for an input of ``x_shape`` (N, C, H, W)."""
        n, c, h, w = x_shape
        hp, wp = h + 2 * self.pad, w + 2 * self.pad
        if self.pool_h > hp or self.pool_w > wp:
            raise ValueError(
                f"Pooling: the {self.pool_h}x{self.pool_w} pool is larger than the padded input {hp}x{wp} "
                f"(x.shape={tuple(x_shape)}, pad={self.pad})"
            )
        return n, c, out_size(h, self.pool_h, self.stride, self.pad), out_size(w, self.pool_w, self.stride, self.pad)

    def forward(self, x: Any) -> np.ndarray:
        x = _images(x, "Pooling")
        n, c, oh, ow = self.output_shape(x.shape)
        p = self.pad
        ws = self._ws
        x_cn = _channels_first(x)
        padded = None
        if p and ws is not None:
            padded = ws.array("padded", (c, n, x.shape[2] + 2 * p, x.shape[3] + 2 * p), x.dtype)
        xp = pad_images(x_cn, p, -np.inf if self.mode == "max" else 0, out=padded)
        slices = offset_slices(self.pool_h, self.pool_w, self.stride, oh, ow)
        rows, columns = slices[0]
        if ws is None:
            out = np.copy(xp[:, :, rows, columns], order="C")  # (C, N, OH, OW)
        else:
            out = ws.array("out", (c, n, oh, ow), x.dtype)
            np.copyto(out, xp[:, :, rows, columns])
        if self.mode == "max":
            # arg: the offset of each window's maximum so far. Offsets only grow, so "arg = k
            # where this offset is strictly greater" is max(arg, k·greater): ties keep the first
            # maximum (np.argmax's rule) and no masked assignment (slow in NumPy) is needed.
            arg_dtype = np.uint8 if len(slices) < 256 else np.intp
            if ws is None:
                arg = np.zeros(out.shape, dtype=arg_dtype)
                greater = np.empty(out.shape, dtype=bool)
                step = np.empty(out.shape, dtype=arg.dtype)
            else:
                arg = ws.array("arg", out.shape, arg_dtype)
                arg.fill(0)
                greater = ws.array("greater", out.shape, np.bool_)
                step = ws.array("step", out.shape, arg_dtype)
            for k, (rows, columns) in enumerate(slices[1:], start=1):
                window = xp[:, :, rows, columns]
                np.greater(window, out, out=greater)
                np.maximum(out, window, out=out)  # propagates NaN
                np.multiply(greater, arg.dtype.type(k), out=step)
                np.maximum(arg, step, out=arg)
            self._arg = arg
        else:
            for rows, columns in slices[1:]:
                out += xp[:, :, rows, columns]
            out /= self.pool_h * self.pool_w
        self._x_shape = x.shape
        return out.transpose(1, 0, 2, 3)

    #: max pooling's rule and average pooling's; ``rule`` is the one of this layer's mode
    MAX_RULE = LocalRule(
        inputs=("x",),
        forward="max pool({x})",
        grads=("{dout} to each window's maximum",),
        note="routes dout to the maximum of each window, 0 elsewhere",
    )
    AVG_RULE = LocalRule(
        inputs=("x",),
        forward="avg pool({x})",
        grads=("{dout} / {k} over each window",),
        note="spreads dout evenly over each window of k = pool_h·pool_w entries",
        terms={"k": "k"},
    )

    @property
    def rule(self) -> LocalRule:
        return self.MAX_RULE if self.mode == "max" else self.AVG_RULE

    def rule_values(self) -> dict[str, Any]:
        return {"k": self.pool_h * self.pool_w}

    def backward(self, dout: Any) -> np.ndarray:
        require_forward(self, "_x_shape")
        n, c, h, w = self._x_shape
        dout = _check_dout(dout, self.output_shape(self._x_shape), "Pooling")
        dout_cn = _channels_first(dout)
        oh, ow = dout_cn.shape[2:]
        p = self.pad
        shape = (c, n, h + 2 * p, w + 2 * p)
        dtype = np.result_type(dout.dtype, np.float32)
        # Windows that do not overlap (stride >= pool) write each pixel at most once: multiply
        # into place. When they tile the padded image exactly (the book's 2x2 pools of stride 2
        # on even sizes) every pixel is written, so the array need not be zeroed first.
        disjoint = self.stride >= self.pool_h and self.stride >= self.pool_w
        tiles = (
            self.stride == self.pool_h == self.pool_w and oh * self.stride == shape[2] and ow * self.stride == shape[3]
        )
        ws = self._ws
        if ws is None:
            dxp = np.empty(shape, dtype) if self.mode == "max" and tiles else np.zeros(shape, dtype)
        else:
            dxp = ws.array("dxp", shape, dtype)
            if not (self.mode == "max" and tiles):
                dxp.fill(0)
        slices = offset_slices(self.pool_h, self.pool_w, self.stride, oh, ow)
        if self.mode == "max":
            hit = np.empty(dout_cn.shape, dtype=bool) if ws is None else ws.array("hit", dout_cn.shape, np.bool_)
            part = None if disjoint or ws is None else ws.array("part", dout_cn.shape, dtype)
            # With a workspace the 0/1 mask is copied to floats first: multiplying floats by
            # booleans would allocate NumPy's cast buffer on every call.
            hit_f = None if ws is None else ws.array("hit_f", dout_cn.shape, dtype)
            for k, (rows, columns) in enumerate(slices):
                mask = np.equal(self._arg, k, out=hit)
                if hit_f is not None:
                    np.copyto(hit_f, hit)
                    mask = hit_f
                if disjoint:
                    np.multiply(dout_cn, mask, out=dxp[:, :, rows, columns])
                else:
                    dxp[:, :, rows, columns] += np.multiply(dout_cn, mask, out=part)
        else:
            share = np.divide(
                dout_cn, self.pool_h * self.pool_w, out=None if ws is None else ws.array("share", dout_cn.shape, dtype)
            )
            for rows, columns in slices:
                dxp[:, :, rows, columns] += share
        return dxp[:, :, p : p + h, p : p + w].transpose(1, 0, 2, 3)
