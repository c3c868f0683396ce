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

from zoo.errors import SettingError


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
            raise SettingError(f"channels={inputs.channels} can only repeat single-channel (grey) images, "
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
        raise SettingError(f"normalisation has {mean.shape[0]} channel means but the images have {x.shape[-1]} "
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
    # Batch axis first, like every draw in a step, so pmap devices draw their rows of jit's (train.steps.rng).
    factors = jax.random.uniform(key, (x.shape[0], 3, 1, 1, 1), x.dtype, 1.0 - strength, 1.0 + strength)
    x = x * factors[:, 0]
    mean = _grey(x).mean(axis=(1, 2, 3), keepdims=True)  # per-image mean grey level
    x = mean + (x - mean) * factors[:, 1]
    if x.shape[-1] > 1:
        grey = _grey(x)
        x = grey + (x - grey) * factors[:, 2]
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
    """From an ImageConfig (or anything with the same fields)."""
    return Augmentation(crop_padding=cfg.crop_padding, flip=cfg.flip, color_jitter=cfg.color_jitter)


def image_inputs(image, card, input_shape: tuple[int, ...], pretrained: bool) -> ImageInputs:
    """The step's deterministic input transforms from an ImageConfig; pretrained weights get what they were
    trained on (RGB, the card's normalisation)."""
    channels = image.channels
    grey = len(input_shape) == 2 or (len(input_shape) == 3 and input_shape[-1] == 1)
    if pretrained and not channels and grey:
        channels = 3  # pretrained stems expect RGB: repeat the grey channel
    normalize = image.normalize
    if normalize == "auto":
        normalize = "card" if pretrained else "none"
    if normalize == "card":
        pre = card.preprocessing
        mean, std = (tuple(pre["mean"]), tuple(pre["std"])) if "mean" in pre else ((), ())
    elif normalize == "none":
        mean, std = (), ()
    elif isinstance(normalize, (tuple, list)) and len(normalize) == 2:
        mean, std = (tuple(map(float, part)) for part in normalize)
    else:
        raise SettingError(f"normalize must be 'auto', 'card', 'none' or ((mean, ...), (std, ...)), got {normalize!r}")
    return ImageInputs(image_size=image.image_size, channels=channels, mean=mean, std=std)


def image_pipeline(inputs: ImageInputs, augmentation: Augmentation):
    """(x, key or None) -> the model's input: shape and normalise always, augment when given a key (training)."""

    def prepare(x, key=None):
        x = shape_images(x, inputs)
        if key is not None and augmentation.active:
            x = augment(key, x, augmentation)
        return normalize(x, inputs)

    return prepare
