"""Turn an arbitrary picture of a digit or a garment into a 28×28 input of the data set's kind.

Each data set was prepared its own way, and a picture must be prepared the same way:

- MNIST (LeCun et al.): white strokes on a black background, the writing's bounding box scaled
  to fit 20×20 keeping its aspect ratio, then placed in a 28×28 field so that its centre of mass
  is at the centre (:func:`to_mnist`);
- Fashion-MNIST (Zalando): the product photo trimmed to the garment, its longer edge resized
  to 28 keeping the aspect ratio, centred in 28×28, and negated so the garment is light on a
  dark background (:func:`to_fashion`).

:func:`load_image` reads a PNG/JPEG (any size, any colour mode) with Pillow and applies the
preparation of ``kind``; an image that already is a 28×28 grayscale picture of that kind (dark
background), such as a test image saved to PNG, goes in unchanged. Pillow is imported only when
these functions run.

What a file may be: a regular file (never a FIFO or a device) of at most ``MAX_IMAGE_BYTES``
(64 MiB), checked before a byte is read, holding a picture of at most ``MAX_PIXELS`` (50
million) pixels, checked from its header before it is decoded: a decompression bomb (a small
PNG, BMP or GIF that declares 30000×30000 pixels) is refused without allocating.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from typing import Any

import numpy as np

from chainrule._files import read_regular_file

__all__ = ["KINDS", "MAX_IMAGE_BYTES", "MAX_PIXELS", "load_image", "to_fashion", "to_mnist"]

#: The largest image file :func:`load_image` reads (a phone photo is a few MiB).
MAX_IMAGE_BYTES = 64 * 1024**2
#: The most pixels :func:`load_image` decodes (a 48-megapixel photo fits; Pillow's own warning
#: starts at 89 million, and its refusal at twice that, a traceback).
MAX_PIXELS = 50_000_000

SIZE = 28
BOX = 20
#: The preparations :func:`load_image` knows, by data set name.
KINDS: tuple[str, ...] = ("mnist", "fashion-mnist")
# Pixels below this fraction of the full ink range are background noise (paper texture, JPEG
# artefacts) and do not count towards the bounding box.
_INK_THRESHOLD = 0.1


def load_image(path: str | os.PathLike[str], kind: str = "mnist") -> np.ndarray:
    """Read an image file and return it as a (28, 28) float32 input in [0, 1] of ``kind``'s style.

    ``kind`` is ``"mnist"`` (digits: 20×20 box centred by mass) or ``"fashion-mnist"``
    (garments: longer edge 28, centred). Colour is converted to grayscale; transparency is
    flattened onto a background that contrasts with the strokes. A 28×28 8-bit grayscale image
    with a dark background is used as it is, scaled by 1/255 exactly as the data set loaders
    do. Raises ``ValueError`` for a file Pillow cannot read, one that is not a regular file or
    is larger than ``MAX_IMAGE_BYTES``, a picture of more than ``MAX_PIXELS`` pixels, an unknown
    ``kind`` or an image with no visible strokes.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if kind not in KINDS:
        raise ValueError(f"load_image: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    data = read_regular_file(path, "image", limit=MAX_IMAGE_BYTES)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # refused below, never a warning
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size  # from the header: nothing is decoded yet
                if width * height > MAX_PIXELS:
                    raise ValueError(_too_many_pixels(path, width, height))
                img = ImageOps.exif_transpose(img)
                img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses in open() already, before its size is known to us; its message has the count
        found = re.search(r"\((\d+) pixels\)", str(exc))
        declared = f"{int(found.group(1)):,} pixels" if found else "more pixels than Pillow will open"
        raise ValueError(
            f"{path}: the image declares {declared}, more than the {MAX_PIXELS:,} an image may have "
            "(a decompression bomb, or a picture to scale down first)"
        ) from None
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not an image Pillow can read (PNG, JPEG, ...)") from None
    except (OSError, SyntaxError, EOFError) as exc:  # truncated or corrupt data, as Pillow reports it
        raise ValueError(f"{path}: cannot read the image: {exc}") from None
    if img.mode == "L" and img.size == (SIZE, SIZE):
        pixels = np.asarray(img, dtype=np.uint8)
        if np.median(_border(pixels)) < 128:  # already of the training kind: light on dark
            out = pixels.astype(np.float32)
            out /= np.float32(255.0)  # the loaders' x / 255
            return out
    try:
        gray = _grayscale(img)
        return to_mnist(gray) if kind == "mnist" else to_fashion(gray)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _too_many_pixels(path: Any, width: int, height: int) -> str:
    return (
        f"{path}: the image is {width}x{height} pixels ({width * height:,}), more than the {MAX_PIXELS:,} "
        "an image may have (a decompression bomb, or a picture to scale down first)"
    )


def _border(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])


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


def _strokes(gray: Any) -> np.ndarray:
    """The strokes (or garment) light on a black background, cropped to their bounding box.

    Scale to [0, 1]; if the border is mostly light, invert (dark ink on paper, or a product on
    a white background, becomes light on black); stretch so the background is 0 and the
    brightest stroke 1; crop to the pixels above the ink threshold.
    """
    a = np.asarray(gray, dtype=np.float64)
    if a.ndim != 2 or min(a.shape) < 1:
        raise ValueError(f"expected a 2-D grayscale image, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("the image holds NaN or infinite values")
    lo, hi = float(a.min()), float(a.max())
    if hi - lo < 1e-6:
        raise ValueError("the image is blank (a single gray level): nothing to classify")
    a = (a - lo) / (hi - lo)
    border = _border(a)
    if np.median(border) > 0.5:
        a = 1.0 - a
        border = 1.0 - border
    background = float(np.median(border))
    a = np.clip((a - background) / max(1.0 - background, 1e-6), 0.0, 1.0)
    rows = np.flatnonzero((a > _INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((a > _INK_THRESHOLD).any(axis=0))
    if rows.size == 0:
        raise ValueError("no strokes found: the image has no contrast with its background")
    return a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _fit(a: np.ndarray, box: int) -> np.ndarray:
    """``a`` resized so its longer side is ``box`` pixels, keeping the aspect ratio."""
    from PIL import Image

    h, w = a.shape
    scale = box / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    patch = Image.fromarray(a.astype(np.float32), mode="F").resize((new_w, new_h), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(patch, dtype=np.float64), 0.0, 1.0)


def _place(a: np.ndarray, top: int, left: int) -> np.ndarray:
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[top : top + a.shape[0], left : left + a.shape[1]] = a
    return out


def to_mnist(gray: Any) -> np.ndarray:
    """MNIST-style (28, 28) float32 in [0, 1] from a 2-D grayscale array (any range, any size).

    Steps: the strokes light on black, cropped to their bounding box; the longer side resized to
    20 pixels keeping the aspect ratio; placed in a 28×28 field with its centre of mass at the
    centre (kept inside the field).
    """
    a = _fit(_strokes(gray), BOX)
    new_h, new_w = a.shape
    total = float(a.sum())
    if total > 0:
        cy = float((a.sum(axis=1) * np.arange(new_h)).sum() / total)
        cx = float((a.sum(axis=0) * np.arange(new_w)).sum() / total)
    else:
        cy, cx = (new_h - 1) / 2, (new_w - 1) / 2
    centre = (SIZE - 1) / 2
    top = int(np.clip(round(centre - cy), 0, SIZE - new_h))
    left = int(np.clip(round(centre - cx), 0, SIZE - new_w))
    return _place(a, top, left)


def to_fashion(gray: Any) -> np.ndarray:
    """Fashion-MNIST-style (28, 28) float32 in [0, 1] from a 2-D grayscale array (any range, any size).

    Steps (Zalando's preparation): the garment light on black, trimmed to its bounding box; the
    longer edge resized to 28 pixels keeping the aspect ratio; centred in the 28×28 field.
    """
    a = _fit(_strokes(gray), SIZE)
    return _place(a, (SIZE - a.shape[0]) // 2, (SIZE - a.shape[1]) // 2)
