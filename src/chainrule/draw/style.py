"""The look of a drawing: colours, fonts and the sizes the layout is measured in (layout pixels)."""

from __future__ import annotations

GRAD_COLOR = "#d62728"  # red, as the book's backward values
INK = "#222222"
CONSTANT_INK = "#666666"
FONT_FAMILY = "DejaVu Sans, Helvetica, Arial, sans-serif"
FONT = 14.0  # px: edge labels and names
SYMBOL_FONT = 17.0  # px: one-character node symbols (× + −)
WORD_FONT = 14.0  # px: word node symbols (exp, relu)
RADIUS = 21.0
ROW_H = 84.0
MIN_STEM = 44.0
BEND = 34.0
LABEL_PAD = 13.0
MARGIN = 14.0
