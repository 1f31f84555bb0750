"""chainrule.models.convnet: SimpleConvNet and DeepConvNet with the book's shapes, gradient checks,
training that learns, bounded evaluation, checkpoints; and the conv graph operations."""

import numpy as np
import pytest

from chainrule import gradient_check, load_checkpoint, save_checkpoint
from chainrule import graph as G
from chainrule.draw import draw_filters, draw_graph
from chainrule.expr import build_graph
from chainrule.graph import Variable
from chainrule.layers import Convolution, Pooling
from chainrule.models import DeepConvNet, SimpleConvNet, build_model
from chainrule.optim import Adam
from chainrule.train import Trainer

SMALL = {"filter_num": 2, "filter_size": 3, "pad": 1, "stride": 1}


def bars(n, seed=0, size=8):
    """Images of one vertical bar whose column is the class (4 classes), plus noise: (n, 1, size, size)."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 4, n)
    x = 0.1 * rng.standard_normal((n, 1, size, size))
    for i, k in enumerate(t):
        x[i, 0, :, 1 + 2 * k] += 1.0
    return x.astype(np.float32), t


def test_simple_convnet_has_the_books_shapes_and_layers():
    net = SimpleConvNet(seed=0)
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {
        "W1": (30, 1, 5, 5),
        "b1": (30,),
        "W2": (30 * 12 * 12, 100),
        "b2": (100,),
        "W3": (100, 10),
        "b3": (10,),
    }
    assert list(net.layers) == ["Conv1", "Relu1", "Pool1", "Affine1", "Relu2", "Affine2"]
    assert net.config["model"] == "convnet" and net.config["input_dim"] == (1, 28, 28)
    assert abs(float(np.std(net.params["W1"])) - 0.01) < 0.002  # the book's weight_init_std
    x = np.random.default_rng(1).random((3, 1, 28, 28))
    assert net.predict(x).shape == (3, 10)
    with pytest.raises(
        ValueError, match=r"SimpleConvNet: expected images of shape \(N, 1, 28, 28\), got x.shape=\(3, 784\)"
    ):
        net.predict(x.reshape(3, -1))


def test_deep_convnet_has_the_books_layers_and_he_init():
    net = DeepConvNet(seed=0)
    assert [k for k in net.params if k.startswith("W")] == [f"W{i}" for i in range(1, 9)]
    assert net.params["W4"].shape == (32, 32, 3, 3) and net.params["W7"].shape == (64 * 4 * 4, 50)
    assert list(net.layers)[-5:] == ["Affine1", "Relu7", "Dropout1", "Affine2", "Dropout2"]
    assert sum(isinstance(layer, Pooling) for layer in net.layers.values()) == 3
    assert float(np.std(net.params["W6"])) == pytest.approx(np.sqrt(2 / (64 * 9)), rel=0.05)  # He: √(2/fan_in)
    assert net.layers["Conv4"].pad == 2  # the book's fourth convolution pads by 2


def test_gradient_check_of_both_convolutional_networks():
    x, t = bars(2, seed=3)
    simple = SimpleConvNet((1, 8, 8), SMALL, hidden_size=4, output_size=4, weight_init_std=0.3, seed=1)
    gradient_check(simple, x, t, raise_on_failure=True)
    deep = DeepConvNet((1, 8, 8), *[SMALL] * 6, hidden_size=4, output_size=4, seed=2)
    report = gradient_check(deep, x, t, raise_on_failure=True)  # dropout off inside frozen()
    assert len(report) == 16


def test_simple_convnet_learns_the_bars_and_evaluates_in_bounded_chunks(tmp_path):
    x, t = bars(600, seed=4)
    xt, tt = bars(200, seed=5)
    rng = np.random.default_rng(0)
    net = SimpleConvNet((1, 8, 8), {"filter_num": 4, "filter_size": 3, "pad": 0, "stride": 1}, 16, 4, seed=rng)
    trainer = Trainer(net, Adam(lr=0.01), x, t, xt, tt, epochs=3, batch_size=50, rng=rng, out_dir=tmp_path)
    history = trainer.fit()
    assert history[0]["test_acc"] < history[-1]["test_acc"] and history[-1]["test_acc"] >= 0.95
    # Evaluation predicts eval_rows images at a time; the result equals one big batch.
    net.eval_rows = 7
    chunked = net.predict(xt)
    net.eval_rows = None
    np.testing.assert_allclose(chunked, net.predict(xt), rtol=1e-5, atol=1e-6)
    loaded = load_checkpoint(tmp_path).model
    assert isinstance(loaded, SimpleConvNet)
    np.testing.assert_array_equal(loaded.predict(xt), net.predict(xt))


def test_eval_rows_keep_the_window_workspace_bounded():
    net = SimpleConvNet(dtype=np.float32, seed=0)
    # 25·24·24 entries of 4 bytes per image for the first convolution's windows, 8 MiB per chunk.
    assert net.eval_rows == (8 * 2**20) // (25 * 24 * 24 * 4)
    assert DeepConvNet(seed=0).eval_rows == (8 * 2**20) // (144 * 28 * 28 * 8)


def test_convnets_copy_rebuild_and_checkpoint(tmp_path):
    deep = DeepConvNet((1, 8, 8), *[SMALL] * 6, hidden_size=4, output_size=3, dtype=np.float32, seed=3)
    rebuilt = build_model(deep.config, seed=0)
    assert isinstance(rebuilt, DeepConvNet) and rebuilt.config == deep.config
    double = deep.copy(dtype=np.float64)
    x = np.random.default_rng(6).random((2, 1, 8, 8))
    np.testing.assert_allclose(double.predict(x), deep.predict(x), rtol=1e-4, atol=1e-5)
    path = save_checkpoint(tmp_path / "deep.safetensors", deep)
    np.testing.assert_array_equal(load_checkpoint(path).model.predict(x), deep.predict(x))
    with pytest.raises(ValueError, match=r"conv_param must have exactly the keys filter_num, filter_size, pad, stride"):
        SimpleConvNet(conv_param={"filter_num": 3})
    with pytest.raises(ValueError, match=r"input_dim must be \(channels, height, width\)"):
        SimpleConvNet(input_dim=(28, 28))
    with pytest.raises(ValueError, match="the 5x5 filter is larger than the padded input 4x4"):
        SimpleConvNet(input_dim=(1, 4, 4))


def test_conv_graph_operations_run_the_same_layers_and_match_the_network():
    rng = np.random.default_rng(7)
    net = SimpleConvNet((1, 8, 8), SMALL, hidden_size=5, output_size=3, weight_init_std=0.5, seed=4)
    x, t = rng.standard_normal((2, 1, 8, 8)), np.array([0, 2])
    p = {k: Variable(v, name=k) for k, v in net.params.items()}
    h = G.max_pool2d(G.relu(G.conv2d(Variable(x), p["W1"], p["b1"], stride=1, pad=1)), 2)
    loss = G.softmax_cross_entropy(G.affine(G.relu(G.affine(G.flatten(h), p["W2"], p["b2"])), p["W3"], p["b3"]), t)
    loss.backward()
    grads = net.gradient(x, t)
    assert float(loss.data) == pytest.approx(net.last_layer.loss, rel=1e-12)
    for k in grads:
        np.testing.assert_allclose(p[k].grad, grads[k], rtol=1e-10, atol=1e-12)
    assert isinstance(h.creator.layer, Pooling) and isinstance(
        h.creator.inputs[0].creator.inputs[0].creator.layer, Convolution
    )
    avg = G.avg_pool2d(Variable(np.arange(16.0).reshape(1, 1, 4, 4)), 2)
    np.testing.assert_array_equal(avg.data[0, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_the_convnet_graph_example_is_drawn():
    y = build_graph("convnet")
    y.backward()
    svg = str(draw_graph(y))
    for label in ("Conv", "relu", "max pool", "flatten", "Affine", "Softmax-with-Loss"):
        assert f">{label}</text>" in svg


def test_draw_filters_makes_a_png_grid(tmp_path):
    w0 = np.random.default_rng(8).standard_normal((30, 1, 5, 5))
    png = draw_filters({"before training": w0, "after training": w0 * 2}, path=tmp_path / "f.png", columns=10)
    assert bytes(png)[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "f.png").read_bytes() == bytes(png)
    with pytest.raises(ValueError, match=r"filters of shape \(FN, C, FH, FW\), got shape \(5, 5\)"):
        draw_filters(np.ones((5, 5)))
    with pytest.raises(ValueError, match="channel 1 does not exist"):
        draw_filters(w0, channel=1)


def test_simple_convnet_learns_real_fashion_mnist_on_a_subset():
    from chainrule.datasets import DatasetError, load_fashion_mnist

    try:
        (x, t), (xt, tt) = load_fashion_mnist(flatten=False, download=False)
    except DatasetError:
        pytest.skip("Fashion-MNIST is not on this machine (apt-get install dataset-fashion-mnist)")
    rng = np.random.default_rng(0)
    net = SimpleConvNet(dtype=np.float32, seed=rng)  # the book's network and initialisation
    trainer = Trainer(net, Adam(lr=0.001), x[:3000], t[:3000], xt[:1000], tt[:1000], epochs=3, batch_size=100, rng=rng)
    history = trainer.fit()
    accuracy = [row["test_acc"] for row in history]
    assert accuracy == sorted(accuracy) and accuracy[-1] > 0.7  # chance is 0.1
