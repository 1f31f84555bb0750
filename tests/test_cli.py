"""The command line, run as subprocesses: train, eval, predict, gradcheck and their errors."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

SPIRAL_FAST = ["--dataset", "spiral", "--model", "mlp", "--hidden", "32", "--optimizer", "adam", "--lr", "0.03"]


@pytest.fixture
def env(tmp_path):
    e = dict(os.environ)
    e["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # the IDX conversion cache stays in tmp_path
    e["MPLCONFIGDIR"] = str(tmp_path / "mpl")
    e["OMP_NUM_THREADS"] = e["OPENBLAS_NUM_THREADS"] = "1"
    e.pop("CHAINRULE_DATA", None)
    return e


def cli(env, *args, cwd=None, check_rc=None):
    proc = subprocess.run(
        [sys.executable, "-m", "chainrule", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )
    if check_rc is not None:
        assert proc.returncode == check_rc, f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def final_accuracy(text):
    match = re.search(r"test accuracy (\d\.\d{4})", text.strip().splitlines()[-1])
    assert match, text
    return match.group(1)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def write_idx(path, array, magic):
    """An IDX file: big-endian magic (0x0803 images / 0x0801 labels), dims, uint8 payload."""
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def mnist_dir(tmp_path):
    """Four tiny MNIST-format files: class k is a bright bar at column 4 + 2k (plus noise)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for prefix, n in (("train", 120), ("t10k", 40)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 40, (n, 28, 28))
        for i, k in enumerate(labels):
            images[i, 6:22, 4 + 2 * k : 6 + 2 * k] = 255
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, 0x00000803)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, 0x00000801)
    return folder


# --------------------------------------------------------------------------------------------
# train and eval
# --------------------------------------------------------------------------------------------


def test_train_spiral_writes_the_run_and_eval_agrees(tmp_path, env):
    out = tmp_path / "run"
    proc = cli(env, "train", *SPIRAL_FAST, "--epochs", "40", "--batch-size", "30", "--out", out, check_rc=0)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 41
    assert re.match(r"epoch\s+1/40\s+iter\s+8\s+loss \d\.\d{4}\s+train acc \d\.\d{4}\s+test acc \d\.\d{4}", lines[0])
    assert str(out) in lines[-1] and lines[-1].startswith("final test accuracy")
    assert proc.stderr == ""  # stderr is a pipe, not a terminal: no progress-bar frames in the log
    assert sorted(p.name for p in out.iterdir()) == ["curves.png", "history.csv", "model.safetensors", "run.json"]

    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 40
    assert {"epoch", "iteration", "loss", "train_acc", "test_acc", "seconds"} <= set(rows[0])
    assert float(rows[-1]["train_acc"]) >= 0.95
    assert final_accuracy(proc.stdout) == f"{float(rows[-1]['test_acc']):.4f}"

    info = json.loads((out / "run.json").read_text())
    assert info["settings"]["dataset"] == "spiral" and info["settings"]["epochs"] == 40
    assert info["seed"] == 0 and info["model"]["model"] == "mlp" and info["model"]["input_size"] == 2
    assert info["model"]["output_size"] == 3 and info["optimizer"]["name"] == "adam"
    assert info["dataset"]["n_train"] == 240 and len(info["dataset"]["train_sha256"]) == 64
    assert set(info["versions"]) == {"chainrule", "numpy", "python"}
    assert info["result"]["final"]["test_acc"] == float(rows[-1]["test_acc"])
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"

    evaluation = cli(env, "eval", out, check_rc=0)
    assert final_accuracy(evaluation.stdout) == final_accuracy(proc.stdout)
    evaluation = cli(env, "eval", out / "model.safetensors", "--dataset", "spiral", check_rc=0)
    assert final_accuracy(evaluation.stdout) == final_accuracy(proc.stdout)


def test_quiet_and_json_output_for_scripts(tmp_path, env):
    out = tmp_path / "run"
    quiet = cli(env, "train", *SPIRAL_FAST, "--epochs", "3", "--out", out, "--quiet", check_rc=0)
    assert quiet.stderr == "" and len(quiet.stdout.splitlines()) == 1
    assert quiet.stdout.startswith("final test accuracy")
    doc = json.loads(cli(env, "train", "--resume", out, "--epochs", "5", "--json", check_rc=0).stdout)
    info = json.loads((out / "run.json").read_text())
    assert doc == {"folder": str(out), **info["result"]}
    assert doc["epochs_completed"] == 5 and doc["final"]["epoch"] == 5 and not doc["stopped_early"]
    evaluation = json.loads(cli(env, "eval", out, "--json", check_rc=0).stdout)
    assert evaluation["dataset"] == "spiral" and evaluation["samples"] == 60  # the spiral test split
    assert evaluation["accuracy"] == pytest.approx(doc["final"]["test_acc"], abs=1e-12)
    assert evaluation["loss"] == pytest.approx(doc["final"]["test_loss"], rel=1e-6)
    assert evaluation["model"] == str(out / "model.safetensors")
    assert cli(env, "eval", out, "--quiet", check_rc=0).stdout == f"{doc['final']['test_acc']:.4f}\n"
    for command in (["train", *SPIRAL_FAST], ["eval", out]):
        assert_one_line_error(cli(env, *command, "--quiet", "--json"), "not allowed with argument")
    assert_one_line_error(cli(env, "train", "--quiet", "--no-progress"), "not allowed with argument")


def test_the_bar_is_drawn_on_a_terminal_and_left_finished(tmp_path, env):
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "chainrule", "train", *SPIRAL_FAST, "--epochs", "3", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=follower, text=True, env=env)
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    stdout, _ = proc.communicate(timeout=60)
    os.close(leader)
    assert proc.returncode == 0
    frames = screen.decode()
    last_frame = frames.rstrip("\r\n").rsplit("\r", 1)[-1]
    assert last_frame.startswith("train: 100%") and "9/9" in last_frame  # left on screen, finished
    assert frames.endswith("\n")
    assert [line.split()[1] for line in stdout.splitlines()[:3]] == ["1/3", "2/3", "3/3"]


def test_train_mnist_from_idx_files_then_eval_and_predict(tmp_path, env, mnist_dir):
    from PIL import Image, ImageDraw

    out = tmp_path / "mnist_run"
    args = ["--dataset", "mnist", "--data-dir", mnist_dir, "--epochs", "3", "--batch-size", "20", "--out", out]
    proc = cli(env, "train", *args, "--no-progress", check_rc=0)
    assert len(proc.stdout.strip().splitlines()) == 4 and proc.stderr == ""
    info = json.loads((out / "run.json").read_text())
    assert info["model"] == {
        "model": "two-layer",
        "input_size": 784,
        "hidden_size": 50,
        "output_size": 10,
        "weight_init_std": 0.01,
        "dtype": "float32",
    }
    assert info["optimizer"] == {"name": "sgd", "lr": 0.1}

    evaluation = cli(env, "eval", out, check_rc=0)  # data set and folder come from the checkpoint
    assert final_accuracy(evaluation.stdout) == final_accuracy(proc.stdout)
    assert "40 mnist test samples" in evaluation.stdout
    test_only = tmp_path / "test_only"  # eval needs the two test files, not all four
    test_only.mkdir()
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (test_only / name).write_bytes((mnist_dir / name).read_bytes())
    evaluation = cli(env, "eval", out, "--dataset", "mnist", "--data-dir", test_only, check_rc=0)
    assert final_accuracy(evaluation.stdout) == final_accuracy(proc.stdout)
    assert_one_line_error(
        cli(env, "train", "--data-dir", test_only, "--no-progress"),
        f"MNIST: --data-dir {test_only} lacks train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz]; "
        "it needs all four IDX files",
    )

    # A digit drawn dark on light paper, off-centre, in colour, at a size that is not 28x28.
    image = Image.new("RGB", (90, 120), "white")
    ImageDraw.Draw(image).line([(60, 20), (60, 100)], fill=(20, 20, 60), width=9)
    png = tmp_path / "one.png"
    image.save(png)
    jpg = tmp_path / "one.jpg"
    image.save(jpg)
    pred = cli(env, "predict", out, png, jpg, "--top", "3", check_rc=0)
    lines = pred.stdout.strip().splitlines()
    assert lines[0] == f"{png}:" and lines[4] == f"{jpg}:"
    probs = []
    for rank, line in enumerate(lines[1:4], 1):
        match = re.fullmatch(rf"\s+{rank}\. ([0-9])\s+(\d\.\d{{4}})", line)
        assert match, line
        probs.append(float(match.group(2)))
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    not_image = tmp_path / "notes.png"
    not_image.write_text("hello")
    assert_one_line_error(cli(env, "predict", out, not_image), "notes.png", "not an image")


REAL_MNIST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"
REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")


def real_test_set_as_pngs(folder, x_uint8, n):
    """The first ``n`` test images written as 28x28 8-bit grayscale PNG files."""
    from PIL import Image

    folder.mkdir()
    paths = []
    for i in range(n):
        paths.append(folder / f"test-{i:03d}.png")
        Image.fromarray(x_uint8[i].reshape(28, 28), mode="L").save(paths[-1])
    return paths


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_predict_on_real_test_images_agrees_with_the_arrays(tmp_path, env, dataset):
    from chainrule import load_checkpoint
    from chainrule.datasets import CLASS_NAMES, DatasetError, load_dataset

    if dataset == "mnist":
        # The real MNIST test set; its training images are not on this machine, so the model
        # trains on the test files (this checks preparation, not generalisation).
        if not (REAL_MNIST / "t10k-images-idx3-ubyte.gz").exists():
            pytest.skip(f"the real MNIST test files are not in {REAL_MNIST}")
        data_dir = tmp_path / "mnist-data"
        data_dir.mkdir()
        for split in ("images-idx3", "labels-idx1"):
            test_file = REAL_MNIST / f"t10k-{split}-ubyte.gz"
            (data_dir / test_file.name).write_bytes(test_file.read_bytes())
            (data_dir / f"train-{split}-ubyte.gz").write_bytes(test_file.read_bytes())
        source = ["--data-dir", data_dir]
    else:
        try:
            load_dataset("fashion-mnist", download=False)
        except DatasetError:
            pytest.skip("Fashion-MNIST is not on this machine (apt-get install dataset-fashion-mnist)")
        data_dir, source = None, []
    out = tmp_path / "run"
    cli(env, "train", "--dataset", dataset, *source, "--iters", "600", "--no-progress", "--out", out, check_rc=0)
    model = load_checkpoint(out).model
    _, (x_raw, t_test) = load_dataset(dataset, normalize=False, data_dir=data_dir, download=False)
    _, (x_test, _) = load_dataset(dataset, data_dir=data_dir, download=False)
    n = 200
    pngs = real_test_set_as_pngs(tmp_path / "pngs", x_raw, n)

    doc = json.loads(cli(env, "predict", out, *pngs, "--json", "--top", "10", check_rc=0).stdout)
    assert doc["dataset"] == dataset and doc["errors"] == []
    names = CLASS_NAMES[dataset]
    probs = np.exp(model.predict(x_test[:n]).astype(np.float64))
    probs /= probs.sum(axis=1, keepdims=True)
    predicted = [p["top"][0]["class"] for p in doc["predictions"]]
    assert [p["image"] for p in doc["predictions"]] == [str(p) for p in pngs]
    np.testing.assert_array_equal(predicted, probs.argmax(axis=1))
    for row, p in zip(doc["predictions"], probs, strict=True):
        assert [c["label"] for c in row["top"]] == [names[c["class"]] for c in row["top"]]
        np.testing.assert_allclose(
            [c["probability"] for c in row["top"]], p[[c["class"] for c in row["top"]]], atol=1e-6
        )
    accuracy = float(np.mean(np.array(predicted) == t_test[:n]))
    assert accuracy >= 0.7, accuracy  # 600 steps of the book's network: about 0.8 on either set

    quiet = cli(env, "predict", out, pngs[0], pngs[1], "--quiet", check_rc=0).stdout.splitlines()
    assert quiet == [f"{pngs[i]}\t{names[predicted[i]]}\t{probs[i, predicted[i]]:.4f}" for i in range(2)]


def bomb_png(w, h):
    """A PNG that declares w x h pixels in a few bytes (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_predict_reports_a_bad_image_and_goes_on(tmp_path, env, mnist_dir):
    from PIL import Image

    out = tmp_path / "run"
    cli(env, "train", "--dataset", "mnist", "--data-dir", mnist_dir, "--epochs", "1", "--no-progress", "--out", out)
    good = tmp_path / "bar.png"
    Image.fromarray(np.uint8(np.pad(np.full((16, 2), 255), ((6, 6), (13, 13))))).save(good)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    blank = tmp_path / "blank.png"
    Image.new("L", (40, 40), 255).save(blank)
    bomb = tmp_path / "bomb.png"  # 65535x65535 declared in 60 bytes: a DecompressionBombError traceback before
    bomb.write_bytes(bomb_png(65535, 65535))
    fifo = tmp_path / "fifo.png"  # blocked for ever before
    os.mkfifo(fifo)
    proc = cli(env, "predict", out, broken, good, blank, bomb, fifo, "--top", "1")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 4
    assert errors[0].startswith("chainrule predict: error: ") and "broken.png" in errors[0]
    assert "blank.png" in errors[1] and "blank" in errors[1].split("blank.png")[1]
    assert "bomb.png" in errors[2] and "declares 4,294,836,225 pixels, more than the 50,000,000" in errors[2]
    assert "fifo.png" in errors[3] and "FIFO" in errors[3]
    assert proc.stdout.splitlines()[0] == f"{good}:" and len(proc.stdout.splitlines()) == 2
    doc = json.loads(cli(env, "predict", out, broken, good, "--json").stdout)
    assert [p["image"] for p in doc["predictions"]] == [str(good)]
    assert [e["image"] for e in doc["errors"]] == [str(broken)] and "not an image" in doc["errors"][0]["error"]
    both = cli(env, "predict", out, good, "--json", "--quiet")
    assert_one_line_error(both, "not allowed with argument")


def test_convnet_trains_resumes_evaluates_predicts_and_draws_its_filters(tmp_path, env, mnist_dir):
    from PIL import Image

    out = tmp_path / "conv"
    args = ["--model", "convnet", "--filters", "4", "--hidden", "16", "--dataset", "mnist", "--data-dir", mnist_dir]
    proc = cli(env, "train", *args, "--epochs", "2", "--batch-size", "20", "--out", out, "--no-progress", check_rc=0)
    info = json.loads((out / "run.json").read_text())
    assert info["model"] == {
        "model": "convnet",
        "input_dim": [1, 28, 28],
        "conv_param": {"filter_num": 4, "filter_size": 5, "pad": 0, "stride": 1},
        "hidden_size": 16,
        "output_size": 10,
        "weight_init_std": 0.01,
        "dtype": "float32",
    }
    assert info["optimizer"] == {"name": "adam", "lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-07}
    assert info["dataset"]["sample_shape"] == [1, 28, 28]
    resumed = cli(env, "train", "--resume", out, "--epochs", "3", "--no-progress", check_rc=0)
    assert "epoch 3/3" in resumed.stdout
    evaluation = cli(env, "eval", out, check_rc=0)
    assert final_accuracy(evaluation.stdout) == final_accuracy(resumed.stdout)
    digit = tmp_path / "bar.png"
    Image.fromarray(np.uint8(np.pad(np.full((16, 2), 255), ((6, 6), (13, 13))))).save(digit)
    lines = cli(env, "predict", out, digit, "--top", "2", check_rc=0).stdout.splitlines()
    assert lines[0] == f"{digit}:" and len(lines) == 3
    drawn = cli(env, "filters", out, check_rc=0)
    assert (
        drawn.stderr.strip() == f"wrote {out / 'filters.png'}" and (out / "filters.png").read_bytes()[:4] == b"\x89PNG"
    )
    assert_one_line_error(cli(env, "filters", out, "--param", "W2"), "W2 is not a convolution's filters", "W1")
    assert_one_line_error(
        cli(env, "train", "--model", "convnet", "--dataset", "spiral"), "--model convnet needs images"
    )
    assert proc.returncode == 0


@pytest.mark.parametrize("model", ["convnet", "deep-convnet"])
def test_gradcheck_of_the_convolutional_networks(env, model):
    proc = cli(env, "gradcheck", "--model", model, check_rc=0)
    assert proc.stdout.startswith(f"gradient check of {model} 1x8x8, filters ")
    assert "gradient check passed" in proc.stdout


def test_resume_continues_exactly(tmp_path, env):
    args = [*SPIRAL_FAST, "--batch-size", "60", "--no-progress"]
    cli(env, "train", *args, "--epochs", "4", "--out", tmp_path / "full", check_rc=0)
    cli(env, "train", *args, "--epochs", "2", "--out", tmp_path / "half", check_rc=0)
    resumed = cli(env, "train", "--resume", tmp_path / "half", "--epochs", "4", "--no-progress", check_rc=0)
    assert resumed.stdout.splitlines()[0].startswith("epoch 3/4")

    def rows(folder):
        with open(folder / "history.csv") as f:
            return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]

    assert rows(tmp_path / "half") == rows(tmp_path / "full")
    from safetensors.numpy import load_file

    a, b = load_file(str(tmp_path / "half/model.safetensors")), load_file(str(tmp_path / "full/model.safetensors"))
    for key in [k for k in a if k.startswith(("param/", "optim/"))]:
        np.testing.assert_array_equal(a[key], b[key])
    info = json.loads((tmp_path / "half/run.json").read_text())
    assert info["settings"]["epochs"] == 4 and info["resumed"][0]["epoch"] == 2

    changed = cli(env, "train", "--resume", tmp_path / "half", "--epochs", "5", "--lr", "0.5")
    assert_one_line_error(changed, "--lr cannot change when resuming")


def test_ctrl_c_keeps_the_last_checkpoint(tmp_path, env):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "chainrule", "train", *SPIRAL_FAST, "--epochs", "100000", "--out", str(out)]
    proc = subprocess.Popen(cmd + ["--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()  # the first epoch is done and checkpointed
        assert first.startswith("epoch"), first
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted at iteration" in err and f"--resume {out}" in err and "Traceback" not in err
    from chainrule import load_checkpoint

    ckpt = load_checkpoint(out)
    assert ckpt.epoch >= 1 and len(ckpt.history) == ckpt.epoch
    resumed = cli(env, "train", "--resume", out, "--epochs", ckpt.epoch + 1, "--no-progress", check_rc=0)
    assert resumed.stdout.startswith(f"epoch {ckpt.epoch + 1}/")


def test_schedule_and_early_stopping_options(tmp_path, env):
    out = tmp_path / "step"
    args = ["--schedule", "step", "--step-size", "1", "--gamma", "0.5", "--epochs", "3", "--no-progress"]
    cli(env, "train", *SPIRAL_FAST, *args, "--out", out, check_rc=0)
    with open(out / "history.csv") as f:
        assert [float(r["lr"]) for r in csv.DictReader(f)] == [0.03, 0.015, 0.0075]
    out = tmp_path / "early"
    args = ["--early-stopping", "1", "--monitor", "test_acc", "--epochs", "500", "--no-progress"]
    proc = cli(env, "train", *SPIRAL_FAST, *args, "--out", out, check_rc=0)
    lines = proc.stdout.strip().splitlines()
    assert lines[-2].startswith("early stopping: test acc did not improve for 1 epoch; kept epoch")
    assert len(lines) < 500
    assert final_accuracy(cli(env, "eval", out, check_rc=0).stdout) == final_accuracy(proc.stdout)


def test_default_out_dir_is_under_runs(tmp_path, env):
    proc = cli(env, "train", *SPIRAL_FAST, "--epochs", "1", "--no-progress", cwd=tmp_path, check_rc=0)
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert re.fullmatch(r"\d{8}-\d{6}", run_dir.name)
    assert proc.stdout.strip().endswith(f"saved in runs/{run_dir.name}")


def test_divergence_is_a_one_line_error(tmp_path, env):
    proc = cli(env, "train", "--dataset", "spiral", "--lr", "1e9", "--epochs", "5", "--no-progress", "--out", tmp_path)
    assert_one_line_error(proc, "training diverged", "iteration", "lower learning rate")


def test_a_blown_up_run_with_a_finite_loss_is_a_one_line_error_naming_lr(tmp_path, env):
    # lr 1000: the loss stays finite (6e7 after the first epoch) and the accuracy at chance; exit 0 before
    proc = cli(env, "train", "--dataset", "spiral", "--lr", "1000", "--epochs", "5", "--no-progress", "--out", tmp_path)
    assert_one_line_error(
        proc, "training diverged", "no better than always answering", "lower learning rate than --lr 1000"
    )


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["train", "--dataset", "cifar"], ["invalid choice: 'cifar'"]),
        (["train", "--lr", "-1"], ["--lr", "positive number"]),
        (["train", "--lr", "fast"], ["--lr", "expected a number"]),
        (["train", "--dropout", "1.5"], ["--dropout", "[0, 1)"]),
        (["train", "--epochs", "2", "--iters", "3"], ["not allowed with argument"]),
        (["train", "--dataset", "spiral", "--hidden", "10", "20"], ["two-layer takes one --hidden size"]),
        (["train", "--dataset", "spiral", "--dropout", "0.5"], ["--dropout need --model mlp"]),
        (["train", "--dataset", "spiral", "--data-dir", "."], ["--data-dir applies to mnist"]),
        (
            ["train", "--dataset", "mnist", "--data-dir", "/nonexistent/folder"],
            ["--data-dir /nonexistent/folder is not"],
        ),
        (["train", "--resume", "/nonexistent/run"], ["no such run folder"]),
        (["eval", "/nonexistent/model.safetensors"], ["no such checkpoint"]),
        (["predict", "/nonexistent/model.safetensors", "x.png"], ["no such checkpoint"]),
        (["gradcheck", "--batch", "0"], ["--batch", "positive integer"]),
        # issue 13, item 22: --out "" trained into the current folder
        (["train", "--dataset", "spiral", "--out", ""], ["argument --out: expected a folder, got ''"]),
        (["train", "--resume", " "], ["argument --resume: expected a folder"]),
        # item 11: sizes that cannot fit were a MemoryError traceback (or swapped the machine to a halt)
        (
            ["train", "--dataset", "spiral", "--hidden", "1000000000000"],
            ["--hidden 1000000000000: too large", "a training step of batch 100 would need"],
        ),
        # a new-user review: each weight array fit, the step's activations did not (a 37 GiB
        # MemoryError traceback in the first step); refused before a weight is drawn
        (
            ["train", "--dataset", "spiral", "--hidden", "100000000"],
            ["--hidden 100000000: too large", "a training step of batch 100 would need"],
        ),
        (
            ["gradcheck", "--batch", "100000000000"],
            ["--batch 100000000000: too large", "samples and its activations would need"],
        ),
        (
            ["gradcheck", "--hidden", "7", "1000000000000", "--model", "mlp"],
            ["--hidden 7 1000000000000: too large", "7x1000000000000 float64"],
        ),
        (["gradcheck", "--model", "convnet", "--filters", "1000000000000"], ["--filters 1000000000000: too large"]),
        (["gradcheck", "--classes", "1000000000000"], ["--classes 1000000000000: too large"]),
        # item 23: --weight-init 1e308 printed RuntimeWarnings, then "diverged ... lower learning rate"
        (["train", "--dataset", "spiral", "--weight-init", "1e308"], ["argument --weight-init", "at most 1000"]),
        (["gradcheck", "--weight-init", "1e308"], ["argument --weight-init", "at most 1000"]),
        (["gradcheck", "--bogus"], ["chainrule gradcheck: error: unrecognized arguments: --bogus", "gradcheck --help"]),
        (["eval", "run", "--top", "3"], ["chainrule eval: error: unrecognized arguments: --top 3"]),
        (["graph", "appel"], ["chainrule graph: error: unknown example 'appel', did you mean apple?"]),
        (["graph", "apple-orang"], ["unknown example 'apple-orang', did you mean apple-orange?"]),
        (["graph", "foo"], ["no value for foo", "--set foo=1"]),
        (["--bogus"], ["chainrule: error: unrecognized arguments: --bogus"]),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, env, args, fragments):
    assert_one_line_error(cli(env, *args, cwd=tmp_path), *fragments)


def test_corrupt_checkpoint_and_bad_image(tmp_path, env):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(np.random.default_rng(0).bytes(500))
    assert_one_line_error(cli(env, "eval", bad), "not a safetensors file")
    assert_one_line_error(cli(env, "eval", tmp_path, "--dataset", "spiral"), "not a safetensors file")
    spiral_run = tmp_path / "spiral"
    cli(env, "train", *SPIRAL_FAST, "--epochs", "1", "--no-progress", "--out", spiral_run, check_rc=0)
    not_image = tmp_path / "notes.png"
    not_image.write_text("hello")
    assert_one_line_error(cli(env, "predict", spiral_run, not_image), "28x28")
    assert_one_line_error(
        cli(env, "eval", spiral_run, "--dataset", "mnist", "--data-dir", tmp_path),
        f"--data-dir {tmp_path} lacks t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]; "
        "it needs the two test files",
    )


# --------------------------------------------------------------------------------------------
# gradcheck and the package itself
# --------------------------------------------------------------------------------------------


def test_gradcheck_passes_and_prints_the_table(env):
    proc = cli(env, "gradcheck", check_rc=0)
    assert proc.stdout.startswith("gradient check of two-layer 6-5-3")
    for name in ("W1", "b1", "W2", "b2"):
        assert re.search(rf"^{name}\s+\S+\s+\d\.\d{{3}}e[-+]\d+\s+.*ok$", proc.stdout, re.M), proc.stdout
    assert "gradient check passed" in proc.stdout
    proc = cli(env, "gradcheck", "--model", "mlp", "--batch-norm", "--weight-decay", "0.1", "--activation", "tanh")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gamma1" in proc.stdout and "batch norm" in proc.stdout


def test_gradcheck_failure_exits_1(env):
    proc = cli(env, "gradcheck", "--rtol", "1e-300", "--atol", "0")
    assert proc.returncode == 1 and "FAIL" in proc.stdout and "gradient check FAILED" in proc.stdout


@pytest.mark.skipif(
    not os.path.isfile("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"),
    reason="apt-get install dataset-fashion-mnist to run this test",
)
def test_data_finds_debians_fashion_mnist(env):
    folder = "/usr/share/datasets/fashion-mnist"
    assert cli(env, "data", "path", "fashion-mnist", check_rc=0).stdout == folder + "\n"
    listed = cli(env, "data", "list", check_rc=0).stdout.splitlines()
    assert [row.split()[:2] for row in listed if row.startswith("fashion-mnist")] == [["fashion-mnist", folder]]
    verified = cli(env, "data", "verify", "fashion-mnist", check_rc=0).stdout.splitlines()
    assert verified[0] == f"fashion-mnist: {folder} (system folder)" and sum(" ok " in v for v in verified) == 4


def test_help_lists_the_commands_and_import_stays_light(env):
    proc = cli(env, "--help", check_rc=0)
    for name in ("train", "eval", "predict", "data", "gradcheck", "graph", "filters"):
        assert name in proc.stdout
    code = (
        "import sys, chainrule, chainrule.cli.train, chainrule.cli.evaluate, chainrule.cli.predict, chainrule.cli.data;"
        "print(sorted(m for m in ('tqdm', 'matplotlib', 'safetensors', 'PIL', 'platformdirs') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "[]"


def test_train_threads_option(tmp_path, env):
    # --threads takes a positive integer (a runtime choice, not a setting: run.json does not record it)
    assert_one_line_error(cli(env, "train", "--threads", "0", *SPIRAL_FAST), "--threads")
    out = tmp_path / "run"
    proc = cli(env, "train", *SPIRAL_FAST, "--epochs", "2", "--threads", "2", "--out", out, "--quiet", check_rc=0)
    assert "final test accuracy" in proc.stdout
    assert "threads" not in json.loads((out / "run.json").read_text())["settings"]
