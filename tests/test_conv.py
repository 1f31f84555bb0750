"""Chapter 7's layers and windows (chainrule.windows, chainrule.layers.conv): im2col/col2im as
adjoints, Convolution and Pooling against hand-computed values, central differences with a
random upstream gradient, the book's shapes, errors, dtypes, and no writing into inputs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule.gradcheck import check_layer
from chainrule.layers import Convolution, Pooling
from chainrule.windows import col2im, conv_output_size, im2col

RNG = np.random.default_rng(0)


def book_im2col(x, fh, fw, stride=1, pad=0):
    """The book's im2col (common/util.py), written out as a reference."""
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    col = np.zeros((n, c, fh, fw, oh, ow))
    for y in range(fh):
        for xx in range(fw):
            col[:, :, y, xx, :, :] = img[:, :, y : y + stride * oh : stride, xx : xx + stride * ow : stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)


# --------------------------------------------------------------------------------------------
# im2col / col2im
# --------------------------------------------------------------------------------------------


def test_im2col_is_the_books_layout():
    x = RNG.standard_normal((2, 3, 7, 6))
    for fh, fw, stride, pad in ((3, 3, 1, 0), (2, 3, 2, 1), (5, 5, 1, 2), (7, 6, 1, 0)):
        np.testing.assert_array_equal(im2col(x, fh, fw, stride, pad), book_im2col(x, fh, fw, stride, pad))
    # The book's worked example (7.4.3): one 3-channel 7x7 image, 5x5 filters → (9, 75); ten images → (90, 75).
    assert im2col(np.ones((1, 3, 7, 7)), 5, 5).shape == (9, 75)
    assert im2col(np.ones((10, 3, 7, 7)), 5, 5, stride=1, pad=0).shape == (90, 75)
    assert conv_output_size(28, 5) == 24 and conv_output_size(7, 3, stride=2, pad=1) == 4


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    h=st.integers(1, 8),
    w=st.integers(1, 8),
    fh=st.integers(1, 4),
    fw=st.integers(1, 4),
    stride=st.integers(1, 3),
    pad=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_col2im_is_the_adjoint_of_im2col(n, c, h, w, fh, fw, stride, pad, seed):
    if fh > h + 2 * pad or fw > w + 2 * pad:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    col = im2col(x, fh, fw, stride, pad)
    y = rng.standard_normal(col.shape)
    # <im2col(x), y> = <x, col2im(y)>: overlapping windows are summed, padding cut off.
    assert np.sum(col * y) == pytest.approx(np.sum(x * col2im(y, x.shape, fh, fw, stride, pad)), rel=1e-12, abs=1e-12)


def test_col2im_sums_overlapping_windows():
    # 3x3 windows with stride 1 over a 4x4 image: the centre pixels belong to four windows.
    ones = np.ones((4, 9))
    img = col2im(ones, (1, 1, 4, 4), 3, 3)
    np.testing.assert_array_equal(img[0, 0], [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])


def test_window_functions_check_their_arguments():
    with pytest.raises(ValueError, match=r"im2col: expected images of shape \(N, C, H, W\), got shape \(3, 4\)"):
        im2col(np.ones((3, 4)), 2, 2)
    with pytest.raises(ValueError, match="window is larger than the padded input 4x4"):
        im2col(np.ones((1, 1, 4, 4)), 5, 5)
    with pytest.raises(ValueError, match="stride must be a positive integer, got 0"):
        im2col(np.ones((1, 1, 4, 4)), 2, 2, stride=0)
    with pytest.raises(ValueError, match=r"col2im: expected col of shape \(9, 4\)"):
        col2im(np.ones((8, 4)), (1, 1, 4, 4), 2, 2)


# --------------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------------


def test_convolution_forward_by_hand():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    W = np.array([[[[1.0, 0.0], [0.0, -1.0]]], [[[1.0, 1.0], [1.0, 1.0]]]])  # (2, 1, 2, 2)
    b = np.array([0.5, -1.0])
    y = Convolution(W, b, stride=2).forward(x)
    assert y.shape == (1, 2, 2, 2)
    # filter 0: x[i, j] - x[i + 1, j + 1] = -5 everywhere; filter 1: the 2x2 sums.
    np.testing.assert_array_equal(y[0, 0], np.full((2, 2), -5.0 + 0.5))
    np.testing.assert_array_equal(y[0, 1], [[10 - 1, 18 - 1], [42 - 1, 50 - 1]])
    padded = Convolution(W[1:], b[1:], pad=1).forward(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(padded[0, 0], [[0, 1, 0], [1, 3, 1], [0, 1, 0]])


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "stride", "pad"),
    [
        ((2, 3, 6, 6), (4, 3, 3, 3), 1, 0),
        ((1, 2, 5, 7), (3, 2, 3, 2), 1, 1),  # batch of one, non-square input and filter
        ((2, 1, 7, 7), (2, 1, 3, 3), 2, 1),
        ((3, 2, 4, 4), (2, 2, 4, 4), 1, 0),  # the filter covers the whole image
        ((2, 2, 5, 5), (2, 2, 1, 1), 1, 0),
    ],
)
def test_convolution_passes_gradient_check(x_shape, w_shape, stride, pad):
    rng = np.random.default_rng(1)
    layer = Convolution(rng.standard_normal(w_shape), rng.standard_normal(w_shape[0]), stride, pad)
    report = check_layer(layer, rng.standard_normal(x_shape), seed=2)
    assert [c.name for c in report] == ["x", "W", "b"]


def test_convolution_keeps_dtype_leaves_inputs_alone_and_can_skip_dx():
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        W, b = rng.standard_normal((3, 2, 3, 3)).astype(dtype), rng.standard_normal(3).astype(dtype)
        x = rng.standard_normal((2, 2, 5, 5)).astype(dtype)
        layer = Convolution(W, b, pad=1)
        before = [a.copy() for a in (W, b, x)]
        y = layer.forward(x)
        dout = rng.standard_normal(y.shape).astype(dtype)
        dout_before = dout.copy()
        dx = layer.backward(dout)
        assert y.dtype == dx.dtype == layer.dW.dtype == layer.db.dtype == dtype
        assert dx.shape == x.shape and layer.dW.shape == W.shape and layer.db.shape == b.shape
        for a, a0 in zip((W, b, x, dout), (*before, dout_before), strict=True):
            np.testing.assert_array_equal(a, a0)
        dW = layer.dW.copy()
        assert layer.backward(dout, input_grad=False) is None
        np.testing.assert_array_equal(layer.dW, dW)


def test_convolution_errors_name_the_layer_and_the_shapes():
    layer = Convolution(np.ones((4, 3, 5, 5)), np.zeros(4))
    with pytest.raises(ValueError, match=r"Convolution: expected 3 input channels .* got 1 \(x.shape=\(2, 1, 9, 9\)\)"):
        layer.forward(np.ones((2, 1, 9, 9)))
    with pytest.raises(ValueError, match=r"the 5x5 filter is larger than the padded input 4x4"):
        layer.forward(np.ones((1, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"output height .* = 3.5 is not a whole number"):
        Convolution(np.ones((4, 3, 5, 5)), np.zeros(4), stride=2).forward(np.ones((1, 3, 10, 11)))
    with pytest.raises(ValueError, match=r"expected a batch of images \(N, C, H, W\), got x.shape=\(3, 9, 9\)"):
        layer.forward(np.ones((3, 9, 9)))
    with pytest.raises(ValueError, match=r"W must be a 4-D floating array \(FN, C, FH, FW\)"):
        Convolution(np.ones((4, 3, 5)), np.zeros(4))
    with pytest.raises(ValueError, match=r"b must be a floating array of shape \(4,\)"):
        Convolution(np.ones((4, 3, 5, 5)), np.zeros(3))
    with pytest.raises(RuntimeError, match="Convolution: backward"):
        Convolution(np.ones((4, 3, 5, 5)), np.zeros(4)).backward(np.ones((1, 4, 1, 1)))
    layer.forward(np.ones((1, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"Convolution: expected dout of shape \(1, 4, 1, 1\), got \(1, 4, 2, 2\)"):
        layer.backward(np.ones((1, 4, 2, 2)))


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------


def test_max_pooling_forward_and_backward_by_hand():
    x = np.array([[[[1.0, 2.0, 0.0, 1.0], [4.0, 3.0, 1.0, 1.0], [0.0, 0.0, 5.0, 6.0], [0.0, 0.0, 7.0, 8.0]]]])
    pool = Pooling(2, 2, stride=2)
    y = pool.forward(x)
    np.testing.assert_array_equal(y[0, 0], [[4, 1], [0, 8]])
    dx = pool.backward(np.array([[[[10.0, 20.0], [30.0, 40.0]]]]))
    # Each window's gradient goes to its maximum; ties (the 1s, the 0s) to the first in row-major order.
    np.testing.assert_array_equal(dx[0, 0], [[0, 0, 0, 20], [10, 0, 0, 0], [30, 0, 0, 0], [0, 0, 0, 40]])


def test_average_pooling_and_overlapping_windows():
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    avg = Pooling(2, 2, stride=1, mode="avg")
    np.testing.assert_array_equal(avg.forward(x)[0, 0], [[2, 3], [5, 6]])
    np.testing.assert_array_equal(
        avg.backward(np.ones((1, 1, 2, 2)))[0, 0], [[0.25, 0.5, 0.25], [0.5, 1, 0.5], [0.25, 0.5, 0.25]]
    )
    mx = Pooling(2, 2, stride=1)
    np.testing.assert_array_equal(mx.forward(x)[0, 0], [[4, 5], [7, 8]])
    np.testing.assert_array_equal(mx.backward(np.ones((1, 1, 2, 2)))[0, 0], [[0, 0, 0], [0, 1, 1], [0, 1, 1]])
    # Max pooling pads with -inf: a negative image keeps its own maximum at the border.
    neg = -np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(Pooling(2, 2, stride=2, pad=1).forward(neg)[0, 0], [[-1, -2], [-3, -4]])
    # Rows that do not fill a window are dropped, as in the book and PyTorch.
    assert Pooling(2, 2, stride=2).forward(np.ones((2, 3, 7, 5))).shape == (2, 3, 3, 2)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize(
    ("x_shape", "pool", "stride", "pad"),
    [
        ((2, 3, 4, 6), (2, 2), 2, 0),
        ((1, 2, 5, 5), (3, 3), 1, 1),
        ((2, 1, 7, 6), (2, 3), 2, 1),
        ((1, 1, 3, 3), (3, 3), 1, 0),
    ],
)
def test_pooling_passes_gradient_check(mode, x_shape, pool, stride, pad):
    # Distinct values: max pooling's derivative is undefined where two entries tie.
    x = np.random.default_rng(4).permutation(np.prod(x_shape)).reshape(x_shape) / 7.0
    check_layer(Pooling(*pool, stride, pad, mode=mode), x, seed=5)


def test_pooling_keeps_dtype_and_inputs_and_checks_arguments():
    x = RNG.standard_normal((2, 2, 4, 4)).astype(np.float32)
    before = x.copy()
    pool = Pooling(2, 2, stride=2)
    y = pool.forward(x)
    dout = np.ones_like(y)
    dx = pool.backward(dout)
    assert y.dtype == dx.dtype == np.float32 and dx.shape == x.shape
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(dout, 1)
    with pytest.raises(ValueError, match="mode must be one of max, avg, got 'min'"):
        Pooling(2, 2, mode="min")
    with pytest.raises(ValueError, match="pad 2 must be smaller than the 2x2 pool"):
        Pooling(2, 2, pad=2)
    with pytest.raises(ValueError, match=r"the 5x5 pool is larger than the padded input 4x4"):
        Pooling(5, 5).forward(x)
    with pytest.raises(RuntimeError, match="Pooling: backward"):
        Pooling(2, 2).backward(dout)
    with pytest.raises(ValueError, match=r"Pooling: expected dout of shape \(2, 2, 2, 2\)"):
        pool.backward(np.ones((2, 2, 3, 3)))
