"""The run folder: starting a run in one, resuming it exactly, reading it back, and what run.json records.

See the package docstring (:mod:`chainrule.runs`) for what a run folder holds.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule._checks import check_allocation, is_int
from chainrule._files import remove_temp_files, write_json
from chainrule.checkpoint import CHECKPOINT_NAME, Checkpoint, load_checkpoint
from chainrule.datasets import DATASET_NAMES, load_dataset
from chainrule.models import build_model, model_blueprint
from chainrule.models.base import step_bytes
from chainrule.optim import make_optimizer
from chainrule.runs.records import dataset_fingerprint, library_versions
from chainrule.runs.settings import (
    CONV_MODELS,
    DEFAULT_SETTINGS,
    RESUMABLE_SETTINGS,
    RunError,
    model_config,
    n_classes_of,
    option,
    resolve_settings,
)
from chainrule.threads import training_threads
from chainrule.train import EarlyStopping, LRSchedule, Trainer, plot_history, read_history_csv
from chainrule.train.history import prefetch_plotting

__all__ = [
    "RUN_FILE",
    "Run",
    "RunRecord",
    "load_run",
    "new_run_folder",
    "recorded_dataset",
    "resume_run",
    "start_run",
]

RUN_FILE = "run.json"


# --------------------------------------------------------------------------------------------
# Reading a run folder
# --------------------------------------------------------------------------------------------


@dataclass
class RunRecord:
    """A run folder as written: ``folder`` and ``record`` (the decoded run.json)."""

    folder: Path
    record: dict[str, Any]

    @property
    def settings(self) -> dict[str, Any]:
        return self.record["settings"]

    @property
    def dataset(self) -> dict[str, Any]:
        """The data set's fingerprint (``name``, sizes, SHA-256)."""
        return self.record.get("dataset", {})

    @property
    def result(self) -> dict[str, Any] | None:
        """What the run reached (``final`` row, ``epochs_completed``, ...), or None if it has not finished."""
        return self.record.get("result")

    @property
    def final(self) -> dict[str, Any] | None:
        """The row describing the saved model (the best epoch's with early stopping), or None."""
        return (self.result or {}).get("final")

    @property
    def checkpoint_path(self) -> Path:
        return self.folder / CHECKPOINT_NAME

    def read_history(self) -> list[dict[str, Any]]:
        """The rows of ``history.csv`` (one per evaluation), numbers as numbers."""
        return read_history_csv(self.folder / "history.csv")

    def load_checkpoint(self, **kwargs: Any) -> Checkpoint:
        """The run's checkpoint (see :func:`chainrule.checkpoint.load_checkpoint`)."""
        return load_checkpoint(self.checkpoint_path, **kwargs)

    def load_model(self) -> Any:
        """The trained model of the run's checkpoint."""
        return self.load_checkpoint().model

    def initial_model(self) -> Any:
        """The model as the run began, before any training: rebuilt from run.json's model
        config and seed (``start_run`` draws the initial weights from that seed first)."""
        return build_model(self.record["model"], seed=np.random.default_rng(self.record["seed"]))


def _read_run_file(folder: Path, label: str) -> dict[str, Any]:
    path = folder / RUN_FILE
    if not folder.is_dir():
        raise RunError(f"{label}: no such run folder")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{label}: no {RUN_FILE} there (is it a chainrule run folder?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{label}: cannot read {RUN_FILE}: {exc}") from exc
    except RecursionError:
        raise RunError(f"{label}: cannot read {RUN_FILE}: its JSON is nested too deeply") from None
    if not isinstance(record, dict) or not isinstance(record.get("settings"), dict):
        raise RunError(f"{label}: {RUN_FILE} has no 'settings'")
    _check_record(record, f"{label}: {RUN_FILE}")
    return record


# What every run.json has recorded since chainrule 0.1.0 (settings added later, such as filters,
# take their defaults when missing).
_REQUIRED_SETTINGS = ("dataset", "model", "hidden", "optimizer", "lr", "batch_size", "seed", "dtype")
# What run.json's other entries must be, when present (a record chainrule wrote always has them so).
_RECORD_TYPES: dict[str, tuple[type, ...]] = {
    "dataset": (dict,),
    "model": (dict,),
    "optimizer": (dict,),
    "resumed": (list,),
    "result": (dict, type(None)),
    "argv": (list,),
    "step_threads": (int, type(None)),
}


def _check_record(record: Mapping[str, Any], where: str) -> None:
    """run.json's settings are a complete, valid set (what ``resolve_settings`` accepts), and its
    other entries have their types; RunError naming run.json otherwise."""
    settings = record["settings"]
    missing = [k for k in _REQUIRED_SETTINGS if k not in settings]
    if missing:
        raise RunError(
            f"{where} lacks the setting {missing[0]!r} (a run records at least {', '.join(_REQUIRED_SETTINGS)})"
        )
    try:
        resolve_settings(settings)
    except RunError as exc:
        raise RunError(f"{where} holds settings that are not valid: {exc._raw}") from None
    for key, types in _RECORD_TYPES.items():
        if key in record and not isinstance(record[key], types):
            raise RunError(
                f"{where}: {key!r} must be {' or '.join(t.__name__ for t in types)}, got {_short(record[key])}"
            )
    if "seed" in record and not (is_int(record["seed"]) and record["seed"] >= 0):
        raise RunError(f"{where}: 'seed' must be an integer >= 0, got {_short(record['seed'])}")


def _short(value: Any) -> str:
    """``repr(value)`` cut to what a one-line message can hold."""
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def load_run(folder: str | os.PathLike[str]) -> RunRecord:
    """Read the run folder ``folder`` (its run.json; the history and checkpoint on request)."""
    path = Path(folder).expanduser()
    return RunRecord(path, _read_run_file(path, str(path)))


def recorded_dataset(checkpoint: Checkpoint) -> tuple[str | None, str | None]:
    """(data set name, data folder) a checkpoint records, else the run.json beside it; (None, None) if neither."""
    info = checkpoint.info
    if info.get("dataset"):
        name, data_dir = info["dataset"], info.get("data_dir")
        where = f"{checkpoint.path} (its metadata)"
    else:
        if not (Path(checkpoint.path).parent / RUN_FILE).is_file():
            return None, None
        settings = load_run(Path(checkpoint.path).parent).settings  # a damaged run.json is reported
        name, data_dir = settings.get("dataset"), settings.get("data_dir")
        where = f"{Path(checkpoint.path).parent / RUN_FILE} (its settings)"
    if name is not None and name not in DATASET_NAMES:
        raise RunError(f"{where}: the data set {_short(name)} is not one of {', '.join(DATASET_NAMES)}")
    if data_dir is not None and not isinstance(data_dir, str):
        raise RunError(f"{where}: data_dir must be a folder name or null, got {_short(data_dir)}")
    return name, data_dir


# --------------------------------------------------------------------------------------------
# Starting and resuming
# --------------------------------------------------------------------------------------------


@dataclass
class Run(RunRecord):
    """A run ready to train: its folder, its record and the ``trainer`` that writes into the folder."""

    trainer: Trainer | None = None
    #: True when :func:`resume_run` found no checkpoint (the run stopped before its first epoch
    #: ended) and so starts the run afresh, with its recorded settings.
    fresh: bool = False
    _lock: int | None = field(default=None, repr=False)

    def close(self) -> None:
        """Release the run folder (see :func:`start_run`); :meth:`fit` does when it ends."""
        fd, self._lock = self._lock, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the lock

    def __del__(self) -> None:
        self.close()

    def fit(self, verbose: int = 0) -> dict[str, Any]:
        """Train to the end, then record the result in run.json and draw ``curves.png``; returns the final row.

        ``verbose`` is :meth:`Trainer.fit`'s: 0 nothing, 1 a progress bar and a line per epoch, 2 the lines.

        run.json is written first too, so an interrupted run's folder names its settings and resumes.

        Overflow on the way to a NaN loss is not warned about: ``TrainingDiverged`` reports it
        once. On Ctrl-C the last finished epoch's checkpoint is in the folder and the interrupt
        propagates.
        """
        try:
            return self._fit(verbose)
        finally:
            self.close()

    def _fit(self, verbose: int) -> dict[str, Any]:
        trainer = self.trainer
        write_json(self.folder / RUN_FILE, self.record)  # the settings (and this resume) before training starts
        if "matplotlib.figure" not in sys.modules:
            prefetch_plotting()  # curves.png is drawn at the end: import matplotlib while the first epoch trains
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            trainer.fit(verbose)
        final = trainer.final
        if final is None:  # a resumed run that had nothing left to do and no history
            raise RunError(f"{self.folder}: the run has no completed epoch to report")
        self.record["result"] = {
            "final": final,
            "epochs_completed": trainer.epoch,
            "iterations": trainer.iteration,
            "stopped_early": trainer.stopped_early,
            "seconds": round(sum(row["seconds"] for row in trainer.history), 3),
        }
        write_json(self.folder / RUN_FILE, self.record)
        settings = self.settings
        plot_history(trainer.history, self.folder / "curves.png", title=f"{settings['dataset']}, {settings['model']}")
        return final


def new_run_folder(out: str | os.PathLike[str] | None) -> Path:
    """``out`` checked to hold no run yet, or a fresh ``runs/<YYYYmmdd-HHMMSS>`` (nothing is created)."""
    if out is not None:
        path = Path(out).expanduser()
        if (path / CHECKPOINT_NAME).exists() or (path / RUN_FILE).exists():
            resume = option("resume", path, python=f"resume_run({str(path)!r})")
            raise RunError(f"{path} already holds a run; continue it with {resume} or choose another {option('out')}")
        if path.exists() and not path.is_dir():
            raise RunError(f"{option('out', path)} exists and is not a folder")
        return path
    base = Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    path, k = base, 1
    while path.exists():
        path, k = base.with_name(f"{base.name}-{k}"), k + 1
    return path


def _lock_folder(folder: Path, label: str, *, other: str = "") -> int | None:
    """An exclusive lock on ``folder`` (``flock`` on the folder itself) held by the returned
    descriptor; the kernel releases it when the process ends, however it ends (kill -9 too), so
    a lock is never stale. RunError when another run holds it. None where the platform or the
    file system has no such locks (there the exclusive folder creation still guards ``runs/``)."""
    try:
        import fcntl  # POSIX only
    except ImportError:  # pragma: no cover - Windows
        return None
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - a folder that cannot be opened is reported when written
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunError(
            f"{label}: another chainrule run is writing into this folder now; wait for it to end{other}"
        ) from None
    except OSError:  # pragma: no cover - a file system without flock
        os.close(fd)
        return None
    remove_temp_files(folder)  # held exclusively now: any temporary file is a killed writer's
    return fd


def _claim_folder(out: str | os.PathLike[str] | None) -> tuple[Path, int | None, bool]:
    """(folder, lock, created): ``out``, or a new ``runs/<YYYYmmdd-HHMMSS>[-k]``, made if need be
    and locked for this run, after checking that it holds no run.

    The default folder is made with ``os.mkdir`` (which fails if the folder exists), so two runs
    started in the same second get two folders; a given ``out`` is locked before it is checked,
    so of two runs started together into it, one refuses.
    """
    if out is None:
        base = Path("runs") / time.strftime("%Y%m%d-%H%M%S")
        base.parent.mkdir(parents=True, exist_ok=True)
        path, k = base, 1
        while True:
            try:
                os.mkdir(path)
                break
            except FileExistsError:
                path, k = base.with_name(f"{base.name}-{k}"), k + 1
        return path, _lock_folder(path, str(path)), True
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise RunError(f"{option('out', path)} exists and is not a folder")
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RunError(f"{option('out', path)} exists and is not a folder") from None
    lock = _lock_folder(path, option("out", path), other=f" or choose another {option('out')}")
    try:
        new_run_folder(path)  # holds no run yet (checked under the lock)
    except BaseException:
        _release(path, lock, created)
        raise
    return path, lock, created


def _release(folder: Path, lock: int | None, created: bool) -> None:
    """Undo a claim that came to nothing: unlock, and remove the folder if this run made it and it is empty."""
    if lock is not None:
        os.close(lock)
    if created:
        try:
            folder.rmdir()  # only an empty folder goes
        except OSError:
            pass


def _load_data(settings: Mapping[str, Any], progress: Any) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    images = {"flatten": False} if settings["model"] in CONV_MODELS else {}  # (N, 1, 28, 28) for convolutions
    return load_dataset(
        settings["dataset"], dtype=settings["dtype"], data_dir=settings["data_dir"], progress=progress, **images
    )


def start_run(
    settings: Mapping[str, Any] | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    argv: Sequence[str] = (),
    callbacks: Sequence[Any] = (),
    progress: bool = False,
    data_progress: Any = False,
    threads: int | None = None,
) -> Run:
    """A new run of ``settings`` (any of :data:`DEFAULT_SETTINGS`; the rest default) in folder ``out``.

    Loads the data set, builds the model and optimizer from one seeded generator, writes
    run.json and returns the :class:`Run`; call ``run.fit()`` to train. ``callbacks`` and
    ``progress`` go to the Trainer, ``data_progress`` to the data set loader (a download bar);
    ``argv`` is recorded in run.json. ``start_run({"dataset": "spiral", "epochs": 5}).fit()``
    is ``chainrule train --dataset spiral --epochs 5``. ``threads``: BLAS threads of the
    training steps, as ``chainrule train --threads`` (default: :func:`~chainrule.threads.training_threads`,
    1 unless the environment sets a count); recorded in run.json as ``step_threads``, which a
    resume keeps (results differ in the last bits between thread counts).

    The folder is claimed before anything else is done: the default one is created exclusively
    (two runs started in the same second get ``runs/<time>`` and ``runs/<time>-1``), and ``out``
    is locked (``flock``) until ``fit`` ends, so a second run into it refuses (RunError) instead
    of overwriting the first. A folder this call created is removed again if starting fails.
    """
    settings = resolve_settings(settings or {})
    folder, lock, created = _claim_folder(out)
    try:
        step_threads = training_threads(threads)
        return _new_run(settings, folder, lock, argv, callbacks, progress, data_progress, step_threads=step_threads)
    except BaseException:
        _release(folder, lock, created)
        raise


def _new_run(
    settings: dict[str, Any],
    folder: Path,
    lock: int | None,
    argv: Sequence[str],
    callbacks: Sequence[Any],
    progress: bool,
    data_progress: Any,
    *,
    step_threads: int | None,
    **extra: Any,
) -> Run:
    """The run of resolved ``settings`` in the claimed ``folder``: data, model, optimizer, trainer, run.json."""
    (x_train, t_train), (x_test, t_test) = _load_data(settings, data_progress)
    fingerprint = dataset_fingerprint(settings["dataset"], x_train, t_train, x_test, t_test)
    config = model_config(settings, x_train.shape[1:], n_classes_of(settings["dataset"], t_train, t_test))
    _check_step_fits(config, settings["batch_size"])
    rng = np.random.default_rng(settings["seed"])
    model = build_model(config, seed=rng)
    optimizer = make_optimizer(settings["optimizer"], lr=settings["lr"])
    trainer = Trainer(
        model,
        optimizer,
        x_train,
        t_train,
        x_test,
        t_test,
        epochs=settings["epochs"],
        iters=settings["iters"],
        batch_size=settings["batch_size"],
        rng=rng,
        schedule=LRSchedule(settings["schedule"], settings["step_size"], settings["gamma"], settings["min_lr"]),
        early_stopping=(
            EarlyStopping(settings["early_stopping"], settings["monitor"])
            if settings["early_stopping"] is not None
            else None
        ),
        out_dir=folder,
        callbacks=callbacks,
        progress=progress,
        info={"dataset": settings["dataset"], "data_dir": settings["data_dir"]},
        step_threads=step_threads,
    )
    record = {
        "command": "chainrule train",
        "argv": list(argv),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "settings": settings,
        "seed": settings["seed"],
        "dataset": fingerprint,
        "model": model.config,
        "optimizer": optimizer.config,
        "versions": library_versions(),
        "step_threads": step_threads,
        **extra,
    }
    write_json(folder / RUN_FILE, record)
    return Run(folder, record, trainer, _lock=lock)


def _check_step_fits(config: Mapping[str, Any], batch_size: int) -> None:
    """Refuse, before any weight is drawn, a run whose training step cannot fit: the fully
    connected layers' widths from the model's blueprint (its parameter shapes, no memory), at
    ``batch_size``. The Trainer checks the built model again, convolutions included."""
    params, _ = model_blueprint(config)
    widths = sum(int(p.shape[1]) for p in params.values() if p.ndim == 2)  # each Affine's output (and what follows it)
    itemsize = next(iter(params.values())).dtype.itemsize
    nbytes = step_bytes(2 * widths, batch_size, itemsize, sum(p.size * itemsize for p in params.values()))
    check_allocation(nbytes, f"a training step of batch {batch_size}")


def resume_run(
    folder: str | os.PathLike[str],
    settings: Mapping[str, Any] | None = None,
    *,
    callbacks: Sequence[Any] = (),
    progress: bool = False,
    data_progress: Any = False,
    threads: int | None = None,
) -> Run:
    """The run in ``folder``, ready to continue exactly where its last checkpoint left it.

    ``settings`` may give a new length (``epochs`` or ``iters``, counted from the start of the
    run) and a new ``data_dir``; any other setting must equal the run's own. The data must be
    the run's (checked by SHA-256). ``run.fit()`` continues and records the resume in run.json.

    A folder whose run stopped before its first epoch ended holds run.json but no checkpoint:
    its run then starts afresh from the recorded settings (``run.fresh`` is True). The folder is
    locked while the run writes into it (RunError if another run holds it). ``threads``: BLAS
    threads of the steps; by default the run's own (``step_threads`` in run.json; a run from
    before chainrule recorded it used the library's count), so that the resume is exact.
    """
    path = Path(folder).expanduser()
    label = option("resume", path, python=str(path))
    _read_run_file(path, label)
    lock = _lock_folder(path, label)
    try:
        record = _read_run_file(path, label)
        step_threads = training_threads(threads) if threads is not None else record.get("step_threads")
        return _resume(path, label, record, settings, lock, callbacks, progress, data_progress, step_threads)
    except BaseException:
        _release(path, lock, False)
        raise


def _resume(
    path: Path,
    label: str,
    record: dict[str, Any],
    settings: Mapping[str, Any] | None,
    lock: int | None,
    callbacks: Sequence[Any],
    progress: bool,
    data_progress: Any,
    step_threads: int | None,
) -> Run:
    given = dict(settings or {})
    unknown = [k for k in given if k not in DEFAULT_SETTINGS]
    if unknown:
        raise RunError(f"unknown setting {unknown[0]!r}; the settings are {', '.join(DEFAULT_SETTINGS)}")
    fixed = [k for k in given if k not in RESUMABLE_SETTINGS and given[k] != record["settings"].get(k)]
    if fixed:
        names = ", ".join(option(k) for k in fixed)
        raise RunError(f"{names} cannot change when resuming (the run's settings are in {path / RUN_FILE})")
    resolved = {**DEFAULT_SETTINGS, **record["settings"]}  # (settings newer than the run take their defaults)
    if "epochs" in given or "iters" in given:
        resolved["epochs"], resolved["iters"] = given.get("epochs"), given.get("iters")
    if "data_dir" in given:
        if given["data_dir"] is not None and resolved["dataset"] == "spiral":
            raise RunError(f"{option('data_dir')} applies to mnist and fashion-mnist; spiral is generated")
        resolved["data_dir"] = given["data_dir"]
    if not (path / CHECKPOINT_NAME).exists():
        # Stopped before its first epoch ended: nothing was trained that a resume could keep, so
        # the run starts again from its recorded settings (the same seed gives the same run).
        try:
            fresh_settings = resolve_settings(resolved)
        except RunError as exc:
            raise RunError(f"{label}: {exc._raw}") from None
        restart = {"at": time.strftime("%Y-%m-%dT%H:%M:%S"), "epoch": 0, "iteration": 0, "fresh": True}
        run = _new_run(
            fresh_settings,
            path,
            lock,
            record.get("argv", []),
            callbacks,
            progress,
            data_progress,
            step_threads=step_threads,
            resumed=[*record.get("resumed", []), restart],
        )
        run.fresh = True
        return run
    (x_train, t_train), (x_test, t_test) = _load_data(resolved, data_progress)
    fingerprint = dataset_fingerprint(resolved["dataset"], x_train, t_train, x_test, t_test)
    recorded = record.get("dataset", {})
    if (recorded.get("train_sha256"), recorded.get("test_sha256")) != (
        fingerprint["train_sha256"],
        fingerprint["test_sha256"],
    ):
        raise RunError(
            f"{label}: the {resolved['dataset']} data differ from the run's (SHA-256 mismatch); "
            "an exact resume needs the same data"
        )
    trainer = Trainer.from_checkpoint(
        path,
        x_train,
        t_train,
        x_test,
        t_test,
        epochs=resolved["epochs"],
        iters=resolved["iters"],
        callbacks=callbacks,
        progress=progress,
    )
    trainer.info = {"dataset": resolved["dataset"], "data_dir": resolved["data_dir"]}
    trainer.step_threads = step_threads
    record["settings"] = resolved
    entry = {"at": time.strftime("%Y-%m-%dT%H:%M:%S"), "epoch": trainer.epoch, "iteration": trainer.iteration}
    if step_threads != record.get("step_threads"):
        entry["step_threads"] = step_threads  # resumed with another thread count than it started with
    record.setdefault("resumed", []).append(entry)
    return Run(path, record, trainer, _lock=lock)  # run.json changes when the run is fitted, not before
