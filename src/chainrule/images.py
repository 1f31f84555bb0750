"""Turn an arbitrary picture of a digit (or garment) into an MNIST-style 28×28 input.

MNIST's own preparation (LeCun et al.): white strokes on a black background, the writing's
bounding box scaled to fit 20×20 keeping its aspect ratio, then placed in a 28×28 field so that
its centre of mass is at the centre. :func:`to_mnist` applies the same steps to a grayscale
array; :func:`load_image` reads a PNG/JPEG (any size, any colour mode) with Pillow first.
Pillow is imported only when these functions run.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = ["load_image", "to_mnist"]

SIZE = 28
BOX = 20
# Pixels below this fraction of the full ink range are background noise (paper texture, JPEG
# artefacts) and do not count towards the bounding box.
_INK_THRESHOLD = 0.1


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file and return it MNIST-style: (28, 28) float32 in [0, 1], white on black.

    Colour is converted to grayscale; transparency is flattened onto a background that
    contrasts with the strokes. Raises ``ValueError`` for a file Pillow cannot read or an
    image with no visible strokes.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            img.load()
    except UnidentifiedImageError as exc:
        raise ValueError(f"{path}: not an image Pillow can read (PNG, JPEG, ...)") from exc
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the image: {exc}") from exc
    try:
        return to_mnist(_grayscale(img))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _grayscale(img: Any) -> np.ndarray:
    """Gray levels in [0, 1] (H, W); a transparent background becomes the strokes' opposite."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64) / 255.0
        gray = np.asarray(rgba.convert("L"), dtype=np.float64) / 255.0
        if alpha.min() < 1.0:
            opaque = alpha > 0.5
            strokes_light = opaque.any() and float(gray[opaque].mean()) > 0.5
            background = 0.0 if strokes_light else 1.0
            return alpha * gray + (1.0 - alpha) * background
        return gray
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        return (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    return np.asarray(img.convert("L") if img.mode != "L" else img, dtype=np.float64) / 255.0


def to_mnist(gray: Any) -> np.ndarray:
    """MNIST-style (28, 28) float32 in [0, 1] from a 2-D grayscale array (any range, any size).

    Steps: scale to [0, 1]; if the border is mostly light, invert (strokes become white on
    black); stretch so the background is 0 and the brightest stroke 1; crop to the strokes'
    bounding box; resize its longer side to 20 pixels keeping the aspect ratio; place it in a
    28×28 field with its centre of mass at the centre (kept inside the field).
    """
    from PIL import Image

    a = np.asarray(gray, dtype=np.float64)
    if a.ndim != 2 or min(a.shape) < 1:
        raise ValueError(f"expected a 2-D grayscale image, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("the image holds NaN or infinite values")
    lo, hi = float(a.min()), float(a.max())
    if hi - lo < 1e-6:
        raise ValueError("the image is blank (a single gray level): nothing to classify")
    a = (a - lo) / (hi - lo)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if np.median(border) > 0.5:
        a = 1.0 - a  # dark strokes on light paper → MNIST's white on black
        border = 1.0 - border
    background = float(np.median(border))
    a = np.clip((a - background) / max(1.0 - background, 1e-6), 0.0, 1.0)
    rows = np.flatnonzero((a > _INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((a > _INK_THRESHOLD).any(axis=0))
    if rows.size == 0:
        raise ValueError("no strokes found: the image has no contrast with its background")
    a = a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = a.shape
    scale = BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    patch = Image.fromarray(a.astype(np.float32), mode="F").resize((new_w, new_h), Image.Resampling.LANCZOS)
    a = np.clip(np.asarray(patch, dtype=np.float64), 0.0, 1.0)

    total = float(a.sum())
    if total > 0:
        cy = float((a.sum(axis=1) * np.arange(new_h)).sum() / total)
        cx = float((a.sum(axis=0) * np.arange(new_w)).sum() / total)
    else:
        cy, cx = (new_h - 1) / 2, (new_w - 1) / 2
    centre = (SIZE - 1) / 2
    top = int(np.clip(round(centre - cy), 0, SIZE - new_h))
    left = int(np.clip(round(centre - cx), 0, SIZE - new_w))
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[top : top + new_h, left : left + new_w] = a
    return out
