"""Network.gradient's reused buffers (layers/base.py's Workspace): the same numbers as fresh
arrays, the documented contract of the returned gradients, and a steady step that allocates
nothing of a parameter's or an activation's size (measured with tracemalloc: deterministic)."""

from __future__ import annotations

import numpy as np
import pytest

from allocation import numpy_buffer_bound, peak_step_bytes, without_workspaces
from chainrule.layers import Relu
from chainrule.layers.base import Workspace
from chainrule.models import DeepConvNet, MultiLayerNet, SimpleConvNet, TwoLayerNet
from chainrule.optim import SGD, Adam

F32 = np.float32


def fresh_gradient(net, x, t):
    """Network.gradient's sequence with no workspace: every layer returns new arrays."""
    net.last_layer.forward(net.predict(x, True), t)
    dout = net.last_layer.backward(1)
    layers = list(net.layers.values())
    for layer in layers[:0:-1]:
        dout = layer.backward(dout)
    layers[0].backward(dout, input_grad=False)
    grads = {}
    for key, layer, name, attr in net._grad_refs:
        grads[key] = np.array(getattr(layer, attr) if attr else layer.grads[name])
    for key in net._decayed if net.weight_decay else ():
        grads[key] = grads[key] + net.weight_decay * net.params[key]
    return grads


def mlp(**kwargs):
    return MultiLayerNet(12, [9, 7], 4, weight_init=0.5, seed=3, **kwargs)


MODELS = {
    "two-layer": lambda: TwoLayerNet(12, 9, 4, weight_init_std=0.5, seed=1),
    "two-layer-f32": lambda: TwoLayerNet(12, 9, 4, weight_init_std=0.5, dtype=F32, seed=1),
    "mlp": lambda: mlp(),
    "mlp-sigmoid": lambda: mlp(activation="sigmoid"),
    "mlp-tanh": lambda: mlp(activation="tanh"),
    "mlp-batchnorm": lambda: mlp(batch_norm=True),
    "mlp-dropout": lambda: mlp(dropout=0.3),
    "mlp-everything": lambda: mlp(batch_norm=True, dropout=0.3, weight_decay=0.1, dtype=F32),
    "simple-conv": lambda: SimpleConvNet(
        input_dim=(1, 10, 10),
        conv_param={"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 1},
        hidden_size=6,
        output_size=4,
        seed=2,
    ),
}


def batches(net, sizes, seed=0):
    r = np.random.default_rng(seed)
    shape = net.input_shape
    return [(r.standard_normal((n, *shape)), r.integers(0, 4, n)) for n in sizes]


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("one_hot", [False, True])
def test_gradient_with_workspaces_equals_fresh_arrays_bit_for_bit(name, one_hot):
    net = MODELS[name]()
    twin = net.copy()  # same parameters, buffers and dropout generator state
    opt, twin_opt = SGD(lr=0.1), SGD(lr=0.1)
    # a full batch, a smaller last batch (a view of the buffers), the full size again
    for x, t in batches(net, [8, 5, 8]):
        labels = np.eye(4, dtype=net.dtype)[t] if one_hot else t
        grads = net.gradient(x, labels)
        expected = fresh_gradient(twin, x, labels)
        assert list(grads) == list(expected)
        for key in expected:
            np.testing.assert_array_equal(grads[key], expected[key], err_msg=f"{name}: {key}")
            assert grads[key].dtype == expected[key].dtype and grads[key].shape == expected[key].shape
        assert net.last_layer.loss == twin.last_layer.loss
        opt.update(net.params, grads)
        twin_opt.update(twin.params, expected)
    for key in net.buffers:  # batch normalization's running statistics moved alike
        np.testing.assert_array_equal(net.buffers[key], twin.buffers[key])


def test_deep_convnet_gradient_with_workspaces_equals_fresh_arrays():
    net = DeepConvNet(dtype=F32, seed=0)
    twin = net.copy()
    r = np.random.default_rng(5)
    for n in (3, 2):
        x, t = r.random((n, 1, 28, 28), dtype=F32), r.integers(0, 10, n)
        grads, expected = net.gradient(x, t), fresh_gradient(twin, x, t)
        for key in expected:
            np.testing.assert_array_equal(grads[key], expected[key], err_msg=key)


def test_gradients_are_reused_buffers_and_copy_true_gives_fresh_arrays():
    net = MODELS["two-layer"]()
    (x1, t1), (x2, t2) = batches(net, [6, 6])
    first = net.gradient(x1, t1)
    kept = {k: g.copy() for k, g in first.items()}
    second = net.gradient(x2, t2)
    # The documented contract: the same arrays, overwritten by the next call (PyTorch's .grad).
    assert all(first[k] is second[k] for k in first)
    assert not np.array_equal(first["W1"], kept["W1"])
    own = net.gradient(x1, t1, copy=True)
    for k in kept:
        np.testing.assert_array_equal(own[k], kept[k])
        assert own[k] is not second[k]
    net.gradient(x2, t2)
    np.testing.assert_array_equal(own["W1"], kept["W1"])  # copies survive the next call


def test_modifying_returned_gradients_does_not_change_the_next_step():
    net = MODELS["mlp-everything"]()
    twin = net.copy()
    (x1, t1), (x2, t2) = batches(net, [7, 7])
    for g in net.gradient(x1, t1).values():
        g *= 1e6  # gradient clipping or scaling done in place by a caller
        g[...] = np.nan
    twin.gradient(x1, t1)
    after, expected = net.gradient(x2, t2), twin.gradient(x2, t2, copy=True)
    for k in expected:
        np.testing.assert_array_equal(after[k], expected[k])


def test_outside_gradient_layers_return_fresh_arrays():
    net = MODELS["mlp-dropout"]()
    (x1, t1), (x2, _) = batches(net, [5, 5])
    net.gradient(x1, t1)
    assert all(layer._ws is None for layer in net.layers.values())
    y1 = net.predict(x1)
    kept = y1.copy()
    net.predict(x2)
    net.gradient(x2, t1)
    np.testing.assert_array_equal(y1, kept)  # predict's result is the caller's own array
    relu = net.layers["Activation1"] if "Activation1" in net.layers else Relu()
    a = relu.forward(np.array([[1.0, -1.0]]))
    relu.forward(np.array([[-3.0, 4.0]]))
    np.testing.assert_array_equal(a, [[1.0, 0.0]])


def test_an_error_inside_gradient_still_detaches_the_workspaces():
    net = MODELS["two-layer"]()
    x, t = batches(net, [4])[0]
    with pytest.raises(ValueError, match="labels"):
        net.gradient(x, t + 10)
    assert all(layer._ws is None for layer in (*net.layers.values(), net.last_layer))
    np.testing.assert_array_equal(net.gradient(x, t)["W1"], fresh_gradient(net.copy(), x, t)["W1"])


def test_a_replaced_layer_gets_its_own_workspace():
    net = MODELS["two-layer"]()
    x, t = batches(net, [4])[0]
    net.gradient(x, t)
    old = net.layers["Relu1"]
    net.layers["Relu1"] = Relu()
    grads = net.gradient(x, t)
    assert old._ws is None and net.layers["Relu1"]._ws is None
    np.testing.assert_array_equal(grads["W1"], fresh_gradient(net.copy(), x, t)["W1"])


def test_workspace_reuses_arrays_and_views_the_rows_of_a_larger_one():
    ws = Workspace()
    a = ws.array("h", (10, 3), F32)
    assert ws.array("h", (10, 3), F32) is a
    small = ws.array("h", (4, 3), F32)
    assert small.base is a and small.shape == (4, 3)
    assert ws.array("h", (10, 3), F32) is a  # the larger array stays
    b = ws.array("h", (12, 3), F32)  # larger than kept: a new one, kept from now on
    assert b is not a and ws.array("h", (12, 3), F32) is b
    assert ws.array("h", (12, 3), np.float64) is not b  # another dtype
    t = np.empty((2, 3, 4, 5), F32).transpose(1, 0, 2, 3)  # channels outermost in memory
    like = ws.like("y", t)
    assert like.strides == t.strides and ws.like("y", t) is like
    assert ws.like("y", np.empty(t.shape, F32)) is not like  # another layout
    assert ws.nbytes == 12 * 3 * 8 + t.nbytes  # what is kept now: the float64 "h" and the last "y"


# ------------------------------------------------------------------------------------------
# Allocation: a steady step allocates no array of a parameter's or an activation's size
# ------------------------------------------------------------------------------------------


#: name → (network, batch size, entries of its first hidden activation)
ALLOC_MODELS = {
    "two-layer": (lambda: TwoLayerNet(784, 300, 10, dtype=F32, seed=0), 200, 300),
    "mlp": (lambda: MultiLayerNet(784, [300, 300], 10, dtype=F32, seed=0), 200, 300),
    "mlp-batchnorm-dropout": (
        lambda: MultiLayerNet(784, [300, 300], 10, batch_norm=True, dropout=0.2, weight_decay=0.01, dtype=F32, seed=0),
        200,
        300,
    ),
    "mlp-tanh-float64": (lambda: MultiLayerNet(784, [300], 10, activation="tanh", seed=0), 200, 300),
    "simple-conv": (lambda: SimpleConvNet(dtype=F32, seed=0), 40, 30 * 24 * 24),
}


@pytest.mark.parametrize("name", list(ALLOC_MODELS))
@pytest.mark.parametrize("one_hot", [False, True])
def test_a_steady_training_step_allocates_nothing_of_a_parameters_size(name, one_hot):
    make, batch, hidden = ALLOC_MODELS[name]
    net = make()
    r = np.random.default_rng(1)
    x = r.random((batch * 2, *net.input_shape)).astype(net.dtype)
    t = r.integers(0, 10, batch * 2)
    labels = np.eye(10, dtype=net.dtype)[t] if one_hot else t
    peak = peak_step_bytes(net, x, labels, SGD(lr=0.01), batch=batch)
    bound = numpy_buffer_bound(net.dtype)
    weights = max(p.nbytes for p in net.params.values())
    activation = batch * hidden * net.dtype.itemsize
    assert min(weights, activation) > 2 * bound  # the bound can tell: any such array would show
    assert peak <= bound, f"{name}: a steady step's allocations peaked at {peak:,} bytes (bound {bound:,})"
    # Adam's state and scratch are made on its first update, then reused too.
    assert peak_step_bytes(net, x, labels, Adam(), batch=batch) <= bound


def test_before_workspaces_the_same_step_allocated_the_gradients():
    # The measurement can fail: with the workspaces detached (a layer called by hand keeps
    # returning new arrays), the very same step shows W1's gradient, 784×300 float32.
    net = without_workspaces(ALLOC_MODELS["two-layer"][0]())  # every layer allocates as before
    r = np.random.default_rng(1)
    x, t = r.random((400, 784), dtype=F32), r.integers(0, 10, 400)
    assert peak_step_bytes(net, x, t, SGD(lr=0.01), batch=200) >= net.params["W1"].nbytes
