"""On-device image input transforms and seeded augmentation, run inside the jitted step.

Order inside a step (torchvision's order for the same settings):

    images [B, H, W] or [B, H, W, C]
      -> `shape_images`  channel axis, grey -> RGB, resize          (train and eval)
      -> `augment`       random crop with zero padding, flip, jitter (train only)
      -> `normalize`     (x - mean) / std                            (train and eval)

Augmenting before normalising means the crop pads with black and the colour
jitter acts on pixel values, as `RandomCrop(padding=p)` / `ColorJitter`
followed by `Normalize` do in torchvision. Every random draw comes from the
key passed in, one draw per example, so a step is a pure function of
(state, batch) and resumed runs replay the same crops.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class ImageInputs:
    """Deterministic transforms applied in both train and eval steps."""

    image_size: int = 0  # resize to S x S (bilinear); 0 = unchanged
    channels: int = 0  # 3 repeats grey images into RGB; 0 = unchanged
    mean: tuple[float, ...] = ()  # per-channel normalisation; () = none
    std: tuple[float, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.image_size or self.channels or self.mean)


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Random train-time transforms; `augment` also accepts a `TrainConfig` (same field names)."""

    crop_padding: int = 0  # pad by this many zero pixels, then crop back to the input size at a random offset
    flip: bool = False  # mirror left-right with probability 1/2
    color_jitter: float = 0.0  # brightness, contrast, saturation factors drawn from [1 - j, 1 + j]

    @property
    def active(self) -> bool:
        return bool(self.crop_padding or self.flip or self.color_jitter)


def shape_images(x: jax.Array, inputs: ImageInputs) -> jax.Array:
    """[B, H, W(, C)] -> [B, S, S, C'] per `inputs`; a no-op when no transform is set."""
    if not inputs.active:
        return x
    if x.ndim == 3:
        x = x[..., None]  # grey [B, H, W] -> [B, H, W, 1]
    if inputs.channels and x.shape[-1] != inputs.channels:
        if x.shape[-1] != 1:
            raise ValueError(f"channels={inputs.channels} can only repeat single-channel (grey) images, "
                             f"got {x.shape[-1]} channels")
        x = jnp.repeat(x, inputs.channels, axis=-1)
    if inputs.image_size and x.shape[1:3] != (inputs.image_size, inputs.image_size):
        size = (x.shape[0], inputs.image_size, inputs.image_size, x.shape[3])
        x = jax.image.resize(x, size, method="bilinear").astype(x.dtype)
    return x


def normalize(x: jax.Array, inputs: ImageInputs) -> jax.Array:
    """(x - mean) / std over the channel axis; a no-op without a mean."""
    if not inputs.mean:
        return x
    mean = jnp.asarray(inputs.mean, x.dtype)
    std = jnp.asarray(inputs.std or (1.0,) * len(inputs.mean), x.dtype)
    if x.shape[-1] != mean.shape[0]:
        raise ValueError(f"normalisation has {mean.shape[0]} channel means but the images have {x.shape[-1]} "
                         "channels; set channels=3 (--channels 3) to repeat grey images into RGB")
    return (x - mean) / std


def _random_crop(key, x, padding: int):
    batch, height, width, _ = x.shape
    padded = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    offsets = jax.random.randint(key, (batch, 2), 0, 2 * padding + 1)  # [B, (dy, dx)]

    def crop(image, offset):
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (height, width, image.shape[-1]))

    return jax.vmap(crop)(padded, offsets)


def _grey(x):
    """Luma [B, H, W, 1] with the ITU-R 601 weights torchvision uses; grey input is its own luma."""
    if x.shape[-1] != 3:
        return x.mean(axis=-1, keepdims=True)
    return (x * jnp.asarray([0.299, 0.587, 0.114], x.dtype)).sum(axis=-1, keepdims=True)


def _color_jitter(key, x, strength: float):
    # Fixed order brightness -> contrast -> saturation (torchvision shuffles it), and no
    # clipping, so images in any value range keep their scale.
    factors = jax.random.uniform(key, (3, x.shape[0], 1, 1, 1), x.dtype, 1.0 - strength, 1.0 + strength)
    x = x * factors[0]
    mean = _grey(x).mean(axis=(1, 2, 3), keepdims=True)  # per-image mean grey level
    x = mean + (x - mean) * factors[1]
    if x.shape[-1] > 1:
        grey = _grey(x)
        x = grey + (x - grey) * factors[2]
    return x


def augment(key: jax.Array, images: jax.Array, cfg) -> jax.Array:
    """Random crop (zero padding), horizontal flip, colour jitter: [B, H, W, C] -> same shape and dtype.

    `cfg` has `crop_padding`, `flip`, `color_jitter` (an `Augmentation` or a `TrainConfig`).
    Each example draws its own offsets, coin and factors from `key`. Grey [B, H, W] works too.
    """
    crop_key, flip_key, jitter_key = jax.random.split(key, 3)
    x = images[..., None] if images.ndim == 3 else images
    if cfg.crop_padding:
        x = _random_crop(crop_key, x, cfg.crop_padding)
    if cfg.flip:
        coin = jax.random.bernoulli(flip_key, 0.5, (x.shape[0], 1, 1, 1))
        x = jnp.where(coin, x[:, :, ::-1], x)
    if cfg.color_jitter:
        x = _color_jitter(jitter_key, x, cfg.color_jitter)
    return x.reshape(images.shape).astype(images.dtype)


def augmentation_of(cfg) -> Augmentation:
    return Augmentation(crop_padding=cfg.crop_padding, flip=cfg.flip, color_jitter=cfg.color_jitter)
