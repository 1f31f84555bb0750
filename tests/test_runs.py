"""chainrule.runs: settings, the run folder (start, resume, load) and its records."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from chainrule.checkpoint import load_checkpoint
from chainrule.datasets import load_spiral
from chainrule.runs import (
    DEFAULT_SETTINGS,
    RUN_FILE,
    RunError,
    dataset_fingerprint,
    load_run,
    model_config,
    recorded_dataset,
    resolve_settings,
    resume_run,
    start_run,
)

SPIRAL = {"dataset": "spiral", "model": "mlp", "hidden": [16], "optimizer": "adam", "batch_size": 60}


@pytest.fixture(scope="module")
def spiral():
    return load_spiral()


def without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_dataset_fingerprint_detects_changes(spiral):
    (x, t), (xt, tt) = spiral
    a = dataset_fingerprint("spiral", x, t, xt, tt)
    assert a == dataset_fingerprint("spiral", x.copy(), t.copy(), xt, tt)
    assert a["n_train"] == 240 and a["n_test"] == 60 and len(a["train_sha256"]) == 64
    x2 = x.copy()
    x2[0, 0] += 1e-3
    assert dataset_fingerprint("spiral", x2, t, xt, tt)["train_sha256"] != a["train_sha256"]
    assert dataset_fingerprint("spiral", x.astype(np.float64), t, xt, tt)["train_sha256"] != a["train_sha256"]


def test_resolve_settings_fills_in_the_book_defaults():
    s = resolve_settings({})
    assert set(s) == set(DEFAULT_SETTINGS)
    assert (s["model"], s["hidden"], s["weight_init"], s["lr"], s["iters"]) == ("two-layer", [50], 0.01, 0.1, 10_000)
    mlp = resolve_settings({"model": "mlp", "activation": "tanh", "optimizer": "adam"})
    assert (mlp["hidden"], mlp["weight_init"], mlp["lr"]) == ([100, 100], "xavier", 0.001)
    assert model_config(mlp, (784,), 10) == {
        "model": "mlp",
        "input_size": 784,
        "hidden_sizes": [100, 100],
        "output_size": 10,
        "activation": "tanh",
        "weight_init": "xavier",
        "batch_norm": False,
        "dropout": 0.0,
        "weight_decay": 0.0,
        "dtype": "float32",
    }


def test_the_convolutional_networks_take_the_books_chapter_7_and_8_settings():
    s = resolve_settings({"model": "convnet"})
    assert (s["optimizer"], s["lr"], s["epochs"], s["iters"], s["batch_size"]) == ("adam", 0.001, 20, None, 100)
    assert (s["hidden"], s["filters"], s["weight_init"]) == ([100], [30], 0.01)
    assert model_config(s, (1, 28, 28), 10) == {
        "model": "convnet",
        "input_dim": [1, 28, 28],
        "conv_param": {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},
        "hidden_size": 100,
        "output_size": 10,
        "weight_init_std": 0.01,
        "dtype": "float32",
    }
    deep = resolve_settings({"model": "deep-convnet", "filters": [4, 4, 8, 8, 16, 16]})
    assert (deep["hidden"], deep["dropout"], deep["weight_init"], deep["optimizer"]) == ([50], 0.5, None, "adam")
    config = model_config(deep, (1, 28, 28), 10)
    assert [config[f"conv_param_{i}"]["filter_num"] for i in range(1, 7)] == [4, 4, 8, 8, 16, 16]
    assert config["conv_param_4"]["pad"] == 2 and config["dropout"] == 0.5
    for given, message in (
        ({"model": "convnet", "dataset": "spiral"}, "--model convnet needs images: --dataset mnist or fashion-mnist"),
        ({"model": "convnet", "filters": [3, 4]}, "--model convnet takes 1 --filters number, got 2"),
        ({"model": "convnet", "batch_norm": True}, "--batch-norm does not apply to --model convnet"),
        ({"model": "deep-convnet", "weight_init": "he"}, "--weight-init does not apply to --model deep-convnet"),
        ({"model": "mlp", "filters": [3]}, "--filters does not apply to --model mlp (it applies to convnet"),
        ({"model": "deep-convnet", "hidden": [5, 5]}, "--model deep-convnet takes one --hidden size, got 2"),
    ):
        with pytest.raises(RunError) as info:
            resolve_settings(given)
        assert info.value.cli_message().startswith(message), info.value.cli_message()


def test_settings_errors_speak_python_and_the_command_line():
    with pytest.raises(RunError) as info:
        resolve_settings({"model": "two-layer", "hidden": [3, 4]})
    assert str(info.value) == "model='two-layer' takes one hidden size, got 2; use model='mlp'"
    assert info.value.cli_message() == "--model two-layer takes one --hidden size, got 2; use --model mlp"
    with pytest.raises(RunError) as info:
        resolve_settings({"batch_norm": True, "dropout": 0.5})
    assert info.value.cli_message().startswith("--batch-norm, --dropout need --model mlp")
    assert str(info.value).startswith("batch_norm, dropout need model='mlp'")
    with pytest.raises(RunError, match="unknown setting 'lrr'"):
        resolve_settings({"lrr": 0.1})
    with pytest.raises(RunError, match="model must be one of two-layer, mlp, convnet, deep-convnet, got 'cnn'"):
        resolve_settings({"model": "cnn"})
    with pytest.raises(RunError, match="data_dir applies to mnist and fashion-mnist; spiral is generated"):
        resolve_settings({"dataset": "spiral", "data_dir": "x"})


def test_start_fit_and_load_a_run(tmp_path, spiral):
    run = start_run({**SPIRAL, "epochs": 3}, out=tmp_path / "r", argv=["--dataset", "spiral"])
    record = json.loads((tmp_path / "r" / RUN_FILE).read_text())
    assert record["argv"] == ["--dataset", "spiral"] and "result" not in record
    assert record["dataset"] == dataset_fingerprint("spiral", *spiral[0], *spiral[1])
    final = run.fit()
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [
        "curves.png",
        "history.csv",
        "model.safetensors",
        "run.json",
    ]
    loaded = load_run(tmp_path / "r")
    assert loaded.settings == run.settings and loaded.final == final == run.trainer.history[-1]
    assert loaded.result["epochs_completed"] == 3 and loaded.result["iterations"] == 12
    assert loaded.read_history() == run.trainer.history  # every number read back exactly
    x = spiral[1][0]
    np.testing.assert_array_equal(loaded.load_model().predict(x), run.trainer.model.predict(x))
    assert recorded_dataset(loaded.load_checkpoint()) == ("spiral", None)


def test_resume_continues_exactly_and_refuses_other_settings(tmp_path):
    whole = start_run({**SPIRAL, "epochs": 4}, out=tmp_path / "whole")
    whole.fit()
    start_run({**SPIRAL, "epochs": 2}, out=tmp_path / "half").fit()
    with pytest.raises(RunError) as info:
        resume_run(tmp_path / "half", {"lr": 0.5, "epochs": 4})
    assert info.value.cli_message().startswith("--lr cannot change when resuming")
    resumed = resume_run(tmp_path / "half", {**SPIRAL, "epochs": 4})  # the same settings may be repeated
    resumed.fit()
    assert without_seconds(resumed.trainer.history) == without_seconds(whole.trainer.history)
    assert [r["epoch"] for r in load_run(tmp_path / "half").record["resumed"]] == [2]
    a, b = load_checkpoint(tmp_path / "half").model, load_checkpoint(tmp_path / "whole").model
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])


def test_run_folders_are_checked(tmp_path):
    start_run({**SPIRAL, "epochs": 1}, out=tmp_path / "r")
    with pytest.raises(RunError) as info:
        start_run({**SPIRAL, "epochs": 1}, out=tmp_path / "r")
    assert f"resume_run({str(tmp_path / 'r')!r})" in str(info.value)
    assert f"--resume {tmp_path / 'r'} or choose another --out" in info.value.cli_message()
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunError, match="exists and is not a folder"):
        start_run(SPIRAL, out=tmp_path / "file")
    with pytest.raises(RunError) as info:
        load_run(tmp_path / "nowhere")
    assert str(info.value) == f"{tmp_path / 'nowhere'}: no such run folder"
    with pytest.raises(RunError) as info:
        resume_run(tmp_path / "nowhere")
    assert info.value.cli_message() == f"--resume {tmp_path / 'nowhere'}: no such run folder"
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="no run.json there"):
        load_run(tmp_path / "empty")


DATA = Path(__file__).parent / "data"


def test_a_run_written_by_chainrule_0_1_0_before_the_restructure_resumes_bit_for_bit(tmp_path):
    # tests/data/run-0.1.0: `chainrule train --dataset spiral --model mlp --hidden 8 --batch-norm
    # --dropout 0.1 --optimizer adam --lr 0.02 --batch-size 50 --epochs 2`, written by the code
    # before the layers, train and run folder moved; the expected history is that code's own
    # resume to 4 epochs (seconds left out).
    folder = tmp_path / "run"
    shutil.copytree(DATA / "run-0.1.0", folder)
    old = load_run(folder)
    assert old.final["iteration"] == 10 and old.read_history()[-1]["test_acc"] == old.final["test_acc"]
    run = resume_run(folder, {"epochs": 4})
    run.fit()
    expected = json.loads((DATA / "run-0.1.0-resumed-to-4.json").read_text())
    assert without_seconds(run.trainer.history) == expected


@pytest.mark.parametrize(
    ("settings", "python", "cli"),
    [
        ({"hidden": 32}, "hidden must be a list of positive integers, got 32", "--hidden must be"),
        ({"seed": -1}, "seed must be an integer >= 0, got -1", "--seed must be an integer >= 0"),
        ({"dataset": "cifar"}, "dataset must be one of mnist, fashion-mnist, spiral, got 'cifar'", "--dataset"),
        ({"lr": 0}, "lr must be a positive number, got 0", "--lr must be a positive number"),
        ({"dropout": 1.0, "model": "mlp"}, "dropout must be a number in [0, 1), got 1.0", "--dropout must be"),
        ({"batch_norm": "yes"}, "batch_norm must be True or False, got 'yes'", "--batch-norm must be True"),
        ({"epochs": 3, "iters": 5}, "give epochs or iters, not both", "give --epochs or --iters, not both"),
    ],
)
def test_every_setting_is_checked_before_anything_is_built(settings, python, cli):
    with pytest.raises(RunError) as info:
        resolve_settings(settings)
    assert str(info.value) == python and info.value.cli_message().startswith(cli)


def test_resume_checks_its_settings_and_writes_nothing_until_fit(tmp_path):
    start_run({**SPIRAL, "epochs": 2}, out=tmp_path / "r").fit()
    before = (tmp_path / "r" / RUN_FILE).read_bytes()
    with pytest.raises(RunError, match="unknown setting 'lrr'"):
        resume_run(tmp_path / "r", {"lrr": 1})
    with pytest.raises(RunError) as info:
        resume_run(tmp_path / "r", {"data_dir": str(tmp_path)})
    assert info.value.cli_message() == "--data-dir applies to mnist and fashion-mnist; spiral is generated"
    run = resume_run(tmp_path / "r", {"epochs": 3})
    assert (tmp_path / "r" / RUN_FILE).read_bytes() == before  # not fitted: the record is as it was
    run.fit()
    record = load_run(tmp_path / "r")
    assert (
        record.settings["epochs"] == 3 and record.result["epochs_completed"] == 3 and len(record.record["resumed"]) == 1
    )


# --------------------------------------------------------------------------------------------
# Hostile run folders (issue 13)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finished") / "r"
    start_run({**SPIRAL, "epochs": 1}, out=folder).fit()
    return folder


def cli_error(capsys, *argv):
    """``chainrule argv`` run in this process: its exit status must be 2 and its stderr one line; returns the line."""
    from chainrule.cli import main

    capsys.readouterr()
    status = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (status, err)
    return err.strip()


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda r: r.update(settings={}), "run.json lacks the setting 'dataset'"),
        (lambda r: r["settings"].update(data_dir=5), "data_dir must be a folder, got 5"),
        (lambda r: r["settings"].update(dataset="cifar"), "dataset must be one of mnist, fashion-mnist, spiral"),
        (lambda r: r["settings"].update(hidden="many"), "hidden must be a list of positive integers"),
        (lambda r: r["settings"].pop("lr"), "run.json lacks the setting 'lr'"),
        (lambda r: r.update(dataset=5), "'dataset' must be dict, got 5"),
        (lambda r: r.update(resumed={}), "'resumed' must be list"),
        (lambda r: r.update(seed=-1), "'seed' must be an integer >= 0"),
    ],
)
def test_a_malformed_run_json_is_one_line_naming_it(tmp_path, capsys, finished_run, change, fragment):
    folder = tmp_path / "r"
    shutil.copytree(finished_run, folder)
    record = json.loads((folder / RUN_FILE).read_text())
    change(record)
    (folder / RUN_FILE).write_text(json.dumps(record))
    for call in (lambda: load_run(folder), lambda: resume_run(folder, {"epochs": 2})):
        with pytest.raises(RunError) as info:
            call()
        assert fragment in str(info.value) and RUN_FILE in str(info.value), str(info.value)
    line = cli_error(capsys, "train", "--resume", folder, "--epochs", 2)
    assert fragment.replace("data_dir", "--data-dir").replace("hidden must", "--hidden must") in line or (
        fragment in line
    ), line


def test_a_checkpoint_or_run_json_naming_no_known_data_set_is_one_line(tmp_path, capsys, finished_run):
    folder = tmp_path / "r"
    shutil.copytree(finished_run, folder)
    record = json.loads((folder / RUN_FILE).read_text())
    record["settings"]["data_dir"] = 5
    (folder / RUN_FILE).write_text(json.dumps(record))
    from chainrule.checkpoint import save_checkpoint

    model = load_checkpoint(folder).model
    save_checkpoint(folder / "model.safetensors", model, info={"dataset": "cifar"})  # the checkpoint names one
    assert "(its metadata): the data set 'cifar' is not one of mnist" in cli_error(capsys, "eval", folder)
    save_checkpoint(folder / "model.safetensors", model, info={"dataset": "spiral", "data_dir": 7})
    assert "(its metadata): data_dir must be a folder name or null, got 7" in cli_error(capsys, "eval", folder)
    save_checkpoint(folder / "model.safetensors", model)  # none: run.json's are read, and refused
    assert "run.json holds settings that are not valid: --data-dir must be a folder, got 5" in cli_error(
        capsys, "eval", folder
    )


def test_deeply_nested_run_json_is_one_line(tmp_path, capsys):
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / RUN_FILE).write_text('{"settings": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(RunError, match="nested too deeply"):
        load_run(folder)
    assert "nested too deeply" in cli_error(capsys, "train", "--resume", folder)


def starting_another_while_loading(monkeypatch, *args, **kwargs):
    """While the next ``start_run`` loads its data, start ``start_run(*args, **kwargs)`` too (two
    runs started together); returns a list that receives the second run, or the error it raised."""
    import chainrule.runs.folder as folder_module

    real = folder_module._load_data
    second = []

    def load(settings, progress):
        if not second:
            second.append(None)
            try:
                second[0] = start_run(*args, **kwargs)
            except RunError as exc:
                second[0] = exc
        return real(settings, progress)

    monkeypatch.setattr(folder_module, "_load_data", load)
    return second


def test_two_runs_started_together_into_one_folder_one_refuses(tmp_path, monkeypatch, capsys):
    second = starting_another_while_loading(monkeypatch, {**SPIRAL, "epochs": 1}, out=tmp_path / "r")
    first = start_run({**SPIRAL, "epochs": 1}, out=tmp_path / "r")
    assert isinstance(second[0], RunError), second[0]
    assert "another chainrule run is writing into this folder now" in second[0].cli_message()
    assert f"--out {tmp_path / 'r'}" in second[0].cli_message()
    line = cli_error(capsys, "train", "--dataset", "spiral", "--epochs", 1, "--out", tmp_path / "r")  # the CLI too
    assert "another chainrule run is writing into this folder now; wait for it to end or choose another --out" in line
    with pytest.raises(RunError, match="another chainrule run is writing into this folder now; wait for it to end$"):
        resume_run(tmp_path / "r")  # nor may a resume start it afresh under the first
    first.fit()  # the lock goes when the run ends: a third start finds the first's run
    with pytest.raises(RunError, match="already holds a run"):
        start_run({**SPIRAL, "epochs": 1}, out=tmp_path / "r")
    resume_run(tmp_path / "r", {"epochs": 2}).fit()


def test_two_runs_started_in_the_same_second_get_two_folders(tmp_path, monkeypatch):
    import time

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(time, "strftime", lambda fmt, *a: "20240101-120000" if "%H%M%S" in fmt else "2024-01-01")
    second = starting_another_while_loading(monkeypatch, {**SPIRAL, "epochs": 1})
    first = start_run({**SPIRAL, "epochs": 1})
    assert (first.folder.name, second[0].folder.name) == ("20240101-120000", "20240101-120000-1")
    first.fit()
    second[0].fit()
    assert load_run(first.folder).record["seed"] == load_run(second[0].folder).record["seed"] == 0


def test_a_failed_start_leaves_no_folder_behind(tmp_path):
    from chainrule.datasets import DatasetError

    with pytest.raises(DatasetError, match="is not a folder"):
        start_run({"dataset": "mnist", "data_dir": str(tmp_path / "nowhere")}, out=tmp_path / "new")
    assert not (tmp_path / "new").exists()


class _StopAtFirstStep:
    def on_batch_end(self, trainer, iteration, loss):
        raise KeyboardInterrupt


def test_a_run_interrupted_before_its_first_checkpoint_starts_afresh_on_resume(tmp_path, capsys):
    run = start_run({**SPIRAL, "epochs": 2}, out=tmp_path / "r", callbacks=[_StopAtFirstStep()])
    with pytest.raises(KeyboardInterrupt):
        run.fit()
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [RUN_FILE]  # no checkpoint was written
    with pytest.raises(RunError, match="already holds a run"):
        start_run({**SPIRAL, "epochs": 2}, out=tmp_path / "r")
    resumed = resume_run(tmp_path / "r")
    assert resumed.fresh and resumed.trainer.iteration == 0
    resumed.fit()
    whole = start_run({**SPIRAL, "epochs": 2}, out=tmp_path / "whole")
    whole.fit()
    assert without_seconds(resumed.trainer.history) == without_seconds(whole.trainer.history)
    assert load_run(tmp_path / "r").record["resumed"][0]["fresh"] is True
    # The command line says so.
    from chainrule.cli import main

    run = start_run({**SPIRAL, "epochs": 1}, out=tmp_path / "cli", callbacks=[_StopAtFirstStep()])
    with pytest.raises(KeyboardInterrupt):
        run.fit()
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "cli"), "--quiet"]) == 0
    assert "holds no checkpoint yet (its run stopped before the first epoch ended); starting it afresh" in (
        capsys.readouterr().err
    )


def test_temp_files_of_a_killed_run_are_removed_when_the_folder_is_taken_again(tmp_path):
    start_run({**SPIRAL, "epochs": 1}, out=tmp_path / "r").fit()
    killed = [".model.safetensors.0123456789ab.tmp", ".history.csv.abcdef012345.tmp", ".run.json.00000000ffff.tmp"]
    for name in killed:  # what kill -9 in the middle of each write leaves
        (tmp_path / "r" / name).write_bytes(b"half")
    (tmp_path / "r" / "notes.tmp").write_text("the user's")
    resume_run(tmp_path / "r", {"epochs": 2}).fit()
    left = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert left == ["curves.png", "history.csv", "model.safetensors", "notes.tmp", "run.json"]


def test_the_steps_blas_thread_count_is_recorded_and_kept_on_resume(tmp_path, monkeypatch):
    from chainrule.threads import ENV_VARIABLES, TRAINING_THREADS

    for name in ENV_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    run = start_run({**SPIRAL, "epochs": 1}, out=tmp_path / "one")
    assert run.trainer.step_threads == TRAINING_THREADS == 1  # as chainrule train
    run.fit()
    assert json.loads((tmp_path / "one" / "run.json").read_text())["step_threads"] == 1
    again = resume_run(tmp_path / "one", {"epochs": 2})
    assert again.trainer.step_threads == 1  # the run's own count: an exact resume
    again.close()

    two = start_run({**SPIRAL, "epochs": 1}, out=tmp_path / "two", threads=2)
    assert two.trainer.step_threads == 2
    two.fit()
    resumed = resume_run(tmp_path / "two", {"epochs": 2})
    assert resumed.trainer.step_threads == 2
    resumed.fit()
    other = resume_run(tmp_path / "two", {"epochs": 3}, threads=1)  # asked for: noted in run.json
    other.fit()
    entries = json.loads((tmp_path / "two" / "run.json").read_text())["resumed"]
    assert "step_threads" not in entries[0] and entries[1]["step_threads"] == 1

    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")  # the environment's count is kept
    env = start_run({**SPIRAL, "epochs": 1}, out=tmp_path / "env")
    assert env.trainer.step_threads is None
    env.close()
