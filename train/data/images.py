"""Image files -> uint8 pixels a model can take, whatever their bit depth, and a word when they are too small.

PIL's convert('RGB') or convert('L') clips a 16-bit ('I;16', 'I') or float ('F') image to 0..255 instead of
rescaling it, so a 16-bit photo comes out almost all white and is classified as noise without a word. These
modes are scaled to 8 bits first. A tiny image is upscaled to the model's input without complaint by every
resize, so the caller is told when an image is far smaller than what the model expects.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.errors import ZooError

SMALL_FRACTION = 0.5  # below half the model's input side, an image is blown up past what its pixels can carry


class ImageReadError(ZooError, OSError):
    """An image file that is missing or that PIL cannot decode."""


def read_image(path: Path, channels: int) -> np.ndarray:
    """uint8 [H, W, 3] (RGB; grey, palette, RGBA, 16-bit and float images converted) or [H, W] for channels=1."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"image {path} does not exist")
    try:
        with Image.open(path) as img:
            return np.asarray(to_8_bits(img).convert("L" if channels == 1 else "RGB"))
    except (UnidentifiedImageError, OSError) as err:
        raise ImageReadError(f"cannot read image {path}: {err}") from None


def to_8_bits(img):
    """A PIL image in a mode whose pixels go beyond 0..255 -> the same picture as 'L'; other modes as they are.

    'I;16*': divided by 257, which maps 0..65535 onto 0..255 exactly. 'I': Pillow and many TIFF readers hold
    16-bit greys in it, so it is read as 16 bits too (values outside 0..65535 are clipped). 'F': floats in
    [0, 1] are the usual convention and are multiplied by 255; any other range is stretched from its minimum
    to its maximum, since no fixed scale exists for it."""
    from PIL import Image

    if img.mode.startswith("I;16") or img.mode == "I":
        levels = np.clip(np.asarray(img, np.float64), 0, 65535) / 257
    elif img.mode == "F":
        values = np.nan_to_num(np.asarray(img, np.float64))
        low, high = float(values.min()), float(values.max())
        if low >= 0 and high <= 1:
            levels = values * 255
        else:
            levels = (values - low) / max(high - low, np.finfo(np.float64).tiny) * 255
    else:
        return img
    return Image.fromarray(np.round(levels).astype(np.uint8))  # 2-D uint8: mode L


def small_image_warning(path, image_size: tuple[int, int], input_size: tuple[int, int]) -> str | None:
    """One line when an image (height, width) is under half the model's input (height, width) on a side, else None."""
    (height, width), (in_height, in_width) = image_size, input_size
    if height >= SMALL_FRACTION * in_height and width >= SMALL_FRACTION * in_width:
        return None
    return (f"image {path} is {width}x{height} pixels, far smaller than the model's {in_width}x{in_height} input; "
            "it is upscaled to fit, so the prediction may mean little (use a larger image)")
