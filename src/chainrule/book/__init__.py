"""The book's module names, so its programs run on chainrule with only their imports changed.

The book's programs import ``common.layers``, ``common.optimizer``, ... and ``dataset.mnist``.
Either change each import to the module of the same name here::

    from chainrule.book.common.layers import *           # was: from common.layers import *
    from chainrule.book.common.trainer import Trainer     # was: from common.trainer import Trainer
    from chainrule.book.dataset.mnist import load_mnist   # was: from dataset.mnist import load_mnist

or add one line before them, which makes ``import common...`` and ``import dataset...``
resolve here::

    import chainrule.book; chainrule.book.install()

Where the book's code and chainrule differ on purpose, these modules take the book's side only
where its figures depend on it (``common.layers.Dropout`` and ``BatchNormalization``,
``MultiLayerNetExtend``); everything else is chainrule's, without the reference code's bugs.
"""

from __future__ import annotations

import sys
from types import ModuleType

from chainrule.book import common, dataset
from chainrule.book.common import (
    functions,
    gradient,
    layers,
    multi_layer_net,
    multi_layer_net_extend,
    optimizer,
    trainer,
    util,
)
from chainrule.book.dataset import mnist

__all__ = ["MODULES", "install"]

#: The book's module name → the module here.
MODULES: dict[str, ModuleType] = {
    "common": common,
    "common.functions": functions,
    "common.gradient": gradient,
    "common.layers": layers,
    "common.multi_layer_net": multi_layer_net,
    "common.multi_layer_net_extend": multi_layer_net_extend,
    "common.optimizer": optimizer,
    "common.trainer": trainer,
    "common.util": util,
    "dataset": dataset,
    "dataset.mnist": mnist,
}


def install() -> None:
    """Make ``import common.layers`` (and every module of :data:`MODULES`) give chainrule's.

    It registers the modules in ``sys.modules``; a ``common`` or ``dataset`` package already
    imported is replaced. Call it once, before the book's imports.
    """
    sys.modules.update(MODULES)
