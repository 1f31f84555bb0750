"""chainrule.train: true epochs, evaluation, determinism, exact resume, divergence, early stopping, schedules."""

import io
import math
import re

import numpy as np
import pytest

from chainrule import load_checkpoint
from chainrule.datasets import load_spiral
from chainrule.functions import softmax_cross_entropy
from chainrule.models import MultiLayerNet, TwoLayerNet, build_model
from chainrule.optim import SGD, Adam
from chainrule.progress import ProgressBar, epoch_line
from chainrule.train import (
    HISTORY_FIELDS,
    Callback,
    EarlyStopping,
    LRSchedule,
    Trainer,
    TrainingDiverged,
    evaluate,
    history_figure,
    plot_history,
    read_history_csv,
    write_history_csv,
)


@pytest.fixture(scope="module")
def spiral():
    return load_spiral()


def mlp_trainer(data, seed=0, *, dropout=0.2, batch_norm=True, **kwargs):
    """An mlp with dropout and batch norm trained by Adam: every kind of state a resume must restore."""
    (x, t), (xt, tt) = data
    rng = np.random.default_rng(seed)
    net = MultiLayerNet(2, [16, 16], 3, batch_norm=batch_norm, dropout=dropout, dtype=np.float32, seed=rng)
    kwargs.setdefault("batch_size", 32)
    return Trainer(net, Adam(lr=0.01), x, t, xt, tt, rng=rng, **kwargs)


def without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def assert_same_params(a, b):
    assert list(a.params) == list(b.params)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    for k in a.buffers:
        np.testing.assert_array_equal(a.buffers[k], b.buffers[k])


class Recorder(TwoLayerNet):
    """A TwoLayerNet that records which samples (feature 0 holds the sample id) each step saw."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches = []
        self.losses = []
        self.train_forwards = 0

    def gradient(self, x, t):
        self.batches.append(x[:, 0].astype(int).tolist())
        grads = super().gradient(x, t)
        self.losses.append(self.last_layer.loss)
        return grads

    def predict(self, x, train_flg=False):
        self.train_forwards += bool(train_flg)
        return super().predict(x, train_flg)


def id_data(n=10):
    x = np.column_stack([np.arange(n), np.ones(n)]).astype(np.float64)
    t = np.arange(n) % 2
    return x, t


# --------------------------------------------------------------------------------------------
# Epochs, iterations and history
# --------------------------------------------------------------------------------------------


def test_each_epoch_sees_every_sample_once_in_a_new_order():
    x, t = id_data(10)
    net = Recorder(2, 3, 2, seed=0)
    trainer = Trainer(net, SGD(lr=0.01), x, t, x, t, epochs=3, batch_size=4, rng=0)
    history = trainer.fit()
    assert [len(b) for b in net.batches] == [4, 4, 2] * 3  # ceil(10/4) steps, the last one smaller
    epochs = [sum(net.batches[i : i + 3], []) for i in (0, 3, 6)]
    for seen in epochs:
        assert sorted(seen) == list(range(10))
    assert epochs[0] != epochs[1] != epochs[2]  # reshuffled every epoch
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert [row["iteration"] for row in history] == [3, 6, 9]
    assert trainer.epoch == 3 and trainer.iteration == 9 and trainer.final == history[-1]


def test_loss_is_the_mean_minibatch_loss_of_the_steps_not_recomputed():
    x, t = id_data(10)
    net = Recorder(2, 3, 2, seed=0)
    history = Trainer(net, SGD(lr=0.01), x, t, x, t, epochs=2, batch_size=4, rng=0).fit()
    assert history[0]["loss"] == pytest.approx(np.mean(net.losses[:3]), rel=1e-12)
    assert history[1]["loss"] == pytest.approx(np.mean(net.losses[3:]), rel=1e-12)
    assert net.train_forwards == 6  # one forward pass per step, none for logging
    assert set(HISTORY_FIELDS) <= set(history[0])


def test_iters_stop_mid_epoch_with_a_final_row():
    x, t = id_data(10)
    net = Recorder(2, 3, 2, seed=0)
    trainer = Trainer(net, SGD(lr=0.01), x, t, x, t, iters=7, batch_size=4, rng=0)
    history = trainer.fit()
    assert [row["iteration"] for row in history] == [3, 6, 7]
    assert [row["epoch"] for row in history] == [1, 2, pytest.approx(2 + 1 / 3, abs=1e-4)]
    assert history[-1]["loss"] == pytest.approx(net.losses[6])
    assert len(net.batches) == 7 and trainer.epoch == 2


def test_evaluation_uses_the_full_sets_in_batches(spiral):
    (x, t), (xt, tt) = spiral
    net = TwoLayerNet(2, 10, 3, weight_init_std="he", seed=0, dtype=np.float32)
    loss_all, acc_all = evaluate(net, xt, tt, batch_size=10_000)
    loss_small, acc_small = evaluate(net, xt, tt, batch_size=7)
    assert acc_all == acc_small == net.accuracy(xt, tt)
    assert loss_all == pytest.approx(loss_small, rel=1e-5)
    assert loss_all == pytest.approx(softmax_cross_entropy(net.predict(xt).astype(np.float64), tt)[0], rel=1e-5)
    history = Trainer(net, SGD(lr=0.1), x, t, xt, tt, epochs=1, rng=0, eval_batch_size=50).fit()
    assert history[0]["test_acc"] == net.accuracy(xt, tt)
    assert history[0]["train_acc"] == net.accuracy(x, t)
    one_hot = np.eye(3)[tt]
    assert evaluate(net, xt, one_hot)[1] == evaluate(net, xt, tt)[1]


def test_data_converted_once_to_the_model_dtype(spiral):
    (x, t), (xt, tt) = spiral
    net = TwoLayerNet(2, 5, 3, seed=0, dtype=np.float32)
    trainer = Trainer(net, SGD(lr=0.1), x.astype(np.float64), t, xt, tt, epochs=1, rng=0)
    assert trainer.x_train.dtype == np.float32 and trainer.x_test.dtype == np.float32
    trainer.fit()
    assert net.params["W1"].dtype == np.float32


def test_invalid_arguments_are_rejected(spiral):
    (x, t), (xt, tt) = spiral
    net = TwoLayerNet(2, 5, 3, seed=0)
    with pytest.raises(ValueError, match="exactly one of epochs= or iters="):
        Trainer(net, SGD(), x, t, xt, tt)
    with pytest.raises(ValueError, match="exactly one of epochs= or iters="):
        Trainer(net, SGD(), x, t, xt, tt, epochs=1, iters=5)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        Trainer(net, SGD(), x, t, xt, tt, epochs=1, batch_size=0)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        Trainer(net, SGD(), x, t + 5, xt, tt, epochs=1)
    with pytest.raises(ValueError, match="kind must be one of"):
        Trainer(net, SGD(), x, t, xt, tt, epochs=1, schedule="linear")
    with pytest.raises(ValueError, match="patience"):
        Trainer(net, SGD(), x, t, xt, tt, epochs=1, early_stopping=0)


# --------------------------------------------------------------------------------------------
# Determinism and exact resume
# --------------------------------------------------------------------------------------------


def test_same_seed_same_history_and_params(spiral):
    a, b, c = (mlp_trainer(spiral, seed=s, epochs=3) for s in (0, 0, 1))
    ha, hb, hc = a.fit(), b.fit(), c.fit()
    assert without_seconds(ha) == without_seconds(hb)
    assert_same_params(a.model, b.model)
    assert without_seconds(ha) != without_seconds(hc)


def test_resume_is_exact(spiral, tmp_path):
    full = mlp_trainer(spiral, epochs=4, out_dir=tmp_path / "full")
    full.fit()
    first = mlp_trainer(spiral, epochs=2, out_dir=tmp_path / "half")
    first.fit()
    (x, t), (xt, tt) = spiral
    resumed = Trainer.from_checkpoint(tmp_path / "half", x, t, xt, tt, epochs=4)
    assert resumed.epoch == 2 and resumed.iteration == 16 and len(resumed.history) == 2
    resumed.fit()
    assert without_seconds(resumed.history) == without_seconds(full.history)
    assert_same_params(resumed.model, full.model)
    for k, v in full.optimizer.state_dict().items():
        np.testing.assert_array_equal(resumed.optimizer.state_dict()[k], v)
    # The resumed run kept writing into its folder.
    assert load_checkpoint(tmp_path / "half").epoch == 4


def test_resume_mid_epoch_is_exact(spiral, tmp_path):
    full = mlp_trainer(spiral, iters=20, out_dir=tmp_path / "full")
    full.fit()
    part = mlp_trainer(spiral, iters=11, out_dir=tmp_path / "part")  # 8 steps per epoch: stops in epoch 2
    part.fit()
    (x, t), (xt, tt) = spiral
    resumed = Trainer.from_checkpoint(tmp_path / "part", x, t, xt, tt, iters=20)
    resumed.fit()
    assert_same_params(resumed.model, full.model)
    # Full-epoch rows agree; the resumed run also has the row written where the first part stopped.
    full_rows = without_seconds(full.history)
    resumed_rows = [r for r in without_seconds(resumed.history) if r["iteration"] != 11]
    assert resumed_rows == full_rows


def test_resume_of_a_checkpoint_without_training_state_is_refused(spiral, tmp_path):
    from chainrule import CheckpointError, save_checkpoint

    (x, t), (xt, tt) = spiral
    save_checkpoint(tmp_path / "model.safetensors", TwoLayerNet(2, 4, 3, seed=0))
    with pytest.raises(CheckpointError, match="no training state"):
        Trainer.from_checkpoint(tmp_path, x, t, xt, tt)


# --------------------------------------------------------------------------------------------
# Divergence, interruption, early stopping, schedules
# --------------------------------------------------------------------------------------------


def test_nan_loss_stops_with_a_clear_error(spiral):
    (x, t), (xt, tt) = spiral
    net = TwoLayerNet(2, 50, 3, weight_init_std="he", seed=0, dtype=np.float32)
    trainer = Trainer(net, SGD(lr=1e12), x, t, xt, tt, epochs=5, rng=0)  # float32 overflows to inf, then NaN
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged, match="lower learning rate") as info:
        trainer.fit()
    err = info.value
    assert f"at iteration {err.iteration}" in str(err) and err.iteration >= 2
    assert not math.isfinite(err.loss) and err.lr == 1e12
    assert trainer.iteration == err.iteration - 1  # the diverged step was not applied


def test_interrupt_keeps_the_last_checkpoint_and_resume_finishes_exactly(spiral, tmp_path):
    def stop_after_two(trainer, row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    interrupted = mlp_trainer(spiral, epochs=4, out_dir=tmp_path / "run", on_epoch_end=stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    ckpt = load_checkpoint(tmp_path / "run")
    assert ckpt.epoch == 2 and len(ckpt.history) == 2
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]

    (x, t), (xt, tt) = spiral
    resumed = Trainer.from_checkpoint(tmp_path / "run", x, t, xt, tt)
    resumed.fit()
    full = mlp_trainer(spiral, epochs=4)
    full.fit()
    assert without_seconds(resumed.history) == without_seconds(full.history)
    assert_same_params(resumed.model, full.model)


def wrong_test_labels(spiral):
    """Test labels shifted by one class: the better the fit, the worse the test loss."""
    (x, t), (xt, tt) = spiral
    return (x, t), (xt, (tt + 1) % 3)


def test_early_stopping_restores_the_best_epoch(spiral, tmp_path):
    data = wrong_test_labels(spiral)
    snapshots = {}

    def keep(trainer, row):
        snapshots[row["epoch"]] = {k: v.copy() for k, v in trainer.model.params.items()}

    trainer = mlp_trainer(
        data, dropout=0.0, batch_norm=False, epochs=50, early_stopping=3, out_dir=tmp_path, on_epoch_end=keep
    )
    history = trainer.fit()
    best = min(history, key=lambda row: row["test_loss"])
    assert trainer.stopped_early and len(history) < 50
    assert history[-1]["epoch"] == best["epoch"] + 3  # three epochs without improvement
    assert trainer.final == best
    for k, v in snapshots[best["epoch"]].items():
        np.testing.assert_array_equal(trainer.model.params[k], v)
    (_, _), (xt, tt) = data
    assert evaluate(trainer.model, xt, tt) == (best["test_loss"], best["test_acc"])
    saved = load_checkpoint(tmp_path)  # the checkpoint holds the restored model
    np.testing.assert_array_equal(saved.model.params["W1"], snapshots[best["epoch"]]["W1"])
    # Resuming a run that stopped early has nothing left to do.
    (x, t), (xt, tt) = data
    again = Trainer.from_checkpoint(tmp_path, x, t, xt, tt)
    assert again.done and again.fit() == history


def test_early_stopping_on_accuracy_without_restore(spiral):
    data = wrong_test_labels(spiral)
    stopping = EarlyStopping(2, monitor="test_acc", restore_best=False)
    trainer = mlp_trainer(data, dropout=0.0, batch_norm=False, epochs=50, early_stopping=stopping)
    history = trainer.fit()
    assert trainer.stopped_early and trainer.final == history[-1]
    with pytest.raises(ValueError, match="monitor"):
        EarlyStopping(2, monitor="loss")


def test_lr_schedules():
    step = LRSchedule("step", step_size=2, gamma=0.5)
    assert [step.lr_at(1.0, e, 6) for e in range(6)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    cosine = LRSchedule("cosine", min_lr=0.1)
    assert cosine.lr_at(1.0, 0, 4) == 1.0
    assert cosine.lr_at(1.0, 2, 4) == pytest.approx(0.55)
    assert cosine.lr_at(1.0, 4, 4) == pytest.approx(0.1)
    assert LRSchedule().lr_at(0.3, 7, 10) == 0.3
    with pytest.raises(ValueError, match="gamma"):
        LRSchedule("step", gamma=0)


def test_trainer_sets_the_scheduled_lr_each_epoch(spiral):
    (x, t), (xt, tt) = spiral
    net = TwoLayerNet(2, 8, 3, weight_init_std="he", seed=0)
    opt = SGD(lr=0.4)
    trainer = Trainer(net, opt, x, t, xt, tt, epochs=4, rng=0, schedule=LRSchedule("step", step_size=1, gamma=0.5))
    history = trainer.fit()
    assert [row["lr"] for row in history] == [0.4, 0.2, 0.1, 0.05]
    assert opt.lr == 0.05
    net = TwoLayerNet(2, 8, 3, weight_init_std="he", seed=0)
    history = Trainer(net, SGD(lr=1.0), x, t, xt, tt, epochs=4, rng=0, schedule="cosine").fit()
    expected = [0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)]
    assert [row["lr"] for row in history] == pytest.approx(expected)


# --------------------------------------------------------------------------------------------
# Results: accuracy on spiral, files, progress
# --------------------------------------------------------------------------------------------


def test_spiral_reaches_95_percent_train_accuracy(spiral):
    (x, t), (xt, tt) = spiral
    rng = np.random.default_rng(0)
    net = build_model({"model": "mlp", "input_size": 2, "hidden_sizes": [100], "output_size": 3}, seed=rng)
    history = Trainer(net, Adam(lr=0.03), x, t, xt, tt, epochs=100, batch_size=30, rng=rng).fit()
    assert history[-1]["train_acc"] >= 0.95
    assert history[-1]["test_acc"] >= 0.9


def test_out_dir_files_and_no_bar_where_nobody_watches(spiral, tmp_path, capsys):
    trainer = mlp_trainer(spiral, epochs=2, out_dir=tmp_path, progress=True)
    trainer.fit()
    captured = capsys.readouterr()
    assert captured.out == ""  # verbose=0: library code prints nothing to stdout
    assert captured.err == ""  # stderr is not a terminal here: no tqdm frames in the log
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert lines[0].split(",") == list(HISTORY_FIELDS)
    assert len(lines) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv", "model.safetensors"]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_bar_draws_on_a_terminal_and_stays_finished(spiral):
    screen = Terminal()
    bar = ProgressBar(file=screen)
    trainer = mlp_trainer(spiral, epochs=2, callbacks=[bar])
    trainer.fit()
    frames = screen.getvalue()
    assert "train:" in frames and frames.rstrip().endswith("]") and "16/16" in frames.rsplit("\r", 1)[-1]
    assert frames.endswith("\n")  # left on screen at 100% (leave=True), not erased
    assert not bar.active
    off = Terminal()
    mlp_trainer(spiral, epochs=1, callbacks=[ProgressBar(file=off, enabled=False)]).fit()
    forced = io.StringIO()
    mlp_trainer(spiral, epochs=1, callbacks=[ProgressBar(file=forced, enabled=True)]).fit()
    assert off.getvalue() == "" and "8/8" in forced.getvalue()


def test_fit_verbose_prints_one_line_per_epoch(spiral, capsys):
    trainer = mlp_trainer(spiral, epochs=3)
    callbacks = list(trainer.callbacks)
    history = trainer.fit(verbose=2)
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == 3 and out.err == ""
    for row, line in zip(history, lines, strict=True):
        assert line == epoch_line(trainer, row)
        assert re.fullmatch(
            r"epoch \d/3  iter\s+\d+  loss \d\.\d{4}  train acc \d\.\d{4}  test acc \d\.\d{4}  \d+\.\ds", line
        )
    assert trainer.callbacks == callbacks  # the displays were for that call only
    trainer = mlp_trainer(spiral, epochs=1)
    trainer.fit(verbose=1)  # a bar where someone watches (not here) and the lines
    out = capsys.readouterr()
    assert out.out.startswith("epoch 1/1") and out.err == ""
    with pytest.raises(ValueError, match="verbose must be 0, 1 or 2, got 3"):
        mlp_trainer(spiral, epochs=1).fit(verbose=3)


def test_history_is_a_list_that_displays_as_a_table(spiral, tmp_path):
    trainer = mlp_trainer(spiral, epochs=25, out_dir=tmp_path)
    history = trainer.fit()
    assert isinstance(history, list) and len(history) == 25 and history[0]["epoch"] == 1
    html = history._repr_html_()
    assert html.count("<tr>") == 1 + 20 + 1  # header, first and last 10, the gap
    assert "5 more" in html and "<th>test acc</th>" in html
    best = max(history, key=lambda r: r["test_acc"])
    assert f"best test acc {best['test_acc']:.4f} at epoch {best['epoch']}" in html
    resumed = Trainer.from_checkpoint(tmp_path / "model.safetensors", *spiral[0], *spiral[1])
    assert type(resumed.history).__name__ == "History" and resumed.history == history
    assert "no epoch" in type(history)()._repr_html_()


def test_plot_and_csv_helpers(tmp_path):
    history = [
        {"epoch": 1, "iteration": 5, "loss": 1.0, "train_acc": 0.5, "test_acc": 0.4, "test_loss": 1.1, "extra": 3},
        {"epoch": 2, "iteration": 10, "loss": 0.5, "train_acc": 0.7, "test_acc": 0.6, "test_loss": 0.9, "extra": 4},
    ]
    png = plot_history(history, tmp_path / "curves.png", title="test")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="empty"):
        plot_history([], tmp_path / "none.png")
    csv_text = write_history_csv(tmp_path / "h.csv", history).read_text()
    assert csv_text.splitlines()[0] == ",".join([*HISTORY_FIELDS, "extra"])


def synthetic_history(epochs):
    """A run that reaches accuracy 1.0 (train) and stays there, as long runs on easy data do."""
    return [
        {
            "epoch": e,
            "iteration": 10 * e,
            "loss": 1 / e,
            "test_loss": 1.2 / e,
            "train_acc": min(1.0, 0.5 + e / 20),
            "test_acc": min(0.97, 0.4 + e / 20),
        }
        for e in range(1, epochs + 1)
    ]


@pytest.mark.parametrize(("epochs", "marked"), [(1, True), (30, True), (31, False), (400, False)])
def test_curves_mark_points_only_for_short_runs(epochs, marked):
    fig = history_figure(synthetic_history(epochs))
    ax_loss, ax_acc = fig.axes
    lines = [*ax_loss.get_lines(), *ax_acc.get_lines()]
    assert len(lines) == 4 and all(len(line.get_xdata()) == epochs for line in lines)
    assert {line.get_marker() not in ("None", None, "", " ") for line in lines} == {marked}
    assert [line.get_linestyle() for line in lines] == ["-", "--", "-", "--"]  # test curves stay dashed


def test_curves_show_accuracy_one_below_the_top_of_the_axis():
    fig = history_figure(synthetic_history(300), title="spiral, mlp")
    ax_acc = fig.axes[1]
    low, high = ax_acc.get_ylim()
    assert low == 0 and high > 1.0  # the train curve at 1.0 is drawn inside the frame, not on it
    assert max(ax_acc.get_yticks()) == 1.0  # no tick label above 1
    assert max(ax_acc.get_lines()[0].get_ydata()) == 1.0
    assert fig.get_suptitle() == "spiral, mlp"
    assert [t.get_text() for t in ax_acc.get_legend().get_texts()] == ["train", "test"]


# --------------------------------------------------------------------------------------------
# Callbacks: how training reports progress
# --------------------------------------------------------------------------------------------


class EventLog(Callback):
    def __init__(self):
        self.events = []

    def on_fit_start(self, trainer):
        self.events.append(("start", trainer.iteration))

    def on_batch_end(self, trainer, iteration, loss):
        self.events.append(("batch", iteration, loss))

    def on_epoch_end(self, trainer, row):
        self.events.append(("epoch", row["iteration"]))

    def on_fit_end(self, trainer):
        self.events.append(("end", trainer.iteration))


def test_callbacks_see_every_step_epoch_and_both_ends(spiral):
    recorder = EventLog()
    seen = []
    trainer = mlp_trainer(spiral, iters=20, callbacks=[recorder], on_epoch_end=lambda tr, row: seen.append(row))
    trainer.fit()
    kinds = [e[0] for e in recorder.events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("batch") == 20
    assert [e[1] for e in recorder.events if e[0] == "batch"] == list(range(1, 21))
    # 8 steps per epoch (240 samples, batches of 32): evaluations after steps 8, 16 and the last, 20.
    assert [e[1] for e in recorder.events if e[0] == "epoch"] == [8, 16, 20]
    assert kinds.index("epoch") == kinds.index("batch") + 8
    assert seen == trainer.history  # on_epoch_end= runs after the callbacks, with the same rows
    batch_losses = [e[2] for e in recorder.events if e[0] == "batch"][:8]
    assert trainer.history[0]["loss"] == pytest.approx(sum(batch_losses) / 8)
    recorder.events.clear()
    trainer.fit()  # already at its end: returns at once, no callback runs
    assert recorder.events == []


def test_duck_typed_callbacks_and_on_fit_end_after_an_error(spiral):
    class Stop:  # not a Callback subclass: any object with some of the hooks will do
        def __init__(self):
            self.ended = False

        def on_batch_end(self, trainer, iteration, loss):
            if iteration == 3:
                raise KeyboardInterrupt

        def on_fit_end(self, trainer):
            self.ended = True

    stop = Stop()
    trainer = mlp_trainer(spiral, epochs=2, callbacks=[stop])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert stop.ended and trainer.iteration == 3  # the step that ran is counted


def test_history_csv_reads_back_exactly(spiral, tmp_path):
    trainer = mlp_trainer(spiral, iters=20, out_dir=tmp_path)
    trainer.fit()
    rows = read_history_csv(tmp_path / "history.csv")
    assert rows == trainer.history
    assert isinstance(rows[0]["epoch"], int) and isinstance(rows[-1]["epoch"], float)  # 20 steps = 2.5 epochs


def test_a_hook_set_on_an_instance_is_called(spiral):
    rows = []
    cb = Callback()
    cb.on_epoch_end = lambda trainer, row: rows.append(row["epoch"])
    mlp_trainer(spiral, epochs=2, callbacks=[cb]).fit()
    assert rows == [1, 2]


# --------------------------------------------------------------------------------------------
# Tampered training state (issue 13): every counter, the order and the generator are checked
# --------------------------------------------------------------------------------------------


def tampered(path, change_meta=None, change_tensors=None):
    """Rewrite the checkpoint at ``path``: ``change_meta(meta)`` and ``change_tensors(tensors)`` edit in place."""
    import json

    import safetensors.numpy

    tensors = dict(safetensors.numpy.load_file(str(path)))
    with open(path, "rb") as f:
        meta = json.loads(json.loads(f.read(int.from_bytes(f.read(8), "little")))["__metadata__"]["chainrule"])
    if change_meta is not None:
        change_meta(meta)
    if change_tensors is not None:
        change_tensors(tensors)
    safetensors.numpy.save_file(tensors, str(path), metadata={"chainrule": json.dumps(meta)})


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def change(meta):
        d = meta
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change_meta", "change_tensors", "fragment"),
    [
        (_set("trainer", "iteration", -(10**12)), None, "iteration must be an integer >= 0, got -1000000000000"),
        (_set("trainer", "epoch_step", 10**12), None, "epoch_step must be below the 8 steps of an epoch"),
        (_set("trainer", "epoch", 10**12), None, "iteration 11 does not match epoch 1000000000000"),
        (_set("trainer", "iteration", 12), None, "iteration 12 does not match epoch 1 and epoch_step 3"),
        (_set("trainer", "epoch", 1.5), None, "epoch must be an integer >= 0, got 1.5"),
        (_set("trainer", "epoch_loss_sum", "NaN"), None, "epoch_loss_sum must be a finite number"),
        (_set("trainer", "base_lr", -1), None, "base_lr must be a positive number, got -1"),
        (_set("trainer", "stopped_early", "no"), None, "stopped_early must be true or false"),
        (_set("trainer", "history", 5), None, "history must be a list of rows, got 5"),
        (_set("trainer", "history", [{"epoch": 1}]), None, "history row 0 must be an object with epoch, iteration"),
        (_set("trainer", "history", [{"epoch": 1, "iteration": 8, "loss": "x"}]), None, "loss must be a number"),
        (_set("trainer", "final", [1, 2]), None, "final must be an object"),
        (_set("trainer", "best", {"value": 1}), None, "best must be an object with value, row and bad_epochs"),
        (_set("trainer", "settings", 5), None, "the training state is incomplete or malformed"),
        (_set("trainer", 5), None, "its metadata 'trainer' must be an object or null, got int"),
        (_set("rng_state", "state", "state", 2**300), None, "cannot restore the random generator's state"),
        (_set("rng_state", "state", "state", 1.5), None, "does not read back as stored"),
        (_set("rng_state", "bit_generator", "MT19937"), None, "cannot restore the random generator's state"),
        (
            None,
            lambda t: t.update(**{"trainer/perm": np.full_like(t["trainer/perm"], -1)}),
            "not a permutation of the 240 training samples",
        ),
        (
            None,
            lambda t: t.update(**{"trainer/perm": np.zeros_like(t["trainer/perm"])}),
            "not a permutation of the 240 training samples",
        ),
        (None, lambda t: t.update(**{"trainer/perm": t["trainer/perm"][:5]}), "holds no valid permutation"),
    ],
)
def test_a_tampered_training_state_is_refused_before_training(spiral, tmp_path, change_meta, change_tensors, fragment):
    from chainrule import CheckpointError

    mlp_trainer(spiral, iters=11, early_stopping=3, out_dir=tmp_path).fit()  # 8 steps per epoch: stops in epoch 2
    before = (tmp_path / "history.csv").read_bytes()
    tampered(tmp_path / "model.safetensors", change_meta, change_tensors)
    (x, t), (xt, tt) = spiral
    with pytest.raises(CheckpointError) as info:
        Trainer.from_checkpoint(tmp_path, x, t, xt, tt, iters=20)
    message = str(info.value)
    assert fragment in message and str(tmp_path / "model.safetensors") in message and "\n" not in message, message
    assert (tmp_path / "history.csv").read_bytes() == before


# Divergence: a finite loss that has blown up (issue 13, item 8)
# --------------------------------------------------------------------------------------------


def mnist_like(n, seed=0):
    """784 pixels in [0, 1] over 10 classes (a sparse prototype per class times noise): the book's shapes."""
    rng = np.random.default_rng(seed)
    proto = (np.random.default_rng(99).random((10, 784)) < 0.2).astype(np.float32)
    t = rng.integers(0, 10, n)
    x = proto[t] * rng.random((n, 784), dtype=np.float32) + 0.1 * rng.random((n, 784), dtype=np.float32)
    return np.clip(x, 0, 1), t


class LossRecorder:
    def __init__(self):
        self.losses = []

    def on_batch_end(self, trainer, iteration, loss):
        self.losses.append(loss)


def book_trainer(lr, iters, **kwargs):
    """The book's chapter 5 training (TwoLayerNet 784-50-10, std 0.01, SGD, batches of 100) on MNIST-like data."""
    (x, t), (xt, tt) = mnist_like(2000), mnist_like(500, seed=1)
    net = TwoLayerNet(784, 50, 10, weight_init_std=0.01, seed=0, dtype=np.float32)
    recorder = LossRecorder()
    trainer = Trainer(net, SGD(lr=lr), x, t, xt, tt, iters=iters, rng=0, callbacks=[recorder], **kwargs)
    return trainer, recorder


def test_a_blown_up_run_stops_though_its_loss_stays_finite():
    trainer, recorder = book_trainer(1000, 400)  # Fashion-MNIST at lr 1000: losses 2e7, then 451, accuracy 0.10
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged, match="lower learning rate") as info:
        trainer.fit()
    err = info.value
    assert math.isfinite(err.loss) and err.loss > 10 * math.log(10)
    assert "more than 23.03 (10 times its start)" in str(err) and "learning rate 1000" in str(err)
    assert err.iteration == 20 and trainer.history == []  # the first epoch's end; its row is not recorded


@pytest.mark.parametrize("lr", [0.1, 1, 5, 20])
def test_the_book_defaults_and_high_but_sane_learning_rates_are_never_stopped(lr):
    trainer, recorder = book_trainer(lr, 400)
    with np.errstate(all="ignore"):
        trainer.fit()
    assert trainer.iteration == 400 and len(trainer.history) == 20
    if lr <= 1:
        assert trainer.final["train_acc"] > 0.95
    else:  # spikes far above the limit (5: 146, 20: 1.6e5), for a step or two, are not a blow-up
        assert max(recorder.losses) > 10 * math.log(10)


class ScriptedLoss(TwoLayerNet):
    """A TwoLayerNet whose mini-batch losses are a script (its gradients are real, its lr tiny)."""

    def __init__(self, script, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.script = iter(script)

    def gradient(self, x, t):
        grads = super().gradient(x, t)
        self.last_layer.loss = next(self.script)
        return grads


@pytest.mark.parametrize("stretch, stops", [(99, False), (100, True)])
def test_a_loss_stays_above_the_limit_for_patience_steps_before_the_run_stops(stretch, stops):
    x, t = id_data(10)
    script = [1.0] + [50.0] * 99 + [1.0] + [50.0] * stretch + [1.0] * 300  # limit: 10 × max(1.0, ln 2) = 10
    net = ScriptedLoss(script, 2, 3, 2, seed=0)
    trainer = Trainer(net, SGD(lr=1e-9), x, t, x, t, iters=250, batch_size=1, rng=0)
    if not stops:
        trainer.fit()
        assert trainer.iteration == 250
        return
    with pytest.raises(TrainingDiverged, match=r"stayed above 10 \(10 times its start\) for 100 steps") as info:
        trainer.fit()
    assert info.value.iteration == 201 and info.value.loss == 50.0
    no_check = Trainer(
        ScriptedLoss(script, 2, 3, 2, seed=0), SGD(lr=1e-9), x, t, x, t, iters=250, batch_size=1, rng=0, divergence=None
    )
    no_check.fit()
    assert no_check.iteration == 250


def test_a_batch_whose_step_cannot_fit_is_refused_before_training():
    # A new-user review: --hidden 100000000 passed the weight check (each array fits on its own)
    # and died in the first step with a 37 GiB MemoryError traceback.
    from chainrule._checks import AllocationTooLarge

    x, t = np.zeros((20, 2)), np.zeros(20, dtype=int)
    net = TwoLayerNet(2, 3, 2, seed=0)
    net.step_memory = lambda batch: 10**15  # as a hidden layer of 10**8 units at batch 100 would need
    with pytest.raises(AllocationTooLarge, match="a training step of batch 10 would need"):
        Trainer(net, SGD(lr=0.1), x, t, x, t, epochs=1, batch_size=10)
    wide = TwoLayerNet(2, 10**6, 2, seed=0, dtype=np.float32)
    assert wide.activation_sizes() == [10**6, 10**6, 2]
    assert wide.step_memory(100) == 4 * 100 * (2 * 10**6 + 2) * 4 + 2 * sum(p.nbytes for p in wide.params.values())


def test_step_threads_is_a_checked_constructor_argument_and_attribute():
    x, t = np.zeros((20, 2)), np.zeros(20, dtype=int)
    trainer = Trainer(TwoLayerNet(2, 3, 2, seed=0), SGD(lr=0.1), x, t, x, t, epochs=1, step_threads=1)
    assert trainer.step_threads == 1
    trainer.step_threads = None
    assert trainer.step_threads is None
    for bad in (0, -3, 2.5, "x"):
        with pytest.raises((TypeError, ValueError), match="step_threads"):
            trainer.step_threads = bad
