"""Training networks: the loop, evaluation, schedules, early stopping, callbacks, history and resuming.

- :mod:`~chainrule.train.trainer`: :class:`Trainer` (true epochs over reshuffled data,
  per-epoch evaluation, checkpoints after every epoch) and :class:`TrainingDiverged`;
- :mod:`~chainrule.train.metrics`: :func:`evaluate`, loss and accuracy on a whole set;
- :mod:`~chainrule.train.schedule`: :class:`LRSchedule`;
- :mod:`~chainrule.train.stopping`: :class:`EarlyStopping` and the best-epoch tracker;
- :mod:`~chainrule.train.divergence`: :class:`DivergenceCheck`, when a finite loss has blown up;
- :mod:`~chainrule.train.callbacks`: :class:`Callback`, how training reports progress;
- :mod:`~chainrule.train.history`: ``history.csv`` and ``curves.png`` (:func:`plot_history`; the
  figure itself from :func:`history_figure`);
- :mod:`~chainrule.train.resume`: the trainer's state in a checkpoint, and exact resumes.
"""

from chainrule.train.callbacks import Callback
from chainrule.train.divergence import DivergenceCheck
from chainrule.train.history import (
    HISTORY_FIELDS,
    history_figure,
    plot_history,
    read_history_csv,
    smooth_curve,
    write_history_csv,
)
from chainrule.train.metrics import DEFAULT_EVAL_BATCH, evaluate
from chainrule.train.schedule import SCHEDULES, LRSchedule
from chainrule.train.stopping import MONITORS, EarlyStopping
from chainrule.train.trainer import Trainer, TrainingDiverged

__all__ = [
    "DEFAULT_EVAL_BATCH",
    "HISTORY_FIELDS",
    "MONITORS",
    "SCHEDULES",
    "Callback",
    "DivergenceCheck",
    "EarlyStopping",
    "LRSchedule",
    "Trainer",
    "TrainingDiverged",
    "evaluate",
    "history_figure",
    "plot_history",
    "read_history_csv",
    "smooth_curve",
    "write_history_csv",
]
