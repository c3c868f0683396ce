"""Evaluation preprocessing for pretrained weights: resize the short side, centre crop, normalise.

Follows torchvision's `Resize(short) -> CenterCrop(crop) -> ToTensor -> Normalize` on PIL
images (antialiased resampling, crop offsets rounded), but returns NHWC-ready arrays.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from PIL import Image

from zoo.errors import InputShapeError

_RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
             "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}


def preprocess_image(img_uint8_hwc: np.ndarray, preprocessing: Mapping[str, Any]) -> np.ndarray:
    """uint8 image [H, W, 3] (or [H, W] grey, [H, W, 4] RGBA) -> float32 [crop, crop, 3], normalised.

    `preprocessing` is a model card's dict: {'resize', 'crop', 'mean', 'std', 'interpolation'};
    mean and std are in [0, 1] pixel units. A missing 'resize' or 'crop' skips that step.
    """
    img = np.asarray(img_uint8_hwc)
    if img.dtype != np.uint8:
        raise InputShapeError(f"preprocess_image expects uint8 pixels, got {img.dtype}; "
                              "convert with (x * 255).round().astype('uint8') for images in [0, 1]")
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] not in (3, 4):
        raise InputShapeError(f"preprocess_image expects one image [H, W, 3], got shape {img.shape}")
    pil = Image.fromarray(img[..., :3])
    interpolation = preprocessing.get("interpolation", "bilinear")
    if interpolation not in _RESAMPLE:
        raise ValueError(f"unknown interpolation {interpolation!r}; choose one of {sorted(_RESAMPLE)}")
    resize = preprocessing.get("resize")
    if resize:
        width, height = pil.size
        # torchvision keeps the short side exact and truncates the long one.
        new = (resize, int(resize * height / width)) if width <= height else (int(resize * width / height), resize)
        pil = pil.resize(new, _RESAMPLE[interpolation])
    crop = preprocessing.get("crop")
    if crop:
        width, height = pil.size
        if crop > min(width, height):
            raise InputShapeError(f"image {width}x{height} is smaller than the {crop} px crop; set 'resize' >= crop")
        top, left = int(round((height - crop) / 2.0)), int(round((width - crop) / 2.0))
        pil = pil.crop((left, top, left + crop, top + crop))
    x = np.asarray(pil, dtype=np.float32) / 255.0  # [H, W, 3]
    mean = np.asarray(preprocessing.get("mean", (0.0, 0.0, 0.0)), np.float32)
    std = np.asarray(preprocessing.get("std", (1.0, 1.0, 1.0)), np.float32)
    return (x - mean) / std
