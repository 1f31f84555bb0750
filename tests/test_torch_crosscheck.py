"""Cross-checks against torch.autograd (float64): every chapter-5 layer, TwoLayerNet, and chapter 7's
convolution and pooling over random shapes, strides and paddings."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chainrule import AddLayer, Affine, MulLayer, Relu, Sigmoid, SoftmaxWithLoss, TwoLayerNet
from chainrule.layers import Convolution, Pooling, Tanh

torch = pytest.importorskip("torch")


def t64(a, grad=True):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def assert_close(ours, theirs):
    theirs = theirs.detach().numpy()
    assert np.shape(ours) == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("xs", "ys"), [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((4, 3), ())])
def test_mul_and_add(xs, ys):
    r = np.random.default_rng(0)
    x, y = r.standard_normal(xs), r.standard_normal(ys)
    dout = r.standard_normal(np.broadcast_shapes(xs, ys))
    for layer, op in ((MulLayer(), torch.mul), (AddLayer(), torch.add)):
        tx, ty = t64(x), t64(y)
        out = op(tx, ty)
        out.backward(torch.tensor(dout))
        assert_close(layer.forward(x, y), out)
        dx, dy = layer.backward(dout)
        assert_close(dx, tx.grad)
        assert_close(dy, ty.grad)


@pytest.mark.parametrize(("layer", "fn"), [(Relu(), torch.relu), (Sigmoid(), torch.sigmoid), (Tanh(), torch.tanh)])
def test_activations(layer, fn):
    r = np.random.default_rng(1)
    x = r.standard_normal((5, 6)) * 4
    x[0, :3] = [-1000.0, 1000.0, 0.5]
    dout = r.standard_normal(x.shape)
    tx = t64(x)
    out = fn(tx)
    out.backward(torch.tensor(dout))
    assert_close(layer.forward(x), out)
    assert_close(layer.backward(dout), tx.grad)


def test_affine_with_image_input():
    r = np.random.default_rng(2)
    x, W, b = r.standard_normal((4, 2, 3)), r.standard_normal((6, 5)), r.standard_normal(5)
    dout = r.standard_normal((4, 5))
    tx, tW, tb = t64(x), t64(W), t64(b)
    out = tx.reshape(4, -1) @ tW + tb
    out.backward(torch.tensor(dout))
    layer = Affine(W, b)
    assert_close(layer.forward(x), out)
    assert_close(layer.backward(dout), tx.grad)
    assert_close(layer.dW, tW.grad)
    assert_close(layer.db, tb.grad)


@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_with_loss(one_hot):
    r = np.random.default_rng(3)
    x = r.standard_normal((6, 4)) * 5
    t = r.integers(0, 4, 6)
    tx = t64(x)
    loss = torch.nn.functional.cross_entropy(tx, torch.tensor(t))
    (loss * 1.7).backward()
    layer = SoftmaxWithLoss()
    assert layer.forward(x, np.eye(4)[t] if one_hot else t) == pytest.approx(loss.item(), rel=1e-12)
    assert_close(layer.backward(1.7), tx.grad)


def test_two_layer_net_gradient():
    net = TwoLayerNet(10, 7, 4, weight_init_std=0.5, seed=0)
    r = np.random.default_rng(4)
    x, t = r.random((8, 10)), r.integers(0, 4, 8)
    W1, b1, W2, b2 = (t64(net.params[k]) for k in ("W1", "b1", "W2", "b2"))
    scores = torch.relu(torch.tensor(x) @ W1 + b1) @ W2 + b2
    loss = torch.nn.functional.cross_entropy(scores, torch.tensor(t))
    loss.backward()
    assert net.loss(x, t) == pytest.approx(loss.item(), rel=1e-12)
    grads = net.gradient(x, t)
    for name, tensor in zip(("W1", "b1", "W2", "b2"), (W1, b1, W2, b2), strict=True):
        assert_close(grads[name], tensor.grad)


# --------------------------------------------------------------------------------------------
# Chapter 7: convolution and pooling against torch.nn.functional, over random shapes
# --------------------------------------------------------------------------------------------


F = torch.nn.functional


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    fn=st.integers(1, 4),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    fh=st.integers(1, 4),
    fw=st.integers(1, 4),
    stride=st.integers(1, 3),
    pad=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_convolution_against_torch(n, c, fn, h, w, fh, fw, stride, pad, seed):
    assume(fh <= h + 2 * pad and fw <= w + 2 * pad)
    assume((h + 2 * pad - fh) % stride == 0 and (w + 2 * pad - fw) % stride == 0)  # chainrule requires whole sizes
    r = np.random.default_rng(seed)
    x, W, b = r.standard_normal((n, c, h, w)), r.standard_normal((fn, c, fh, fw)), r.standard_normal(fn)
    layer = Convolution(W, b, stride, pad)
    y = layer.forward(x)
    dout = r.standard_normal(y.shape)
    dx = layer.backward(dout)
    tx, tW, tb = t64(x), t64(W), t64(b)
    ty = F.conv2d(tx, tW, tb, stride=stride, padding=pad)
    ty.backward(torch.tensor(dout))
    assert_close(y, ty)
    assert_close(dx, tx.grad)
    assert_close(layer.dW, tW.grad)
    assert_close(layer.db, tb.grad)


@settings(max_examples=60, deadline=None)
@given(
    mode=st.sampled_from(["max", "avg"]),
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    ph=st.integers(1, 4),
    pw=st.integers(1, 4),
    stride=st.integers(1, 4),
    pad=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_pooling_against_torch(mode, n, c, h, w, ph, pw, stride, pad, seed):
    assume(2 * pad <= min(ph, pw))  # PyTorch's limit on padding
    assume(ph <= h + 2 * pad and pw <= w + 2 * pad)
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, c, h, w))
    layer = Pooling(ph, pw, stride, pad, mode=mode)
    y = layer.forward(x)
    dout = r.standard_normal(y.shape)
    dx = layer.backward(dout)
    tx = t64(x)
    pool = F.max_pool2d if mode == "max" else F.avg_pool2d
    ty = pool(tx, (ph, pw), stride=stride, padding=pad)
    ty.backward(torch.tensor(dout))
    assert_close(y, ty)
    assert_close(dx, tx.grad)
