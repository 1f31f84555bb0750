"""optim.py: the chapter-6 optimizers against hand values, a naive reference, torch.optim and their state."""

import json
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from chainrule.models import MultiLayerNet
from chainrule.optim import OPTIMIZERS, SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop, make_optimizer

NAMES = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]


def fresh_params(seed=0):
    r = np.random.default_rng(seed)
    return {"W1": r.standard_normal((3, 4)), "b1": r.standard_normal(4), "W2": r.standard_normal((4, 2))}


def grad_sequence(params, steps, seed=1):
    r = np.random.default_rng(seed)
    return [{k: r.standard_normal(v.shape) for k, v in params.items()} for _ in range(steps)]


# --- arithmetic against values worked out by hand -------------------------------------------

P0 = np.array([1.0, 2.0])
G1 = np.array([0.5, -1.0])
G2 = np.array([1.0, 1.0])


def two_steps(opt):
    params = {"W": P0.copy()}
    opt.update(params, {"W": G1})
    after1 = params["W"].copy()
    opt.update(params, {"W": G2})
    return after1, params["W"]


def test_sgd_by_hand():
    after1, after2 = two_steps(SGD(lr=0.1))
    np.testing.assert_allclose(after1, [0.95, 2.1], rtol=1e-15)
    np.testing.assert_allclose(after2, [0.85, 2.0], rtol=1e-15)


def test_momentum_by_hand():
    after1, after2 = two_steps(Momentum(lr=0.1, momentum=0.9))
    # v1 = -0.1·g1 = [-0.05, 0.1];  v2 = 0.9·v1 - 0.1·g2 = [-0.145, -0.01]
    np.testing.assert_allclose(after1, [0.95, 2.1], rtol=1e-15)
    np.testing.assert_allclose(after2, [0.805, 2.09], rtol=1e-14)


def test_nesterov_by_hand_and_as_the_books_code():
    after1, after2 = two_steps(Nesterov(lr=0.1, momentum=0.9))
    # W += μ²·v_old − (1+μ)·lr·g:  step 1 (v_old = 0): −0.19·g1;  step 2: 0.81·[-0.05, 0.1] − 0.19·g2
    np.testing.assert_allclose(after1, [0.905, 2.19], rtol=1e-14)
    np.testing.assert_allclose(after2, [0.6745, 2.081], rtol=1e-14)
    # The book's common/optimizer.py, step for step: params first (with the old v), then v.
    lr, mu = 0.1, 0.9
    w, v = P0.copy(), np.zeros_like(P0)
    book = []
    for g in (G1, G2):
        w += mu * mu * v
        w -= (1 + mu) * lr * g
        v *= mu
        v -= lr * g
        book.append(w.copy())
    # Equal up to the order of the floating-point operations: within two units in the last place.
    np.testing.assert_array_max_ulp(after1, book[0], maxulp=2)
    np.testing.assert_array_max_ulp(after2, book[1], maxulp=2)


def test_adagrad_by_hand():
    after1, after2 = two_steps(AdaGrad(lr=0.1))
    eps = 1e-7
    np.testing.assert_allclose(after1, [1 - 0.05 / (0.5 + eps), 2 + 0.1 / (1 + eps)], rtol=1e-15)
    h = G1**2 + G2**2  # [1.25, 2]
    np.testing.assert_allclose(after2, after1 - 0.1 * G2 / (np.sqrt(h) + eps), rtol=1e-15)


def test_rmsprop_by_hand():
    after1, after2 = two_steps(RMSprop(lr=0.1, decay_rate=0.9))
    eps = 1e-7
    h1 = np.array([0.025, 0.1])  # 0.1·g1²
    np.testing.assert_allclose(after1, P0 - 0.1 * G1 / (np.sqrt(h1) + eps), rtol=1e-15)
    h2 = 0.9 * h1 + 0.1 * G2**2  # [0.1225, 0.19]
    np.testing.assert_allclose(after2, after1 - 0.1 * G2 / (np.sqrt(h2) + eps), rtol=1e-14)


def test_adam_by_hand():
    # With ε = 0 the first Adam step moves every entry by exactly lr against the gradient's sign.
    after1, after2 = two_steps(Adam(lr=0.1, eps=0.0))
    np.testing.assert_allclose(after1, P0 - 0.1 * np.sign(G1), rtol=1e-15)
    m = 0.9 * 0.1 * G1 + 0.1 * G2
    v = 0.999 * 0.001 * G1**2 + 0.001 * G2**2
    lr_t = 0.1 * np.sqrt(1 - 0.999**2) / (1 - 0.9**2)
    np.testing.assert_allclose(after2, after1 - lr_t * m / np.sqrt(v), rtol=1e-14)
    # The book's ε = 1e-7 sits next to √v (here ≈ 0.0158 and 0.0316): a relative change ~1e-5.
    default1, _ = two_steps(Adam(lr=0.1))
    np.testing.assert_allclose(default1, after1, rtol=1e-6)
    assert not np.array_equal(default1, after1)


def test_book_defaults():
    assert SGD().lr == 0.01
    assert (Momentum().lr, Momentum().momentum) == (0.01, 0.9)
    assert (Nesterov().lr, Nesterov().momentum) == (0.01, 0.9)
    assert (AdaGrad().lr, AdaGrad().eps) == (0.01, 1e-7)
    assert (RMSprop().lr, RMSprop().decay_rate, RMSprop().eps) == (0.01, 0.99, 1e-7)
    assert Adam().config == {"name": "adam", "lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7}


def test_lr_change_acts_on_new_gradients_only():
    # The velocity holds past steps already scaled by their lr (the book's form).
    opt = Momentum(lr=0.1, momentum=0.5)
    params = {"W": P0.copy()}
    opt.update(params, {"W": G1})
    opt.lr = 1.0
    opt.update(params, {"W": G2})
    v2 = 0.5 * (-0.1 * G1) - 1.0 * G2
    np.testing.assert_allclose(params["W"], P0 - 0.1 * G1 + v2, rtol=1e-15)


# --- the in-place implementation against a naive one (the book's code) --------------------


def naive_steps(name, hyper, p, grads):
    p = p.copy()
    lr = hyper["lr"]
    s1 = np.zeros_like(p)
    s2 = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if name == "sgd":
            p = p - lr * g
        elif name == "momentum":
            s1 = hyper["momentum"] * s1 - lr * g
            p = p + s1
        elif name == "nesterov":
            mu = hyper["momentum"]
            p = p + mu * mu * s1 - (1 + mu) * lr * g
            s1 = mu * s1 - lr * g
        elif name == "adagrad":
            s1 = s1 + g * g
            p = p - lr * g / (np.sqrt(s1) + hyper["eps"])
        elif name == "rmsprop":
            s1 = hyper["decay_rate"] * s1 + (1 - hyper["decay_rate"]) * g * g
            p = p - lr * g / (np.sqrt(s1) + hyper["eps"])
        else:
            b1, b2 = hyper["beta1"], hyper["beta2"]
            lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
            s1 = s1 + (1 - b1) * (g - s1)
            s2 = s2 + (1 - b2) * (g**2 - s2)
            p = p - lr_t * s1 / (np.sqrt(s2) + hyper["eps"])
    return p


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(NAMES),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
    lr=st.floats(1e-4, 1.0),
    seed=st.integers(0, 2**16),
)
def test_matches_naive_formulas(name, shape, lr, seed):
    r = np.random.default_rng(seed)
    opt = make_optimizer(name, lr=lr)
    p0 = r.standard_normal(shape)
    grads = [r.standard_normal(shape) for _ in range(4)]
    params = {"p": p0.copy()}
    for g in grads:
        opt.update(params, {"p": g})
    expected = naive_steps(name, opt.config, p0, grads)
    np.testing.assert_allclose(params["p"], expected, rtol=1e-12, atol=1e-12)


# --- torch.optim ----------------------------------------------------------------------------


def torch_twin(name, torch_params):
    torch = pytest.importorskip("torch")
    lr = 0.05
    ours = {
        "sgd": (SGD(lr), torch.optim.SGD(torch_params, lr=lr)),
        "momentum": (Momentum(lr, 0.8), torch.optim.SGD(torch_params, lr=lr, momentum=0.8)),
        "nesterov": (Nesterov(lr, 0.8), torch.optim.SGD(torch_params, lr=lr, momentum=0.8, nesterov=True)),
        "adagrad": (AdaGrad(lr), torch.optim.Adagrad(torch_params, lr=lr, eps=1e-7)),
        "rmsprop": (RMSprop(lr, 0.9), torch.optim.RMSprop(torch_params, lr=lr, alpha=0.9, eps=1e-7)),
        # ε placement differs (√v vs √v̂, see optim's docstring): identical with ε = 0.
        "adam": (Adam(lr, 0.8, 0.95, eps=0.0), torch.optim.Adam(torch_params, lr=lr, betas=(0.8, 0.95), eps=0.0)),
        "adam-default-eps": (Adam(lr), torch.optim.Adam(torch_params, lr=lr, eps=1e-7)),
    }
    return ours[name]


def side_by_side(name, steps):
    """Feed the same gradients to our optimizer and its torch twin; yield both parameter sets per step."""
    torch = pytest.importorskip("torch")
    params = fresh_params()
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    opt, topt = torch_twin(name, list(tparams.values()))
    for grads in grad_sequence(params, steps):
        opt.update(params, grads)
        for k, tp in tparams.items():
            tp.grad = torch.tensor(grads[k])
        topt.step()
        yield params, {k: tp.detach().numpy() for k, tp in tparams.items()}


@pytest.mark.parametrize("name", NAMES)
def test_matches_torch_optim(name):
    for ours, theirs in side_by_side(name, 8):
        for k in ours:
            np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, atol=1e-14)


def test_adam_default_eps_is_close_to_torch():
    start = fresh_params()
    *_, (ours, theirs) = side_by_side("adam-default-eps", 5)
    for k in ours:
        # The distance travelled agrees to ~ε/√v (relative); the two are not bit-identical.
        moved, moved_torch = ours[k] - start[k], theirs[k] - start[k]
        np.testing.assert_allclose(moved, moved_torch, rtol=1e-3)
        assert not np.array_equal(moved, moved_torch)


# --- protocol: in place, lazily created state keyed by name, state_dict -----------------------


@pytest.mark.parametrize("name", NAMES)
def test_updates_in_place_and_reaches_the_layers(name):
    net = MultiLayerNet(4, [5], 3, batch_norm=True, seed=0)
    before = {k: v.copy() for k, v in net.params.items()}
    ids = {k: id(v) for k, v in net.params.items()}
    x, t = np.random.default_rng(0).standard_normal((6, 4)), np.array([0, 1, 2, 0, 1, 2])
    grads = net.gradient(x, t)
    grads_before = {k: v.copy() for k, v in grads.items()}
    make_optimizer(name, lr=0.1).update(net.params, grads)
    assert {k: id(v) for k, v in net.params.items()} == ids
    assert net.layers["Affine1"].W is net.params["W1"] and net.layers["BatchNorm1"].gamma is net.params["gamma1"]
    assert not np.array_equal(net.params["W1"], before["W1"])
    for k in grads:
        np.testing.assert_array_equal(grads[k], grads_before[k])  # gradients are read, never written


@pytest.mark.parametrize("name", NAMES)
def test_state_is_lazy_keyed_by_name_and_float32_stays_float32(name):
    opt = make_optimizer(name)
    assert list(opt.state_dict()) == ["step"]
    params = {k: v.astype(np.float32) for k, v in fresh_params().items()}
    opt.update(params, grad_sequence(params, 1)[0])
    state = opt.state_dict()
    assert state["step"].shape == () and state["step"].dtype == np.int64 and int(state["step"]) == 1
    slots = {"sgd": [], "momentum": ["v"], "nesterov": ["v"], "adagrad": ["h"], "rmsprop": ["h"], "adam": ["m", "v"]}
    assert sorted(state) == sorted(["step", *(f"{s}/{k}" for s in slots[name] for k in params)])
    for key, arr in state.items():
        if key != "step":
            name_ = key.split("/", 1)[1]
            assert arr.shape == params[name_].shape and arr.dtype == np.float32
    assert all(p.dtype == np.float32 for p in params.values())


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_continues_identically(name):
    params = fresh_params()
    grads = grad_sequence(params, 6)
    a = make_optimizer(name, lr=0.05)
    for g in grads[:3]:
        a.update(params, g)
    saved_params = {k: v.copy() for k, v in params.items()}
    state = a.state_dict()
    # Round trip through an .npz file, as a checkpoint would store it (no pickle).
    b = make_optimizer(**json.loads(json.dumps(a.config)))
    b.load_state_dict(dict(state))
    resumed = {k: v.copy() for k, v in saved_params.items()}
    for g in grads[3:]:
        a.update(params, g)
        b.update(resumed, g)
    for k in params:
        np.testing.assert_array_equal(params[k], resumed[k])
    assert a.steps == b.steps == 6


def test_state_dict_returns_copies_and_load_copies_too():
    params = fresh_params()
    opt = Adam()
    opt.update(params, grad_sequence(params, 1)[0])
    state = opt.state_dict()
    state["m/W1"][...] = 123.0
    assert not np.any(opt.state_dict()["m/W1"] == 123.0)
    other = Adam()
    other.load_state_dict(state)
    state["m/W1"][...] = 0.0
    assert np.all(other.state_dict()["m/W1"] == 123.0)


def test_npz_round_trip(tmp_path):
    params = fresh_params()
    opt = RMSprop()
    opt.update(params, grad_sequence(params, 1)[0])
    np.savez(tmp_path / "opt.npz", **opt.state_dict())
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as f:
        loaded = {k: f[k] for k in f.files}
    twin = RMSprop()
    twin.load_state_dict(loaded)
    for k, v in opt.state_dict().items():
        np.testing.assert_array_equal(twin.state_dict()[k], v)


@pytest.mark.parametrize(
    ("opt", "state", "message"),
    [
        (Adam(), {}, "missing key 'step'"),
        (Adam(), {"step": np.array(-1)}, "'step' must be a non-negative 0-d integer"),
        (Adam(), {"step": np.array([1])}, "'step' must be a non-negative 0-d integer"),
        (Adam(), {"step": np.array(1.0)}, "'step' must be a non-negative 0-d integer"),
        (SGD(), {"step": np.array(1), "v/W": np.zeros(2)}, r"unexpected key 'v/W' \(expected 'step'\)"),
        (Momentum(), {"step": np.array(1), "vW": np.zeros(2)}, "unexpected key 'vW'.*'v/<param>'"),
        (Adam(), {"step": np.array(1), "m/W": np.zeros(2)}, "state for parameter 'W' lacks 'v/W'"),
        (Adam(), {"step": np.array(1), "m/W": np.zeros(2), "v/W": np.zeros(3)}, r"m/W has shape \(2,\).*v/W.*\(3,\)"),
        (Adam(), {"step": np.array(1), "m/W": np.zeros(2), "v/W": np.zeros(2, np.float32)}, "dtype float32"),
        (Momentum(), {"step": np.array(1), "v/W": np.arange(2)}, "'v/W' must be a floating NumPy array"),
        (Momentum(), {"step": np.array(1), "v/W": [0.0, 1.0]}, "'v/W' must be a floating NumPy array, got list"),
    ],
)
def test_load_state_dict_errors_leave_the_optimizer_unchanged(opt, state, message):
    params = {"W": np.ones(2)}
    opt.update(params, {"W": np.ones(2)})
    before = opt.state_dict()
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(state)
    after = opt.state_dict()
    assert list(after) == list(before) and all(np.array_equal(after[k], before[k]) for k in before)


def test_state_follows_the_name_when_the_array_is_replaced():
    opt = Momentum(lr=0.1, momentum=0.5)
    params = {"W": np.ones(2)}
    opt.update(params, {"W": np.ones(2)})  # v = -0.1
    params["W"] = np.zeros(2)  # a plain dict: a new array under the same name
    opt.update(params, {"W": np.ones(2)})  # v = 0.5·(-0.1) - 0.1
    np.testing.assert_allclose(params["W"], [-0.15, -0.15], rtol=1e-15)
    params["W"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"state v/W has shape \(2,\).*params\['W'\] has shape \(3,\)"):
        opt.update(params, {"W": np.ones(3)})


def test_state_for_another_model_is_caught_before_anything_moves():
    opt = Momentum()
    opt.load_state_dict({"step": np.array(5), "v/W": np.zeros((2, 2))})
    params = {"b": np.ones(3), "W": np.ones((3, 2))}
    with pytest.raises(ValueError, match=r"state v/W has shape \(2, 2\).*params\['W'\] has shape \(3, 2\)"):
        opt.update(params, {"b": np.ones(3), "W": np.ones((3, 2))})
    np.testing.assert_array_equal(params["b"], np.ones(3))  # b comes first and was not moved
    assert opt.steps == 5
    opt.load_state_dict({"step": np.array(5), "v/W": np.zeros((3, 2), np.float32)})
    with pytest.raises(ValueError, match="dtype float32.*dtype float64"):
        opt.update(params, {"b": np.ones(3), "W": np.ones((3, 2))})


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grads", "message"),
    [
        ({"W": np.ones((2, 3))}, "grads has no entry for parameter 'b'"),
        ({"W": np.ones((2, 3)), "b": np.ones(3), "c": np.ones(1)}, "grads has 'c', which is not a parameter"),
        ({"W": np.ones((3, 2)), "b": np.ones(3)}, r"grads\['W'\] has shape \(3, 2\), expected \(2, 3\)"),
        ({"W": np.ones((2, 3)), "b": 1.0}, r"grads\['b'\] has shape \(\), expected \(3,\)"),
        ({"W": np.ones((2, 3)), "b": None}, r"grads\['b'\] has shape \(\), expected \(3,\)"),
        ({"W": np.ones((2, 3)), "b": np.array(["a", "b", "c"])}, r"grads\['b'\] must hold real numbers"),
    ],
)
@pytest.mark.parametrize("name", NAMES)
def test_update_rejects_mismatched_grads(name, grads, message):
    opt = make_optimizer(name)
    params = {"W": np.zeros((2, 3)), "b": np.zeros(3)}
    with pytest.raises(ValueError, match=f"{type(opt).__name__}.update: {message}"):
        opt.update(params, grads)
    assert not np.any(params["W"]) and opt.steps == 0


def test_update_rejects_params_it_cannot_update_in_place():
    with pytest.raises(TypeError, match=r"params\['W'\] must be a floating NumPy array .* got list"):
        SGD().update({"W": [1.0, 2.0]}, {"W": np.ones(2)})
    with pytest.raises(TypeError, match="got ndarray of dtype int64"):
        SGD().update({"W": np.arange(2)}, {"W": np.ones(2)})
    frozen = np.ones(2)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        SGD().update({"W": frozen}, {"W": np.ones(2)})
    with pytest.raises(TypeError, match="dicts of name"):
        SGD().update([np.ones(2)], [np.ones(2)])


@pytest.mark.parametrize("bad", [0, -0.1, float("nan"), float("inf"), "0.1", True, None])
@pytest.mark.parametrize("name", NAMES)
def test_lr_must_be_positive_and_finite(name, bad):
    with pytest.raises(ValueError, match="lr must be"):
        make_optimizer(name, lr=bad)
    opt = make_optimizer(name)
    with pytest.raises(ValueError, match=f"{type(opt).__name__}: lr must be"):
        opt.lr = bad
    assert opt.lr == opt.config["lr"]


def test_schedule_sets_lr():
    opt = SGD(lr=0.1)
    opt.lr = np.float32(0.5)  # a schedule may compute it with NumPy
    assert opt.lr == 0.5 and type(opt.lr) is float
    params = {"W": np.ones(2)}
    opt.update(params, {"W": np.ones(2)})
    np.testing.assert_array_equal(params["W"], [0.5, 0.5])


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("momentum", {"momentum": 1.0}, r"momentum must lie in \[0, 1\)"),
        ("nesterov", {"momentum": -0.5}, r"momentum must lie in \[0, 1\)"),
        ("rmsprop", {"decay_rate": 1.5}, r"decay_rate must lie in \[0, 1\)"),
        ("adam", {"beta1": 1.0}, r"beta1 must lie in \[0, 1\)"),
        ("adam", {"beta2": "0.9"}, "beta2 must be a real number"),
        ("adagrad", {"eps": -1e-7}, "eps must be >= 0"),
        ("sgd", {"momentum": 0.9}, "optimizer 'sgd' does not take these arguments"),
    ],
)
def test_hyperparameter_errors(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_optimizer(name, **kwargs)


def test_registry_config_and_make_optimizer():
    assert list(OPTIMIZERS) == NAMES
    for name, cls in OPTIMIZERS.items():
        opt = make_optimizer(name, lr=0.2)
        assert type(opt) is cls and opt.config["name"] == name and opt.config["lr"] == 0.2
        config = json.loads(json.dumps(opt.config))
        assert make_optimizer(**config).config == opt.config
        assert repr(opt).startswith(f"{cls.__name__}(lr=0.2")
    assert type(make_optimizer("Adam")) is Adam
    with pytest.raises(ValueError, match=r"unknown optimizer 'lbfgs'; expected one of \['adagrad', 'adam',"):
        make_optimizer("lbfgs")
    assert RMSprop(decay_rate=0.9, eps=1e-8).config == {"name": "rmsprop", "lr": 0.01, "decay_rate": 0.9, "eps": 1e-8}


@pytest.mark.parametrize("name", NAMES)
def test_steady_state_update_allocates_no_temporaries(name):
    # A step must not allocate a parameter-sized temporary: the scratch array is reused.
    params = {"W": np.zeros(1_000_000)}  # 8 MB
    grads = {"W": np.full(1_000_000, 0.5)}
    opt = make_optimizer(name)
    opt.update(params, grads)  # first update creates the state and the scratch
    tracemalloc.start()
    try:
        opt.update(params, grads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000, f"{name} allocated {peak} bytes in a steady-state update"


def test_a_dict_of_python_floats_is_updated_by_rebinding_as_in_the_book():
    # Chapter 6's comparison on f(x, y) = x²/20 + y²: params are two Python floats.
    for name in ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"):
        opt = make_optimizer(name, lr=0.1)
        params = {"x": -7.0, "y": 2.0}
        arrays = {"x": np.array(-7.0), "y": np.array(2.0)}
        reference = make_optimizer(name, lr=0.1)
        for _ in range(3):
            grads = {"x": params["x"] / 10.0, "y": 2.0 * params["y"]}
            opt.update(params, grads)
            reference.update(arrays, {"x": arrays["x"] / 10.0, "y": 2.0 * arrays["y"]})
        assert isinstance(params["x"], float) and isinstance(params["y"], float)
        assert (params["x"], params["y"]) == (float(arrays["x"]), float(arrays["y"])), name
        assert opt.state_dict().keys() == reference.state_dict().keys()
    with pytest.raises(TypeError, match=r"params\['W'\] must be a floating NumPy array"):
        SGD().update({"W": "1.0"}, {"W": 1.0})
