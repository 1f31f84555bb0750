"""Sliding windows over images: the book's ``im2col`` and ``col2im`` (chapter 7.4.3), and their fast core.

A convolution or pooling window of FH×FW positions slides over each padded image (N, C, H, W)
with a stride; there are OH×OW positions, ``OH = (H + 2·pad − FH) // stride + 1`` (same for W).

- :func:`im2col` lays every window out as one row, the book's ``(N·OH·OW, C·FH·FW)`` matrix;
  :func:`col2im` is its adjoint: it adds each row back to the pixels its window covered, so
  overlapping windows sum (⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩).
- :func:`patch_matrix` and :func:`scatter_patches` are the same two operations in the layout
  the layers use: the transpose, ``(C·FH·FW, N·OH·OW)``, built by FH·FW block copies (one per
  window offset) instead of one gather per window, and ``scatter_patches`` returns the image
  gradient with channels outermost in memory, the layout the convolution's backward reads
  without a copy. ``im2col``/``col2im`` call them: there is one implementation of each.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule._checks import check_int

__all__ = [
    "col2im",
    "conv_output_size",
    "im2col",
    "offset_slices",
    "out_size",
    "pad_images",
    "patch_matrix",
    "scatter_patches",
]


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> float:
    """The book's ``(input_size + 2·pad − filter_size) / stride + 1`` (a float, as the book's util returns it)."""
    return (input_size + 2 * pad - filter_size) / stride + 1


def out_size(size: int, window: int, stride: int, pad: int) -> int:
    """Window positions along one axis: ``(size + 2·pad − window) // stride + 1``."""
    return (size + 2 * pad - window) // stride + 1


def pad_images(x: np.ndarray, pad: int, fill: float = 0.0, out: np.ndarray | None = None) -> np.ndarray:
    """``x`` (N, C, H, W) with ``pad`` pixels of ``fill`` around each image (``x`` itself when
    ``pad`` is 0); ``out`` (N, C, H + 2·pad, W + 2·pad) receives it when given (its border is
    written every time: a workspace's contents may be stale). Any two leading axes will do:
    pooling pads images held as (C, N, H, W)."""
    if not pad:
        return x
    n, c, h, w = x.shape
    if out is None:
        xp = np.full((n, c, h + 2 * pad, w + 2 * pad), fill, dtype=x.dtype)
    else:
        xp = out
        xp[:, :, :pad] = fill
        xp[:, :, pad + h :] = fill
        xp[:, :, pad : pad + h, :pad] = fill
        xp[:, :, pad : pad + h, pad + w :] = fill
    xp[:, :, pad : pad + h, pad : pad + w] = x
    return xp


def offset_slices(fh: int, fw: int, stride: int, oh: int, ow: int) -> list[tuple[slice, slice]]:
    """For each window offset (i, j), in row-major order, the strided slices of a padded image
    that hold that offset's pixel of every window: rows ``i, i + stride, ...`` (OH of them)."""
    return [
        (slice(i, i + stride * (oh - 1) + 1, stride), slice(j, j + stride * (ow - 1) + 1, stride))
        for i in range(fh)
        for j in range(fw)
    ]


def patch_matrix(
    x: np.ndarray,
    fh: int,
    fw: int,
    stride: int = 1,
    pad: int = 0,
    *,
    out: np.ndarray | None = None,
    padded: np.ndarray | None = None,
) -> np.ndarray:
    """Every window of ``x`` (N, C, H, W) as a column: ``(C·FH·FW, N·OH·OW)``.

    Row ``(c, i, j)``, column ``(n, oh, ow)`` holds ``x_padded[n, c, oh·stride + i, ow·stride + j]``;
    zero padding. One block copy per window offset (FH·FW of them). A new array, or ``out``
    (C, FH, FW, N, OH, OW) when given, with ``padded`` (N, C, H + 2·pad, W + 2·pad) for the
    padded image (a layer's workspace).
    """
    n, c, h, w = x.shape
    oh, ow = out_size(h, fh, stride, pad), out_size(w, fw, stride, pad)
    xp = pad_images(x, pad, out=padded)
    cols = np.empty((c, fh, fw, n, oh, ow), dtype=xp.dtype) if out is None else out
    for k, (rows, columns) in enumerate(offset_slices(fh, fw, stride, oh, ow)):
        cols[:, k // fw, k % fw] = xp[:, :, rows, columns].transpose(1, 0, 2, 3)
    return cols.reshape(c * fh * fw, n * oh * ow)


def scatter_patches(
    cols: np.ndarray,
    x_shape: tuple[int, ...],
    fh: int,
    fw: int,
    stride: int = 1,
    pad: int = 0,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The adjoint of :func:`patch_matrix`: add each column back onto the pixels its window covers.

    ``cols`` (C·FH·FW, N·OH·OW) → an array of shape ``x_shape`` (N, C, H, W); overlapping windows
    are summed and padding is cut off. The result is a new array whose memory holds channels
    outermost (a transposed view of a (C, N, H, W) array), or a view of ``out`` (C, N,
    H + 2·pad, W + 2·pad) when given (a layer's workspace; it is zeroed first).
    """
    n, c, h, w = x_shape
    oh, ow = out_size(h, fh, stride, pad), out_size(w, fw, stride, pad)
    blocks = cols.reshape(c, fh, fw, n, oh, ow)
    if out is None:
        dxp = np.zeros((c, n, h + 2 * pad, w + 2 * pad), dtype=cols.dtype)
    else:
        dxp = out
        dxp.fill(0)
    for k, (rows, columns) in enumerate(offset_slices(fh, fw, stride, oh, ow)):
        dxp[:, :, rows, columns] += blocks[:, k // fw, k % fw]
    return dxp[:, :, pad : pad + h, pad : pad + w].transpose(1, 0, 2, 3)


def _check_window_args(shape: tuple[int, ...], fh: Any, fw: Any, stride: Any, pad: Any, where: str) -> None:
    if len(shape) != 4:
        raise ValueError(f"{where}: expected images of shape (N, C, H, W), got shape {shape}")
    check_int(fh, "filter_h", where)
    check_int(fw, "filter_w", where)
    check_int(stride, "stride", where)
    check_int(pad, "pad", where, minimum=0)
    h, w = shape[2] + 2 * pad, shape[3] + 2 * pad
    if fh > h or fw > w:
        raise ValueError(f"{where}: the {fh}x{fw} window is larger than the padded input {h}x{w} (shape {shape})")


def im2col(input_data: Any, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """The book's im2col: images (N, C, H, W) → one row per window, ``(N·OH·OW, C·FH·FW)``.

    Row ``(n, oh, ow)`` lists the window's pixels channel by channel, each channel's FH×FW in
    row-major order (the book's column order); zero padding; OH, OW rounded down as in the book.
    """
    x = np.asarray(input_data)
    _check_window_args(x.shape, filter_h, filter_w, stride, pad, "im2col")
    return np.ascontiguousarray(patch_matrix(x, filter_h, filter_w, stride, pad).T)


def col2im(
    col: Any, input_shape: tuple[int, ...], filter_h: int, filter_w: int, stride: int = 1, pad: int = 0
) -> np.ndarray:
    """The book's col2im, the adjoint of :func:`im2col`: ``(N·OH·OW, C·FH·FW)`` → images ``input_shape``.

    Each row is added back onto the pixels of its window, so where windows overlap their
    contributions are summed (the book's code does the same); padding is cut off.
    """
    col = np.asarray(col)
    shape = tuple(int(s) for s in input_shape)
    _check_window_args(shape, filter_h, filter_w, stride, pad, "col2im")
    n, c, h, w = shape
    expected = (n * out_size(h, filter_h, stride, pad) * out_size(w, filter_w, stride, pad), c * filter_h * filter_w)
    if col.shape != expected:
        raise ValueError(f"col2im: expected col of shape {expected} for images {shape}, got {col.shape}")
    return np.ascontiguousarray(scatter_patches(col.T, shape, filter_h, filter_w, stride, pad))
