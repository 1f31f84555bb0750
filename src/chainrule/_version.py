"""The version of chainrule, in one place: the package, checkpoints and ``pyproject.toml`` read it here."""

__version__ = "0.1.0"
