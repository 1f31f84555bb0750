"""checkpoint.py: safetensors round trips, atomic writes and rejection of bad files."""

import json
import os

import numpy as np
import pytest

safetensors_numpy = pytest.importorskip("safetensors.numpy")

from chainrule import CheckpointError, load_checkpoint, load_model, save_checkpoint  # noqa: E402
from chainrule._files import atomic_write  # noqa: E402
from chainrule.models import MultiLayerNet, TwoLayerNet  # noqa: E402
from chainrule.optim import Adam, make_optimizer  # noqa: E402


def trained_mlp(seed=0):
    """An mlp with batch norm and dropout after a few Adam steps: params, buffers and state all non-trivial."""
    rng = np.random.default_rng(seed)
    net = MultiLayerNet(4, [6, 5], 3, batch_norm=True, dropout=0.2, dtype=np.float32, seed=rng)
    opt = Adam(lr=0.01)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    t = rng.integers(0, 3, 8)
    for _ in range(3):
        opt.update(net.params, net.gradient(x, t))
    return net, opt, rng, x


def test_round_trip_restores_params_buffers_optimizer_and_rng(tmp_path):
    net, opt, rng, x = trained_mlp()
    path = save_checkpoint(tmp_path / "m.safetensors", net, opt, rng=rng, trainer_state={"epoch": 3}, info={"a": 1})
    expected_draw = np.random.default_rng()
    expected_draw.bit_generator.state = rng.bit_generator.state

    fresh = np.random.default_rng(123)
    ckpt = load_checkpoint(path, rng=fresh)
    assert ckpt.model.config == net.config
    for k, v in net.params.items():
        assert ckpt.model.params[k].dtype == v.dtype
        np.testing.assert_array_equal(ckpt.model.params[k], v)
    assert list(ckpt.model.buffers) == list(net.buffers) and len(net.buffers) == 4
    for k, v in net.buffers.items():
        np.testing.assert_array_equal(ckpt.model.buffers[k], v)
    np.testing.assert_array_equal(ckpt.model.predict(x), net.predict(x))
    assert ckpt.optimizer.config == opt.config
    saved, loaded = opt.state_dict(), ckpt.optimizer.state_dict()
    assert sorted(saved) == sorted(loaded)  # (safetensors stores keys sorted)
    for k in saved:
        np.testing.assert_array_equal(loaded[k], saved[k])
    # The generator passed in is the rebuilt model's (dropout) generator, set to the saved state.
    assert ckpt.model.rng is fresh
    assert fresh.random() == expected_draw.random()
    assert ckpt.epoch == 3 and ckpt.info == {"a": 1}
    assert ckpt.metadata["format_version"] == 1 and ckpt.metadata["chainrule_version"]


def test_model_only_checkpoint_and_run_folder(tmp_path):
    net = TwoLayerNet(5, 4, 3, seed=0, dtype=np.float32)
    save_checkpoint(tmp_path / "model.safetensors", net)
    for where in (tmp_path, tmp_path / "model.safetensors", str(tmp_path)):
        model = load_model(where)
        assert isinstance(model, TwoLayerNet) and model.dtype == np.float32
        np.testing.assert_array_equal(model.params["W1"], net.params["W1"])
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.optimizer is None and ckpt.trainer_state is None and ckpt.history == []


def test_file_is_safetensors_with_prefixed_keys_and_json_metadata(tmp_path):
    net, opt, rng, _ = trained_mlp()
    path = save_checkpoint(tmp_path / "m.safetensors", net, opt, rng=rng, trainer_tensors={"perm": np.arange(3)})
    tensors = safetensors_numpy.load_file(str(path))
    assert {k.split("/")[0] for k in tensors} == {"param", "buffer", "optim", "trainer"}
    assert tensors["optim/step"].shape == ()  # 0-d arrays stay 0-d
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    meta = json.loads(header["__metadata__"]["chainrule"])
    assert meta["model"]["model"] == "mlp" and meta["optimizer"]["name"] == "adam"
    assert meta["rng_state"]["bit_generator"] == "PCG64"


def test_write_is_atomic(tmp_path, monkeypatch):
    net = TwoLayerNet(3, 2, 2, seed=0)
    path = save_checkpoint(tmp_path / "m.safetensors", net)
    before = path.read_bytes()
    net.params["W1"] += 1.0

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, net)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # no temp file left behind
    monkeypatch.undo()
    atomic_write(tmp_path / "x.txt", b"hello")
    assert (tmp_path / "x.txt").read_bytes() == b"hello"


def test_unserialisable_metadata_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        save_checkpoint(tmp_path / "m.safetensors", TwoLayerNet(3, 2, 2, seed=0), info={"x": object()})


# --------------------------------------------------------------------------------------------
# Rejection of files that are not (valid) checkpoints
# --------------------------------------------------------------------------------------------


def good_parts(tmp_path):
    net, opt, rng, _ = trained_mlp()
    path = save_checkpoint(tmp_path / "good.safetensors", net, opt, rng=rng)
    tensors = dict(safetensors_numpy.load_file(str(path)))
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(n))["__metadata__"]
    return path, tensors, meta


def write(tmp_path, tensors, meta, name="bad.safetensors"):
    path = tmp_path / name
    safetensors_numpy.save_file(tensors, str(path), metadata=meta)
    return path


def expect_error(path, *fragments):
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_rejects_random_bytes_empty_and_text(tmp_path):
    rand = tmp_path / "random.safetensors"
    rand.write_bytes(np.random.default_rng(0).bytes(1000))
    expect_error(rand, "not a safetensors file")
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    expect_error(empty, "not a safetensors file")
    text = tmp_path / "notes.safetensors"
    text.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00this is not json")
    expect_error(text, "not JSON")


def test_rejects_truncated_file(tmp_path):
    path, _, _ = good_parts(tmp_path)
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[:-10])
    expect_error(cut, "truncated")
    cut.write_bytes(data[:50])
    expect_error(cut, "truncated")


def test_rejects_safetensors_without_chainrule_metadata(tmp_path):
    path = write(tmp_path, {"param/W1": np.zeros((2, 2), np.float32)}, None)
    expect_error(path, "not a chainrule checkpoint")
    path = write(tmp_path, {"param/W1": np.zeros((2, 2), np.float32)}, {"other": "x"}, "other.safetensors")
    expect_error(path, "not a chainrule checkpoint")
    path = write(tmp_path, {"x": np.zeros(1)}, {"chainrule": "{not json"}, "badjson.safetensors")
    expect_error(path, "not valid JSON")


def test_rejects_wrong_shape_dtype_missing_and_extra_keys(tmp_path):
    _, tensors, meta = good_parts(tmp_path)
    bad = dict(tensors, **{"param/W1": np.zeros((4, 7), np.float32)})
    expect_error(write(tmp_path, bad, meta, "shape.safetensors"), "param/W1", "(4, 7)", "(4, 6)")
    bad = dict(tensors, **{"param/W1": tensors["param/W1"].astype(np.float64)})
    expect_error(write(tmp_path, bad, meta, "dtype.safetensors"), "param/W1", "float64", "float32")
    bad = {k: v for k, v in tensors.items() if k != "buffer/running_mean1"}
    expect_error(write(tmp_path, bad, meta, "missing.safetensors"), "missing tensor buffer/running_mean1")
    bad = dict(tensors, **{"param/W9": np.zeros(2, np.float32)})
    expect_error(write(tmp_path, bad, meta, "extra.safetensors"), "unexpected tensor param/W9")
    bad = dict(tensors, **{"weights": np.zeros(2, np.float32)})
    expect_error(write(tmp_path, bad, meta, "prefix.safetensors"), "unexpected tensor 'weights'")
    bad = dict(tensors, **{"optim/m/W1": np.zeros((3, 3), np.float32)})
    expect_error(write(tmp_path, bad, meta, "optim.safetensors"), "optim/m/W1", "(3, 3)")


def test_rejects_bad_configuration_and_newer_format(tmp_path):
    _, tensors, meta = good_parts(tmp_path)
    info = json.loads(meta["chainrule"])
    newer = dict(info, format_version=99)
    expect_error(write(tmp_path, tensors, {"chainrule": json.dumps(newer)}, "new.safetensors"), "newer")
    unknown = dict(info, model=dict(info["model"], model="resnet"))
    expect_error(write(tmp_path, tensors, {"chainrule": json.dumps(unknown)}, "model.safetensors"), "resnet")
    bad_opt = dict(info, optimizer={"name": "lbfgs", "lr": 0.1})
    expect_error(write(tmp_path, tensors, {"chainrule": json.dumps(bad_opt)}, "opt.safetensors"), "lbfgs")


def test_missing_path_and_folder_without_checkpoint(tmp_path):
    expect_error(tmp_path / "nope.safetensors", "no such")
    with pytest.raises(CheckpointError, match="holds no model.safetensors"):
        load_checkpoint(tmp_path)
    assert issubclass(CheckpointError, ValueError)


def test_optimizer_rebuilt_by_name_with_hyperparameters(tmp_path):
    net = TwoLayerNet(3, 2, 2, seed=0)
    opt = make_optimizer("momentum", lr=0.05, momentum=0.8)
    x, t = np.ones((2, 3)), np.array([0, 1])
    opt.update(net.params, net.gradient(x, t))
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "m.safetensors", net, opt))
    assert ckpt.optimizer.config == {"name": "momentum", "lr": 0.05, "momentum": 0.8}
    np.testing.assert_array_equal(ckpt.optimizer.state_dict()["v/W1"], opt.state_dict()["v/W1"])


# --------------------------------------------------------------------------------------------
# Hostile files (issue 13): configs that would allocate, non-regular and huge files, deep JSON
# --------------------------------------------------------------------------------------------


def with_model_config(tmp_path, name, **changes):
    """A valid TwoLayerNet(5, 4, 3) checkpoint whose stored model config is changed by ``changes``
    (replaced by it when it names another model)."""
    net = TwoLayerNet(5, 4, 3, seed=0, dtype=np.float32)
    path = save_checkpoint(tmp_path / "small.safetensors", net, Adam(lr=0.01))
    tensors = dict(safetensors_numpy.load_file(str(path)))
    with open(path, "rb") as f:
        info = json.loads(json.loads(f.read(int.from_bytes(f.read(8), "little")))["__metadata__"]["chainrule"])
    info["model"] = dict(changes) if "model" in changes else {**info["model"], **changes}
    return write(tmp_path, tensors, {"chainrule": json.dumps(info)}, name)


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"hidden_size": 10**6}, ("param/W1", "(5, 4)", "(5, 1000000)")),
        ({"hidden_size": 10**9}, ("param/W1", "(5, 1000000000)")),
        ({"input_size": 10**12}, ("param/W1", "(1000000000000, 4)")),
        ({"model": "convnet", "input_dim": [1, 10**4, 10**4], "hidden_size": 4, "output_size": 3}, ("param/W1",)),
        ({"model": "mlp", "input_size": 5, "hidden_sizes": [10**6] * 3, "output_size": 3}, ("param/W1",)),
    ],
)
def test_a_config_is_checked_against_the_stored_shapes_before_anything_is_built(tmp_path, changes, fragments):
    import tracemalloc

    path = with_model_config(tmp_path, "huge.safetensors", **changes)
    assert path.stat().st_size < 10_000
    for load in (load_checkpoint, load_model):
        tracemalloc.start()
        try:
            with pytest.raises(CheckpointError) as info:
                load(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 2 * 2**20, f"{peak} bytes allocated before the config was refused"
        assert str(path) in str(info.value) and all(f in str(info.value) for f in fragments), str(info.value)


def test_a_fifo_a_device_and_a_huge_sparse_file_are_refused_unread(tmp_path):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)  # opening it would block for ever
    expect_error(fifo, "expected a regular checkpoint file, got a FIFO")
    if os.path.exists("/dev/zero"):
        with pytest.raises(CheckpointError, match="got a device"):
            load_checkpoint("/dev/zero")
    sparse = tmp_path / "sparse.safetensors"
    with open(sparse, "wb") as f:
        f.truncate(64 * 2**30)  # 64 GiB, no block on disk
    expect_error(sparse, "64.0 GiB", "more than the 4.0 GiB")


def test_deeply_nested_json_in_the_header_or_the_metadata_is_one_error(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    header = json.dumps({"__metadata__": {"chainrule": "{}"}, "x": {"dtype": "F32", "shape": [0]}})
    header = header.replace('"shape": [0]', f'"shape": [0], "deep": {deep}').encode()
    path = tmp_path / "deep-header.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    expect_error(path, "nested too deeply")
    path = write(
        tmp_path, {"x": np.zeros(1)}, {"chainrule": '{"format_version": 1, "a": ' + deep + "}"}, "deep.safetensors"
    )
    expect_error(path, "'chainrule' metadata is JSON nested too deeply")
