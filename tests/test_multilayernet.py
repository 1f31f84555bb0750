"""models.py, chapter 6: MultiLayerNet (structure, gradients, modes, state, determinism, training)."""

import json

import numpy as np
import pytest

from chainrule import TwoLayerNet, gradient_check
from chainrule.layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, Tanh
from chainrule.models import MODELS, MultiLayerNet, build_model, init_weight
from chainrule.optim import make_optimizer


def small_batch(n=6, d=5, c=3, seed=0):
    r = np.random.default_rng(seed)
    return r.standard_normal((n, d)), r.integers(0, c, n)


def blobs(n_per_class=30, seed=0):
    """Three well-separated Gaussian blobs in 2-D: a tiny, linearly separable problem."""
    r = np.random.default_rng(seed)
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    x = np.concatenate([c + 0.6 * r.standard_normal((n_per_class, 2)) for c in centers])
    t = np.repeat(np.arange(3), n_per_class)
    return x, t


# --- structure ------------------------------------------------------------------------------


def test_structure_params_layers_and_buffers():
    net = MultiLayerNet(5, [4, 3], 2, "tanh", batch_norm=True, dropout=0.2, seed=0)
    assert list(net.params) == ["W1", "b1", "W2", "b2", "W3", "b3", "gamma1", "beta1", "gamma2", "beta2"]
    assert [net.params[f"W{i}"].shape for i in (1, 2, 3)] == [(5, 4), (4, 3), (3, 2)]
    assert net.params["gamma2"].shape == (3,) and np.all(net.params["gamma2"] == 1) and not np.any(net.params["beta1"])
    assert list(net.layers) == [
        "Affine1",
        "BatchNorm1",
        "Activation1",
        "Dropout1",
        "Affine2",
        "BatchNorm2",
        "Activation2",
        "Dropout2",
        "Affine3",
    ]
    kinds = [Affine, BatchNormalization, Tanh, Dropout] * 2 + [Affine]
    assert all(type(layer) is kind for layer, kind in zip(net.layers.values(), kinds, strict=True))
    assert type(net.last_layer).__name__ == "SoftmaxWithLoss"
    # One owner per array: layers hold the very arrays of params and buffers.
    assert net.layers["Affine2"].W is net.params["W2"] and net.layers["BatchNorm1"].beta is net.params["beta1"]
    assert list(net.buffers) == ["running_mean1", "running_var1", "running_mean2", "running_var2"]
    assert net.buffers["running_var2"] is net.layers["BatchNorm2"].running_var
    assert all(layer.rng is net.rng for layer in net.layers.values() if isinstance(layer, Dropout))


def test_plain_net_has_no_optional_layers():
    net = MultiLayerNet(4, [3], 2, "sigmoid", seed=0)
    assert list(net.layers) == ["Affine1", "Activation1", "Affine2"]
    assert isinstance(net.layers["Activation1"], Sigmoid) and net.buffers == {}
    assert isinstance(MultiLayerNet(4, [3], 2, seed=0).layers["Activation1"], Relu)
    softmax_regression = MultiLayerNet(4, [], 2, seed=0)
    assert list(softmax_regression.layers) == ["Affine1"] and list(softmax_regression.params) == ["W1", "b1"]


def test_weight_init_choices_and_book_aliases():
    def w1(init):
        return MultiLayerNet(400, [300], 2, weight_init=init, seed=1).params["W1"]

    np.testing.assert_array_equal(w1("relu"), w1("he"))
    np.testing.assert_array_equal(w1("sigmoid"), w1("xavier"))
    assert np.std(w1("he")) == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    assert np.std(w1("xavier")) == pytest.approx(np.sqrt(1 / 400), rel=0.02)
    assert np.std(w1(0.01)) == pytest.approx(0.01, rel=0.02)
    r = np.random.default_rng(0)
    assert init_weight(r, 10, 3, "ReLU", np.dtype(np.float64)).shape == (10, 3)


# --- gradients ------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize(
    "options",
    [{}, {"batch_norm": True}, {"weight_decay": 0.1}, {"batch_norm": True, "weight_decay": 0.05, "dropout": 0.3}],
)
def test_gradient_check(activation, options):
    net = MultiLayerNet(5, [6, 4], 3, activation, weight_init=0.8, seed=2, **options)
    x, t = small_batch(n=7, seed=3)
    before = {k: v.copy() for k, v in [*net.params.items(), *net.buffers.items()]}
    rng_state = net.rng.bit_generator.state
    report = gradient_check(net, x, t, raise_on_failure=True)
    # Relative to each gradient's own scale (b{i} feeding a BatchNorm has gradient ~0: it
    # passes on the absolute tolerance).
    assert all(c.max_abs_diff < 1e-8 for c in report)
    # gradient_check leaves the network as it was: parameters, running statistics, generator.
    for k, v in [*net.params.items(), *net.buffers.items()]:
        np.testing.assert_array_equal(v, before[k])
    assert net.rng.bit_generator.state == rng_state


def test_gradient_check_without_hidden_layers():
    net = MultiLayerNet(5, [], 3, weight_decay=0.2, seed=0)  # softmax regression
    x, t = small_batch()
    assert gradient_check(net, x, t).passed


def test_gradient_check_of_a_float32_net_runs_on_a_float64_copy():
    net = MultiLayerNet(5, [4], 3, batch_norm=True, dtype=np.float32, seed=0)
    x, t = small_batch()
    assert gradient_check(net, x, t).passed
    assert net.params["W1"].dtype == np.float32


def test_numerical_gradient_is_well_defined_with_dropout():
    net = MultiLayerNet(5, [6], 3, dropout=0.5, seed=4)
    x, t = small_batch()
    a, b = net.numerical_gradient(x, t), net.numerical_gradient(x, t)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])  # no mask is drawn: same answer every time
    with net.frozen():
        grads = net.gradient(x, t)
    for k in a:
        np.testing.assert_allclose(grads[k], a[k], rtol=1e-6, atol=1e-9)
    # Outside frozen(), gradient draws masks: it differs from call to call (copy=True keeps
    # the first call's arrays, which the second call would otherwise overwrite).
    assert not np.array_equal(net.gradient(x, t, copy=True)["W1"], net.gradient(x, t)["W1"])


def test_weight_decay_adds_half_lambda_squared_norm_and_lambda_w():
    x, t = small_batch()
    plain = MultiLayerNet(5, [4, 4], 3, seed=5)
    decayed = MultiLayerNet(5, [4, 4], 3, weight_decay=0.3, seed=5)
    norm2 = sum(float(np.sum(plain.params[f"W{i}"] ** 2)) for i in (1, 2, 3))
    assert decayed.loss(x, t) == pytest.approx(plain.loss(x, t) + 0.15 * norm2, rel=1e-12)
    g0, g1 = plain.gradient(x, t), decayed.gradient(x, t)
    for k in g0:
        expected = g0[k] + 0.3 * plain.params[k] if k.startswith("W") else g0[k]
        np.testing.assert_allclose(g1[k], expected, rtol=1e-12, atol=1e-15)
    # The decay term is added to a new array: the layer's own dW is the data gradient.
    np.testing.assert_allclose(decayed.layers["Affine1"].dW, g0["W1"], rtol=1e-12)


# --- modes ----------------------------------------------------------------------------------


def test_dropout_acts_in_training_only():
    x, t = small_batch(n=20)
    with_dropout = MultiLayerNet(5, [30, 30], 3, dropout=0.5, seed=6)
    without = MultiLayerNet(5, [30, 30], 3, seed=6)  # dropout layers draw nothing at init
    np.testing.assert_array_equal(with_dropout.predict(x), without.predict(x))
    np.testing.assert_array_equal(with_dropout.predict(x), with_dropout.predict(x, train_flg=False))
    assert with_dropout.accuracy(x, t) == without.accuracy(x, t)
    train1 = with_dropout.predict(x, train_flg=True)
    train2 = with_dropout.predict(x, train_flg=True)
    assert not np.array_equal(train1, train2)
    hidden = with_dropout.layers["Dropout1"]._mask
    assert hidden is not None and 0.3 < np.mean(hidden == 0) < 0.7


def test_batchnorm_trains_running_statistics_and_evaluates_with_them():
    net = MultiLayerNet(3, [4], 2, batch_norm=True, seed=7)
    rm = net.buffers["running_mean1"]
    r = np.random.default_rng(7)
    x = 5 + 2 * r.standard_normal((8, 3))
    t = r.integers(0, 2, 8)
    net.predict(x)  # evaluation: the running statistics stay put
    np.testing.assert_array_equal(rm, 0)
    net.gradient(x, t)  # training: they move, in place
    assert net.buffers["running_mean1"] is rm and np.any(rm != 0)
    h = x @ net.params["W1"] + net.params["b1"]
    np.testing.assert_allclose(rm, 0.1 * h.mean(axis=0), rtol=1e-12)
    # Evaluation normalizes with the running statistics, so one sample gives the same scores
    # alone as in a batch; training mode normalizes with the batch's own statistics.
    np.testing.assert_allclose(net.predict(x[:1]), net.predict(x)[:1], rtol=1e-12)
    assert not np.allclose(net.predict(x, train_flg=True)[:2], net.predict(x[:2], train_flg=True))


def test_buffers_restore_in_place():
    net = MultiLayerNet(3, [4], 2, batch_norm=True, seed=0)
    arr = net.buffers["running_var1"]
    net.buffers["running_var1"] = np.full(4, 2.0)  # what a checkpoint load does
    assert net.buffers["running_var1"] is arr and np.all(arr == 2.0)
    assert net.layers["BatchNorm1"].running_var is arr
    with pytest.raises(ValueError, match=r"params\['running_var1'\]: expected shape \(4,\), got \(3,\)"):
        net.buffers["running_var1"] = np.ones(3)


# --- determinism, copies, configs -----------------------------------------------------------


def test_same_seed_same_run():
    x, t = small_batch(n=10)

    def run(seed):
        net = MultiLayerNet(5, [8, 8], 3, batch_norm=True, dropout=0.3, seed=seed)
        opt = make_optimizer("adam", lr=0.01)
        for _ in range(5):
            opt.update(net.params, net.gradient(x, t))
        return net

    a, b = run(11), run(11)
    c = run(np.random.default_rng(11))
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
        np.testing.assert_array_equal(a.params[k], c.params[k])
    for k in a.buffers:
        np.testing.assert_array_equal(a.buffers[k], b.buffers[k])
    assert not np.array_equal(a.params["W1"], run(12).params["W1"])


def test_copy_carries_params_buffers_and_generator():
    x, t = small_batch(n=10)
    net = MultiLayerNet(5, [6], 3, batch_norm=True, dropout=0.4, dtype=np.float32, seed=8)
    net.gradient(x, t)  # move the running statistics and the generator
    twin = net.copy()
    assert twin.config == net.config and twin.dtype == np.float32
    for k in net.params:
        assert twin.params[k] is not net.params[k]
        np.testing.assert_array_equal(twin.params[k], net.params[k])
    for k in net.buffers:
        assert twin.buffers[k] is not net.buffers[k]
        np.testing.assert_array_equal(twin.buffers[k], net.buffers[k])
    assert twin.rng is not net.rng and twin.layers["Dropout1"].rng is twin.rng
    g_net, g_twin = net.gradient(x, t), twin.gradient(x, t)  # the same masks are drawn
    for k in g_net:
        np.testing.assert_array_equal(g_net[k], g_twin[k])
    wide = net.copy(dtype=np.float64)
    assert wide.params["W1"].dtype == np.float64 and wide.buffers["running_var1"].dtype == np.float64
    np.testing.assert_allclose(wide.buffers["running_mean1"], net.buffers["running_mean1"])


def test_config_is_json_and_rebuilds_the_model():
    net = MultiLayerNet(
        6, (5, 4), 3, "tanh", 0.3, batch_norm=True, dropout=0.1, weight_decay=1e-3, dtype=np.float32, seed=0
    )
    config = json.loads(json.dumps(net.config))
    assert config == {
        "model": "mlp",
        "input_size": 6,
        "hidden_sizes": [5, 4],
        "output_size": 3,
        "activation": "tanh",
        "weight_init": 0.3,
        "batch_norm": True,
        "dropout": 0.1,
        "weight_decay": 1e-3,
        "dtype": "float32",
    }
    assert MODELS["mlp"] is MultiLayerNet
    rebuilt = build_model(config, seed=0)
    assert rebuilt.config == net.config and list(rebuilt.layers) == list(net.layers)
    for k in net.params:
        np.testing.assert_array_equal(rebuilt.params[k], net.params[k])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_size": 0}, "input_size must be a positive integer"),
        ({"hidden_sizes": 5}, "hidden_sizes must be a list of positive integers, got 5"),
        ({"hidden_sizes": "50"}, "hidden_sizes must be a list"),
        ({"hidden_sizes": [4, 0]}, "every hidden size must be a positive integer, got 0"),
        ({"activation": "elu"}, r"activation must be one of \['relu', 'sigmoid', 'tanh'\], got 'elu'"),
        ({"weight_init": "uniform"}, "'he' or 'xavier'"),
        ({"weight_init": -0.1}, "std must be a positive number"),
        ({"weight_init": None}, "weight_init must be a positive number, 'he' or 'xavier', got None"),
        ({"batch_norm": "yes"}, "batch_norm must be True or False"),
        ({"dropout": 1.0}, r"dropout must lie in \[0, 1\)"),
        ({"weight_decay": -1.0}, "weight_decay must be a finite number >= 0"),
        ({"weight_decay": "0.1"}, "weight_decay must be a number"),
        ({"dtype": np.int32}, "dtype must be float32 or float64"),
        ({"seed": -1}, "seed must be a non-negative integer"),
    ],
)
def test_constructor_errors(kwargs, message):
    args = {"input_size": 4, "hidden_sizes": [3], "output_size": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        MultiLayerNet(**args)


def test_build_model_rejects_a_bad_config():
    with pytest.raises(ValueError, match="model config for 'mlp' does not match its constructor"):
        build_model({"model": "mlp", "input_size": 4, "hidden_size": 3, "output_size": 2})


def test_two_layer_net_shares_the_same_plumbing():
    net = TwoLayerNet(5, 4, 3, weight_init_std=0.5, seed=0)
    x, t = small_batch()
    assert net.buffers == {}
    assert net.loss(x, t, train_flg=True) == net.loss(x, t)
    with net.frozen():
        grads = net.gradient(x, t)
    assert list(grads) == list(net.params)


# --- training -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("optimizer", "kwargs", "options"),
    [
        ("sgd", {"lr": 0.1}, {}),
        ("momentum", {"lr": 0.05}, {"activation": "tanh", "weight_init": "xavier"}),
        ("adam", {"lr": 0.01}, {"batch_norm": True, "dropout": 0.2}),
        ("rmsprop", {"lr": 0.005}, {"weight_decay": 1e-3, "dtype": np.float32}),
    ],
)
def test_training_reaches_high_accuracy(optimizer, kwargs, options):
    x, t = blobs()
    net = MultiLayerNet(2, [16, 16], 3, seed=0, **options)
    opt = make_optimizer(optimizer, **kwargs)
    r = np.random.default_rng(0)
    first = net.loss(x, t)
    for _ in range(200):
        idx = r.choice(len(x), 30, replace=False)
        opt.update(net.params, net.gradient(x[idx], t[idx]))
    assert net.loss(x, t) < first / 4
    assert net.accuracy(x, t) >= 0.97
    assert all(p.dtype == net.dtype for p in net.params.values())
