"""models.py: TwoLayerNet and its shared parameters."""

import numpy as np
import pytest

from chainrule import Affine, TwoLayerNet, gradient_check
from chainrule.models import (
    DeepConvNet,
    MultiLayerNet,
    MultiLayerNetExtend,
    SimpleConvNet,
    build_model,
    init_weight,
    model_blueprint,
)


def small_batch(n=5, d=8, c=3, seed=0):
    r = np.random.default_rng(seed)
    return r.random((n, d)), r.integers(0, c, n)


def test_structure_matches_the_book():
    net = TwoLayerNet(784, 50, 10, seed=0)
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
    assert net.params["W1"].shape == (784, 50) and net.params["b2"].shape == (10,)
    assert list(net.layers) == ["Affine1", "Relu1", "Affine2"]
    assert type(net.last_layer).__name__ == "SoftmaxWithLoss"
    assert net.params["W1"].dtype == np.float64
    assert np.std(net.params["W1"]) == pytest.approx(0.01, rel=0.05)
    assert not np.any(net.params["b1"])


def test_params_and_layers_share_arrays():
    net = TwoLayerNet(4, 3, 2, seed=0)
    assert net.layers["Affine1"].W is net.params["W1"]
    net.params["W1"] -= 1.0  # in place, as the optimizers do
    np.testing.assert_array_equal(net.layers["Affine1"].W, net.params["W1"])
    net.params["b2"] = np.array([5.0, -5.0])  # the book's assignment style copies in place
    assert net.layers["Affine2"].b is net.params["b2"]
    np.testing.assert_array_equal(net.layers["Affine2"].b, [5.0, -5.0])
    with pytest.raises(ValueError, match=r"params\['b2'\]: expected shape \(2,\), got \(3,\)"):
        net.params["b2"] = np.zeros(3)


def test_gradient_matches_numerical_gradient():
    net = TwoLayerNet(8, 6, 3, weight_init_std=0.5, seed=1)
    x, t = small_batch()
    grads = net.gradient(x, t)
    num = net.numerical_gradient(x, t)
    for k in net.params:
        assert grads[k].shape == net.params[k].shape
        np.testing.assert_allclose(grads[k], num[k], rtol=1e-6, atol=1e-9)
    report = gradient_check(net, x, t)
    assert report.passed
    assert max(c.max_abs_diff for c in report) < 1e-7
    assert max(c.max_rel_err for c in report) < 1e-7


def test_gradient_returns_the_layers_gradients_named_like_params():
    net = TwoLayerNet(8, 6, 3, seed=1)
    x, t = small_batch()
    grads = net.gradient(x, t)
    assert list(grads) == list(net.params)
    assert grads["W1"] is net.layers["Affine1"].dW and grads["b2"] is net.layers["Affine2"].db
    assert net.last_layer.loss == pytest.approx(net.loss(x, t))


def test_gradient_reads_layers_without_grad_attrs_through_their_grads():
    # A custom layer only has to expose params and grads; grad_attrs is the fast path.
    class PlainAffine(Affine):
        grad_attrs = {}

        @property
        def grads(self):
            return {"W": self.dW, "b": self.db}

    reference = TwoLayerNet(8, 6, 3, seed=1)
    net = TwoLayerNet(8, 6, 3, seed=1)
    net.layers["Affine2"] = PlainAffine(net.params["W2"], net.params["b2"])
    net._link_grads()
    x, t = small_batch()
    ours, expected = net.gradient(x, t), reference.gradient(x, t)
    assert ours["W2"] is net.layers["Affine2"].dW
    for k in expected:
        np.testing.assert_array_equal(ours[k], expected[k])


def test_one_hot_and_index_labels_agree():
    net = TwoLayerNet(8, 6, 3, seed=2)
    x, t = small_batch()
    onehot = np.eye(3)[t]
    assert net.loss(x, t) == pytest.approx(net.loss(x, onehot))
    assert net.accuracy(x, t) == net.accuracy(x, onehot)
    g1, g2 = net.gradient(x, t), net.gradient(x, onehot)
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k])


def test_accuracy_in_batches_equals_all_at_once():
    net = TwoLayerNet(8, 6, 3, weight_init_std=1.0, seed=3)
    x, t = small_batch(n=103, seed=3)
    expected = np.mean(np.argmax(net.predict(x), axis=1) == t)
    assert net.accuracy(x, t) == pytest.approx(expected)
    assert net.accuracy(x, t, batch_size=10) == pytest.approx(expected)


def test_seed_determinism_and_generator():
    a, b = TwoLayerNet(5, 4, 3, seed=7), TwoLayerNet(5, 4, 3, seed=7)
    c = TwoLayerNet(5, 4, 3, seed=np.random.default_rng(7))
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
        np.testing.assert_array_equal(a.params[k], c.params[k])
    assert not np.array_equal(a.params["W1"], TwoLayerNet(5, 4, 3, seed=8).params["W1"])


def test_float32_network_stays_float32():
    net = TwoLayerNet(8, 6, 3, dtype=np.float32, seed=0)
    x, t = small_batch()
    assert net.predict(x).dtype == np.float32  # float64 input is converted once
    grads = net.gradient(x.astype(np.float32), t)
    assert all(g.dtype == np.float32 for g in grads.values())


def test_copy_and_build_model():
    net = TwoLayerNet(5, 4, 3, weight_init_std=0.3, dtype=np.float32, seed=0)
    twin = net.copy(dtype=np.float64)
    assert twin.params["W1"].dtype == np.float64
    np.testing.assert_allclose(twin.params["W1"], net.params["W1"])
    assert twin.params["W1"] is not net.params["W1"]
    rebuilt = build_model(net.config)
    assert rebuilt.config == net.config
    with pytest.raises(ValueError, match="unknown model 'cnn'"):
        build_model({"model": "cnn"})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_size": 0}, "input_size must be a positive integer, got 0"),
        ({"hidden_size": 2.5}, "hidden_size must be a positive integer"),
        ({"dtype": np.int32}, "dtype must be float32 or float64, got int32"),
        ({"weight_init_std": -1.0}, "positive number"),
        ({"weight_init_std": "uniform"}, "'he' or 'xavier'"),
        ({"seed": -3}, "seed must be a non-negative integer"),
    ],
)
def test_constructor_errors(kwargs, message):
    args = {"input_size": 4, "hidden_size": 3, "output_size": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        TwoLayerNet(**args)


def test_wrong_input_size_is_a_clear_error():
    net = TwoLayerNet(4, 3, 2, seed=0)
    with pytest.raises(ValueError, match=r"Affine: expected 4 input features, got 5"):
        net.predict(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\]"):
        net.loss(np.zeros((2, 4)), np.array([0, 2]))


def test_init_weight_scales():
    r = np.random.default_rng(0)
    he = init_weight(r, 2000, 50, "he", np.dtype(np.float32))
    xavier = init_weight(r, 2000, 50, "xavier", np.dtype(np.float64))
    assert he.dtype == np.float32 and np.std(he) == pytest.approx(np.sqrt(2 / 2000), rel=0.02)
    assert np.std(xavier) == pytest.approx(np.sqrt(1 / 2000), rel=0.02)


def test_summary_repr_and_html_show_layers_shapes_and_counts():
    from chainrule import DeepConvNet, MultiLayerNet

    net = TwoLayerNet(784, 50, 10, dtype=np.float32, seed=0)
    assert repr(net) == (
        "TwoLayerNet(input_size=784, hidden_size=50, output_size=10, weight_init_std=0.01, dtype='float32')"
    )
    assert eval(repr(net), {"TwoLayerNet": TwoLayerNet}).config == net.config
    assert str(net).splitlines() == [
        'TwoLayerNet "two-layer": input (N, 784), float32',
        "layer       type             output shape  params  arrays",
        "----------  ---------------  ------------  ------  ----------------",
        "Affine1     Affine           (N, 50)       39,250  W1 784x50, b1 50",
        "Relu1       Relu             (N, 50)            0",
        "Affine2     Affine           (N, 10)          510  W2 50x10, b2 10",
        "last_layer  SoftmaxWithLoss  (N, 10)            0",
        "trainable parameters: 39,760 (155.3 KiB); non-trainable (running statistics): 0",
    ]
    printed = []
    net.summary(print_fn=printed.append)
    assert printed == [str(net)]

    mlp = MultiLayerNet(6, [5, 4], 3, batch_norm=True, dropout=0.5, seed=0)
    x = np.random.default_rng(0).standard_normal((7, 6))
    mlp.gradient(x, np.arange(7) % 3)
    cached, running = mlp.layers["Affine1"]._x, mlp.buffers["running_mean1"].copy()
    text = str(mlp)
    assert mlp.layers["Affine1"]._x is cached and np.array_equal(mlp.buffers["running_mean1"], running)
    assert "BatchNorm1   BatchNormalization  (N, 5)            10  gamma1 5, beta1 5" in text
    assert text.endswith(
        f"trainable parameters: {sum(p.size for p in mlp.params.values()):,} (0.7 KiB); "
        "non-trainable (running statistics): 18"
    )

    deep = DeepConvNet()
    rows = deep._summary_rows()
    assert [r[2] for r in rows if r[0] in ("Conv4", "Pool3", "Affine1")] == [
        "(N, 32, 16, 16)",
        "(N, 64, 4, 4)",
        "(N, 50)",
    ]
    assert sum(r[3] for r in rows) == sum(p.size for p in deep.params.values())
    html = deep._repr_html_()
    assert html.count("<tr>") == 1 + len(deep.layers) + 1 and "W7 1024x50" in html


@pytest.mark.parametrize(
    "net",
    [
        TwoLayerNet(5, 4, 3, seed=0, dtype=np.float32),
        MultiLayerNet(4, [6, 5], 3, batch_norm=True, seed=0),
        MultiLayerNetExtend(4, [3], 2, use_batchnorm=True, seed=0),
        SimpleConvNet((2, 11, 9), {"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 2}, 7, 4, seed=0),
        DeepConvNet((1, 28, 28), hidden_size=5, seed=0),
    ],
    ids=lambda net: type(net).__name__,
)
def test_the_blueprint_of_a_config_has_the_models_shapes_and_takes_no_memory(net):
    params, buffers = model_blueprint(net.config)
    assert {k: (v.shape, v.dtype) for k, v in params.items()} == {k: (v.shape, v.dtype) for k, v in net.params.items()}
    assert {k: (v.shape, v.dtype) for k, v in buffers.items()} == {
        k: (v.shape, v.dtype) for k, v in net.buffers.items()
    }
    huge = model_blueprint({**net.config, "output_size": 10**12})[0]
    assert all(a.strides == (0,) * a.ndim for a in huge.values())  # no memory, whatever the size
    with pytest.raises(ValueError, match="output_size must be a positive integer"):
        model_blueprint({**net.config, "output_size": -1})
    with pytest.raises(ValueError, match="does not match its constructor"):
        model_blueprint({**net.config, "colour": "red"})


@pytest.mark.parametrize("std", [1e308, 1e4, float("inf"), 0.0])
def test_a_weight_init_std_that_is_out_of_range_is_one_value_error_without_warnings(std):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 1e308 overflowed to inf with RuntimeWarnings (issue 13, item 23)
        with pytest.raises(ValueError, match=r"weight init: std must be"):
            TwoLayerNet(4, 3, 2, weight_init_std=std, dtype=np.float32)
    assert TwoLayerNet(4, 3, 2, weight_init_std=1000.0, seed=0).params["W1"].std() > 100


def test_loss_gradient_and_accuracy_of_zero_samples_are_value_errors():
    # issue 13, item 24: ZeroDivisionError in loss and gradient
    net = TwoLayerNet(3, 4, 2, seed=0)
    x, t = np.ones((0, 3)), np.zeros(0, dtype=int)
    for method in ("loss", "gradient"):
        with pytest.raises(
            ValueError, match=rf"TwoLayerNet.{method}: expected at least one sample, got x.shape=\(0, 3\)"
        ):
            getattr(net, method)(x, t)


def test_accuracy_of_nan_scores_is_nan_not_the_share_of_class_0():
    # issue 13, item 25: NaN weights gave accuracy 1/3 (argmax says class 0 for every NaN row)
    from chainrule.train import evaluate

    net = TwoLayerNet(3, 4, 3, seed=0)
    x, t = np.ones((6, 3)), np.array([0, 1, 2, 0, 1, 2])
    assert np.isfinite(net.accuracy(x, t))
    net.params["W2"][...] = np.nan
    assert np.isnan(net.accuracy(x, t))
    loss, acc = evaluate(net, x, t)
    assert np.isnan(loss) and np.isnan(acc)


def test_weights_that_cannot_fit_are_refused_before_allocating():
    # issue 13, item 11: TwoLayerNet(784, 10**9, 10) was a MemoryError (or the machine swapping)
    from chainrule._checks import AllocationTooLarge, check_allocation
    from chainrule.models import SimpleConvNet

    what = r"initialising a 784x1000000000000 float32 weight array \(its float64 draw, then the array\)"
    with pytest.raises(AllocationTooLarge, match=rf"{what} would need .* of memory"):
        TwoLayerNet(784, 10**12, 10, dtype=np.float32)
    with pytest.raises(AllocationTooLarge, match=r"initialising a 1000000000000x1x5x5 float64 weight array"):
        SimpleConvNet((1, 8, 8), {"filter_num": 10**12, "filter_size": 5, "pad": 0, "stride": 1}, 4, 3)
    with pytest.raises(AllocationTooLarge, match=r"^a table would need 1.0 KiB, more than the 1000 bytes"):
        check_allocation(1024, "a table", limit=1000)
    check_allocation(1000, "a table", limit=1000)
