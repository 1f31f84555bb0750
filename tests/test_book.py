"""chainrule.book: the book's calls, chapter by chapter, with the book's names and argument spellings.

Each test is the book's example written anew (the book's files are not vendored); the chapter-6
experiments run on a Fashion-MNIST subset with fewer iterations and assert the qualitative result
the book's figure shows.
"""

import sys

import numpy as np
import pytest

import chainrule.book
from chainrule.book.common.functions import (
    cross_entropy_error,
    identity_function,
    relu,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    softmax,
    softmax_loss,
    step_function,
    sum_squared_error,
)
from chainrule.book.common.gradient import numerical_gradient, numerical_gradient_2d
from chainrule.book.common.layers import (
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    Pooling,
    Relu,
    SoftmaxWithLoss,
)
from chainrule.book.common.multi_layer_net import MultiLayerNet
from chainrule.book.common.multi_layer_net_extend import MultiLayerNetExtend
from chainrule.book.common.optimizer import SGD, AdaGrad, Adam, Momentum
from chainrule.book.common.trainer import Trainer
from chainrule.book.common.util import col2im, im2col, shuffle_dataset, smooth_curve
from chainrule.datasets import DatasetError, load_fashion_mnist
from chainrule.datasets import load_mnist as chainrule_load_mnist


@pytest.fixture(scope="module")
def fashion():
    try:
        return load_fashion_mnist(download=False)
    except DatasetError:
        pytest.skip("Fashion-MNIST is not on this machine (apt-get install dataset-fashion-mnist)")


def test_install_makes_the_books_imports_resolve_to_chainrule(monkeypatch):
    for name in list(chainrule.book.MODULES):
        monkeypatch.delitem(sys.modules, name, raising=False)
    chainrule.book.install()
    from common.layers import Affine as BookAffine  # noqa: PLC0415 - the book's own import line
    from common.trainer import Trainer as BookTrainer  # noqa: PLC0415
    from dataset.mnist import load_mnist  # noqa: PLC0415

    assert BookAffine is Affine and BookTrainer is Trainer and load_mnist is chainrule_load_mnist
    for name in chainrule.book.MODULES:
        monkeypatch.delitem(sys.modules, name)


# --- chapter 3: activations and the forward pass --------------------------------------------


def test_chapter_3_activations_and_softmax():
    x = np.array([-1.0, 1.0, 2.0])
    np.testing.assert_array_equal(step_function(x), [0, 1, 1])
    np.testing.assert_allclose(sigmoid(x), [0.26894142, 0.73105858, 0.88079708], rtol=1e-7)
    np.testing.assert_array_equal(relu(x), [0, 1, 2])
    assert identity_function(x) is x
    y = softmax(np.array([0.3, 2.9, 4.0]))
    np.testing.assert_allclose(y, [0.01821127, 0.24519181, 0.73659691], rtol=1e-6)  # the book's values
    assert np.sum(y) == pytest.approx(1.0)


# --- chapter 4: losses and numerical gradients ----------------------------------------------


def test_chapter_4_losses_of_the_books_example():
    t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    assert sum_squared_error(np.array(y), np.array(t)) == pytest.approx(0.0975)
    assert cross_entropy_error(np.array(y), np.array(t)) == pytest.approx(0.510825, rel=1e-5)
    y2 = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
    assert sum_squared_error(np.array(y2), np.array(t)) == pytest.approx(0.5975)
    assert cross_entropy_error(np.array(y2), np.array(t)) == pytest.approx(2.302584, rel=1e-5)
    scores = np.array([[1.0, 2.0, 0.5]])
    assert softmax_loss(scores, np.array([1])) == pytest.approx(-np.log(softmax(scores)[0, 1]))


def function_2(x):
    return x[0] ** 2 + x[1] ** 2 if x.ndim == 1 else np.sum(x**2, axis=1)


def test_chapter_4_gradients_and_gradient_descent():
    np.testing.assert_allclose(numerical_gradient(function_2, np.array([3.0, 4.0])), [6, 8], atol=1e-6)
    np.testing.assert_allclose(numerical_gradient(function_2, np.array([0.0, 2.0])), [0, 4], atol=1e-6)
    x = np.array([-3.0, 4.0])
    for _ in range(100):  # gradient_descent(function_2, init_x, lr=0.1, step_num=100)
        x -= 0.1 * numerical_gradient(function_2, x)
    np.testing.assert_allclose(x, [0, 0], atol=1e-8)  # the book prints [-6.1e-10, 8.1e-10]
    grid = np.array([[1.0, 2.0], [-0.5, 0.0], [2.0, -1.0]])
    np.testing.assert_allclose(numerical_gradient_2d(function_2, grid), 2 * grid, atol=1e-6)
    np.testing.assert_array_equal(grid, [[1.0, 2.0], [-0.5, 0.0], [2.0, -1.0]])  # restored
    xs = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(sigmoid_grad(xs), sigmoid(xs) * (1 - sigmoid(xs)))
    np.testing.assert_array_equal(relu_grad(xs), [0, 1, 1])  # the book's relu_grad is 1 at 0


# --- chapter 5: a two-layer net from the book's layers, checked numerically ------------------


def test_chapter_5_two_layer_net_from_the_books_layers():
    rng = np.random.default_rng(0)
    params = {
        "W1": 0.1 * rng.standard_normal((6, 5)),
        "b1": np.zeros(5),
        "W2": 0.1 * rng.standard_normal((5, 3)),
        "b2": np.zeros(3),
    }
    layers = [Affine(params["W1"], params["b1"]), Relu(), Affine(params["W2"], params["b2"])]
    last = SoftmaxWithLoss()
    x, t = rng.standard_normal((4, 6)), np.eye(3)[[0, 2, 1, 1]]  # one-hot, as the book's loader gives

    def loss(_):
        h = x
        for layer in layers:
            h = layer.forward(h)
        return last.forward(h, t)

    loss(None)
    dout = last.backward(1)
    for layer in reversed(layers):
        dout = layer.backward(dout)
    grads = {"W1": layers[0].dW, "b1": layers[0].db, "W2": layers[2].dW, "b2": layers[2].db}
    for key in params:  # the book's gradient_check.py: backprop against numerical_gradient
        diff = np.average(np.abs(grads[key] - numerical_gradient(loss, params[key])))
        assert diff < 1e-9, key


# --- chapter 6: optimizers, initialisation, batch norm, regularisation ----------------------


def f(x, y):
    return x**2 / 20.0 + y**2


def test_chapter_6_optimizers_on_the_books_function_with_python_floats():
    # optimizer_compare_naive.py: 30 updates from (-7, 2) with the book's learning rates.
    ends = {}
    for name, opt in (
        ("SGD", SGD(lr=0.95)),
        ("Momentum", Momentum(lr=0.1)),
        ("AdaGrad", AdaGrad(lr=1.5)),
        ("Adam", Adam(lr=0.3)),
    ):
        params = {"x": -7.0, "y": 2.0}
        for _ in range(30):
            grads = {"x": params["x"] / 10.0, "y": 2.0 * params["y"]}
            opt.update(params, grads)
        assert isinstance(params["x"], float)
        ends[name] = f(params["x"], params["y"])
    assert all(value < f(-7.0, 2.0) / 10 for value in ends.values()), ends
    assert ends["AdaGrad"] < ends["SGD"]  # AdaGrad damps the steep y direction first, as the book's figure shows


def train(net, optimizer, x, t, iters, rng, batch=100):
    losses = []
    for _ in range(iters):
        mask = rng.choice(x.shape[0], batch)
        grads = net.gradient(x[mask], t[mask])
        optimizer.update(net.params, grads)
        losses.append(net.loss(x[mask], t[mask]))
    return losses


def test_chapter_6_adam_and_adagrad_beat_sgd_on_the_mnist_comparison(fashion):
    (x, t), _ = fashion
    x, t = x[:5000], t[:5000]
    final = {}
    for name, opt in (("SGD", SGD()), ("AdaGrad", AdaGrad()), ("Adam", Adam())):
        np.random.seed(0)
        net = MultiLayerNet(input_size=784, hidden_size_list=[100, 100, 100, 100], output_size=10)
        losses = train(net, opt, x, t, 150, np.random.default_rng(0), batch=128)
        final[name] = float(np.mean(smooth_curve(np.array(losses))[-20:]))
    assert final["Adam"] < final["SGD"] and final["AdaGrad"] < final["SGD"], final


def test_chapter_6_small_weights_do_not_learn_he_and_xavier_do(fashion):
    (x, t), _ = fashion
    x, t = x[:5000], t[:5000]
    final = {}
    for key, std in (("std=0.01", 0.01), ("Xavier", "sigmoid"), ("He", "relu")):
        net = MultiLayerNet(input_size=784, hidden_size_list=[100] * 4, output_size=10, weight_init_std=std, seed=0)
        final[key] = float(np.mean(train(net, SGD(lr=0.01), x, t, 200, np.random.default_rng(1))[-20:]))
    assert final["std=0.01"] > 2.2  # still at ln 10: the signal vanishes through the layers
    assert final["He"] < 1.0 and final["Xavier"] < 1.8, final


def test_chapter_6_batch_norm_learns_faster(fashion):
    (x, t), _ = fashion
    x, t = x[:1000], t[:1000]
    acc = {}
    for use_batchnorm in (True, False):
        net = MultiLayerNetExtend(
            input_size=784, hidden_size_list=[100] * 5, output_size=10, weight_init_std=0.05,
            use_batchnorm=use_batchnorm, seed=0,
        )  # fmt: skip
        train(net, SGD(lr=0.01), x, t, 60, np.random.default_rng(2))
        acc[use_batchnorm] = net.accuracy(x, t)
    assert acc[True] > acc[False] + 0.2, acc


def gap_after(net, x, t, xt, tt, epochs, rng):
    for _ in range(epochs):
        for _ in range(3):
            mask = rng.choice(x.shape[0], 100)
            SGD(lr=0.01).update(net.params, net.gradient(x[mask], t[mask]))
    return net.accuracy(x, t) - net.accuracy(xt, tt)


def test_chapter_6_weight_decay_narrows_the_train_test_gap(fashion):
    (x, t), (xt, tt) = fashion
    x, t, xt, tt = x[:300], t[:300], xt[:1000], tt[:1000]
    kw = {"input_size": 784, "hidden_size_list": [100] * 6, "output_size": 10}
    plain = gap_after(MultiLayerNet(**kw, seed=0), x, t, xt, tt, 120, np.random.default_rng(3))
    decayed = gap_after(
        MultiLayerNet(**kw, weight_decay_lambda=0.1, seed=0), x, t, xt, tt, 120, np.random.default_rng(3)
    )
    assert decayed < plain - 0.05, (plain, decayed)


def test_chapter_6_dropout_narrows_the_gap_with_the_books_trainer(fashion, capsys):
    (x, t), (xt, tt) = fashion
    x, t, xt, tt = x[:300], t[:300], xt[:1000], tt[:1000]
    gaps = {}
    for use_dropout in (False, True):
        np.random.seed(0)  # the book's seeding: networks and the trainer draw from it
        net = MultiLayerNetExtend(
            input_size=784, hidden_size_list=[100] * 6, output_size=10, use_dropout=use_dropout, dropout_ration=0.2
        )
        trainer = Trainer(net, x, t, xt, tt, epochs=60, mini_batch_size=100, optimizer="sgd",
                          optimizer_param={"lr": 0.01}, verbose=False)  # fmt: skip
        trainer.train()
        gaps[use_dropout] = trainer.train_acc_list[-1] - trainer.test_acc_list[-1]
        assert len(trainer.train_acc_list) == 60 and len(trainer.train_loss_list) == 180
    assert gaps[True] < gaps[False] - 0.05, gaps
    assert capsys.readouterr().out == ""  # verbose=False prints nothing


def test_the_books_trainer_prints_its_log_and_the_book_seed_repeats_a_run(capsys):
    rng = np.random.default_rng(4)
    x, t = rng.standard_normal((50, 4)), rng.integers(0, 3, 50)
    runs = []
    for _ in range(2):
        np.random.seed(0)
        net = MultiLayerNet(input_size=4, hidden_size_list=[8], output_size=3)
        trainer = Trainer(net, x, t, x, t, epochs=2, mini_batch_size=25, optimizer="Adam",
                          optimizer_param={"lr": 0.01}, evaluate_sample_num_per_epoch=20)  # fmt: skip
        trainer.train()
        runs.append((trainer.train_loss_list, net.params["W1"].copy()))
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("train loss:") and out[1].startswith("=== epoch:1, train acc:")
    assert out[-2] == "=============== Final Test Accuracy ===============" and out[-1].startswith("test acc:")
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_book_dropout_and_batch_norm_behave_as_the_books():
    x = np.ones((4, 5))
    drop = Dropout(0.5)
    np.testing.assert_array_equal(drop.forward(x, train_flg=False), 0.5 * x)  # scaled at evaluation
    y = drop.forward(x, train_flg=True)
    assert set(np.unique(y)) <= {0.0, 1.0}  # training outputs unscaled
    np.testing.assert_array_equal(drop.backward(np.ones_like(x)), y)
    bn = BatchNormalization(np.ones(5), np.zeros(5))
    assert bn.eps == 1e-6 and np.array_equal(bn.running_var, np.zeros(5))
    x_train, t_train = shuffle_dataset(np.arange(20).reshape(10, 2), np.arange(10))
    np.testing.assert_array_equal(x_train[:, 0] // 2, t_train)  # rows and labels shuffled together


# --- chapters 7 and 8: convolutional networks ------------------------------------------------


def test_chapter_7_im2col_convolution_pooling_and_simple_convnet(tmp_path):
    from chainrule import SimpleConvNet, gradient_check

    x1 = np.random.rand(1, 3, 7, 7)
    assert im2col(x1, 5, 5, stride=1, pad=0).shape == (9, 75)
    x2 = np.random.rand(10, 3, 7, 7)
    col = im2col(x2, 5, 5, stride=1, pad=0)
    assert col.shape == (90, 75) and col2im(col, x2.shape, 5, 5).shape == x2.shape
    W, b = np.random.rand(10, 3, 5, 5), np.zeros(10)
    assert Convolution(W, b, 1, 0).forward(x2).shape == (10, 10, 3, 3)
    assert Pooling(pool_h=2, pool_w=2, stride=2).forward(np.random.rand(10, 3, 8, 8)).shape == (10, 3, 4, 4)
    # ch07/gradient_check.py: a small SimpleConvNet on (1, 10, 10) images.
    conv_param = {"filter_num": 10, "filter_size": 3, "pad": 0, "stride": 1}
    network = SimpleConvNet(input_dim=(1, 10, 10), conv_param=conv_param, hidden_size=10, output_size=10,
                            weight_init_std=0.1, seed=0)  # fmt: skip
    x, t = np.random.rand(100).reshape((1, 1, 10, 10)), np.array([1]).reshape((1, 1))  # the book's (1, 1) label
    assert gradient_check(network, x, t).passed
    network.save_params(tmp_path / "params.pkl")  # the book's file name; safetensors inside
    again = SimpleConvNet(input_dim=(1, 10, 10), conv_param=conv_param, hidden_size=10, output_size=10, seed=1)
    again.load_params(tmp_path / "params.pkl")
    np.testing.assert_array_equal(again.predict(x), network.predict(x))


def test_chapter_8_deep_convnet_with_the_books_parameters(tmp_path):
    from chainrule import DeepConvNet

    network = DeepConvNet()
    assert [network.params[f"W{i}"].shape[0] for i in range(1, 7)] == [16, 16, 32, 32, 64, 64]
    x = np.random.rand(2, 1, 28, 28)
    assert network.predict(x).shape == (2, 10) and 0 <= network.accuracy(x, np.array([1, 2])) <= 1
    grads = network.gradient(x, np.array([1, 2]))
    assert sorted(grads) == sorted(network.params)
    network.save_params(tmp_path / "deep_convnet_params.pkl")
    other = DeepConvNet()
    other.load_params(tmp_path / "deep_convnet_params.pkl")
    np.testing.assert_array_equal(other.predict(x), network.predict(x))


def test_np_random_seed_makes_unseeded_networks_and_dropout_repeat_and_an_explicit_seed_wins():
    from chainrule import Dropout as InvertedDropout
    from chainrule import TwoLayerNet

    draws = []
    for _ in range(2):
        np.random.seed(0)
        net = TwoLayerNet(4, 3, 2)  # seed=None: drawn from NumPy's global generator
        mask = InvertedDropout(0.5).forward(np.ones((3, 4)))
        draws.append((net.params["W1"].copy(), mask))
    np.testing.assert_array_equal(draws[0][0], draws[1][0])
    np.testing.assert_array_equal(draws[0][1], draws[1][1])
    np.random.seed(0)
    explicit = TwoLayerNet(4, 3, 2, seed=7).params["W1"]
    np.testing.assert_array_equal(explicit, TwoLayerNet(4, 3, 2, seed=7).params["W1"])
    assert not np.array_equal(explicit, draws[0][0])
