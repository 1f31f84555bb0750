"""The book's ``common/gradient.py``: central differences over an array of any shape, or per row."""

from chainrule.gradcheck import numerical_gradient, numerical_gradient_2d

__all__ = ["numerical_gradient", "numerical_gradient_2d"]
