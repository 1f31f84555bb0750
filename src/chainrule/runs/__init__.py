"""Run folders: what ``chainrule train`` writes, and the one way to read one back.

A run folder holds:

- ``run.json``: the command, when it was created, every setting (:data:`DEFAULT_SETTINGS`
  filled in), the seed, the data set's fingerprint (name, sizes, SHA-256 of its arrays), the
  model's and optimizer's configuration, library versions, each resume, and at the end the
  result (the final row, epochs, iterations, whether it stopped early, seconds);
- ``model.safetensors``: the checkpoint of the last finished epoch (see :mod:`chainrule.checkpoint`);
- ``history.csv``: one row per epoch; ``curves.png``: loss and accuracy per epoch.

:func:`start_run` turns settings into a data set, a model, an optimizer and a
:class:`~chainrule.train.Trainer` writing into a new folder; :func:`resume_run` continues a
folder exactly; :func:`load_run` reads one (for ``chainrule eval``, the benchmarks or a
notebook). Modules: :mod:`~chainrule.runs.settings` (the settings, their defaults and the model
they describe), :mod:`~chainrule.runs.folder` (the folder: start, resume, load) and
:mod:`~chainrule.runs.records` (the data set's fingerprint and the versions run.json records).
"""

from chainrule.runs.folder import (
    RUN_FILE,
    Run,
    RunRecord,
    load_run,
    new_run_folder,
    recorded_dataset,
    resume_run,
    start_run,
)
from chainrule.runs.records import dataset_fingerprint, library_versions
from chainrule.runs.settings import (
    CONV_MODELS,
    DEFAULT_SETTINGS,
    RESUMABLE_SETTINGS,
    RunError,
    model_config,
    n_classes_of,
    resolve_settings,
)

__all__ = [
    "CONV_MODELS",
    "DEFAULT_SETTINGS",
    "RESUMABLE_SETTINGS",
    "RUN_FILE",
    "Run",
    "RunError",
    "RunRecord",
    "dataset_fingerprint",
    "library_versions",
    "load_run",
    "model_config",
    "n_classes_of",
    "new_run_folder",
    "recorded_dataset",
    "resolve_settings",
    "resume_run",
    "start_run",
]
