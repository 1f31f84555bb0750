"""The book's ``common/optimizer.py``: SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam (same defaults).

``update(params, grads)`` updates arrays in place and a dict of Python floats by rebinding, as
the book's code does.
"""

import numpy as np

from chainrule.optim import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop

# ``np`` too: the book's programs use the NumPy that ``from common.optimizer import *`` brings.
__all__ = ["SGD", "AdaGrad", "Adam", "Momentum", "Nesterov", "RMSprop", "np"]
