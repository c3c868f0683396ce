"""Vision Transformer (Dosovitskiy et al. 2021) as torchvision builds it, in sizes B/16, DeiT's S/16 and Ti/16, and a
small-patch ViT for 28-32 px images.

    image [B, H, W, C] -> conv_proj (patch x patch, stride patch) -> [B, N, D] tokens
      -> prepend class_token -> + encoder.pos_embedding -> encoder.layers (pre-LN blocks) -> encoder.ln
      -> token 0 -> heads.head -> logits [B, num_classes]

Submodules carry torchvision's names (`conv_proj`, `class_token`, `encoder/pos_embedding`,
`encoder/layers/encoder_layer_0/ln_1`, `heads/head`), so its state dicts port through
`zoo.weights.convert.torch_to_flax`; the attention and MLP reuse `zoo.layers`, whose parameter names
(`self_attention/qkv`, `mlp/up`) `zoo.weights.torchvision_vit.rename` maps torchvision's keys to.

The positional table has one row per patch plus the class token. `image_size=None` (the cards' default) sizes
it from the image the model is initialised with, as ResNet's stem is decided when traced; a later image with
another patch grid is refused with the fix, or, with `interpolate_positions=True`, the table is resampled
bicubically to the new grid as timm does for fine-tuning at another resolution.
"""
from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from zoo.errors import InputShapeError, SettingError
from zoo.layers.attention import MultiHeadAttention
from zoo.layers.feed_forward import FeedForward
from zoo.registry import register_model
from zoo.vision.cards import vision
from zoo.vision.common import IMAGENET_MEAN, IMAGENET_PREPROCESSING, IMAGENET_STD, as_images, sow_embedding
from zoo.weights import torchvision_vit

# torchvision's init: truncated normal with std sqrt(1/fan_in) for the patch projection, xavier-uniform for the
# attention's in_proj, N(0, 0.02) for the positional table, zeros for the class token.
patch_init = nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")
attention_init = nn.initializers.xavier_uniform()
# torchvision zero-initialises the head; PyTorch's Linear default here keeps gradients alive in a model that
# has not been trained yet (a zero head makes every logit 0 and every gradient through it 0).
linear_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")
LN_EPS = 1e-6  # torchvision's ViT LayerNorm (torch's default is 1e-5)


class EncoderBlock(nn.Module):
    """torchvision's ViT EncoderBlock, pre-LN: x + attention(ln_1(x)), then + mlp(ln_2(x)). [B, T, D] -> same.

    Records its attention weights [B, H, T, T] as `intermediates/attention_weights` (see zoo.vision.attention_maps).
    """

    num_heads: int
    mlp_dim: int
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    dtype: Any = None
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        def norm(name):
            return nn.LayerNorm(epsilon=LN_EPS, use_fast_variance=False, dtype=self.dtype,
                                param_dtype=self.param_dtype, name=name)

        h, weights = MultiHeadAttention(
            num_heads=self.num_heads, fused_qkv=True, dropout_rate=self.attention_dropout_rate,
            kernel_init=attention_init, dtype=self.dtype, param_dtype=self.param_dtype,
            name="self_attention")(norm("ln_1")(x), train=train, return_weights=True)
        self.sow("intermediates", "attention_weights", weights)
        x = x + nn.Dropout(self.dropout_rate, deterministic=not train)(h)
        # torchvision's MLPBlock drops out after the GELU and again after the second Linear.
        h = FeedForward(self.mlp_dim, activation="gelu", dropout_rate=self.dropout_rate, dtype=self.dtype,
                        param_dtype=self.param_dtype, name="mlp")(norm("ln_2")(x), train=train)
        return x + nn.Dropout(self.dropout_rate, deterministic=not train)(h)


class EncoderLayers(nn.Module):
    """torchvision's `encoder.layers` (an nn.Sequential of `encoder_layer_{i}`)."""

    num_layers: int
    num_heads: int
    mlp_dim: int
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    dtype: Any = None
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        for i in range(self.num_layers):
            x = EncoderBlock(self.num_heads, self.mlp_dim, self.dropout_rate, self.attention_dropout_rate,
                             dtype=self.dtype, param_dtype=self.param_dtype, name=f"encoder_layer_{i}")(x, train=train)
        return x


def resize_positions(table, grid: tuple[int, int]):
    """table [1, 1 + g*g, D] (class token first) -> [1, 1 + gh*gw, D], the patch rows resampled bicubically."""
    old = int(math.isqrt(table.shape[1] - 1))
    if old * old != table.shape[1] - 1:
        raise InputShapeError(f"cannot interpolate a positional table of {table.shape[1] - 1} patches: not a square "
                              "grid")
    patches = table[:, 1:].reshape(1, old, old, table.shape[-1])
    patches = jax.image.resize(patches, (1, *grid, table.shape[-1]), method="bicubic")
    return jnp.concatenate([table[:, :1], patches.reshape(1, grid[0] * grid[1], -1).astype(table.dtype)], axis=1)


class Encoder(nn.Module):
    """tokens [B, T, D] (class token first) -> + pos_embedding -> dropout -> layers -> ln -> [B, T, D]."""

    num_layers: int
    num_heads: int
    mlp_dim: int
    seq_length: int | None = None  # rows of the positional table; None = the tokens seen at init
    interpolate_positions: bool = False
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    dtype: Any = None
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, grid: tuple[int, int], *, train: bool = False):
        tokens, width = x.shape[1], x.shape[2]
        length = self.seq_length
        if length is None:  # the table's own length once it exists, else this input's
            length = (self.get_variable("params", "pos_embedding").shape[1]
                      if self.has_variable("params", "pos_embedding") else tokens)
        table = self.param("pos_embedding", nn.initializers.normal(0.02), (1, length, width), self.param_dtype)
        if length != tokens:
            if not self.interpolate_positions:
                side = math.isqrt(length - 1)
                raise InputShapeError(
                    f"ViT's positional table holds {length - 1} patches (a {side}x{side} grid) but the image gives "
                    f"{grid[0]}x{grid[1]}; resize the images to the size the model was built for (zoo-train "
                    "--image-size), or create the model with interpolate_positions=True to resample the table "
                    "to the new grid (timm's fine-tuning at another resolution)")
            table = resize_positions(table, grid)
        dtype = x.dtype if self.dtype is None else self.dtype
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x.astype(dtype) + table.astype(dtype))
        x = EncoderLayers(self.num_layers, self.num_heads, self.mlp_dim, self.dropout_rate,
                          self.attention_dropout_rate, dtype=self.dtype, param_dtype=self.param_dtype,
                          name="layers")(x, train=train)
        return nn.LayerNorm(epsilon=LN_EPS, use_fast_variance=False, dtype=self.dtype, param_dtype=self.param_dtype,
                            name="ln")(x)


class Heads(nn.Module):
    """torchvision's `heads` (an nn.Sequential holding `head`): [B, D] -> [B, num_classes]."""

    num_classes: int
    dtype: Any = None
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.num_classes, kernel_init=linear_init, dtype=self.dtype, param_dtype=self.param_dtype,
                        name="head")(x)


class VisionTransformer(nn.Module):
    """Images [B, H, W, C] (or grey [B, H, W]) -> logits [B, num_classes].

    H and W must be multiples of `patch_size`. `image_size` fixes the positional table as torchvision does
    (None: sized by the image the model is initialised with). `pool`: 'cls' reads the class token (torchvision),
    'mean' averages the patch tokens and has no class token (Beyer et al. 2022, 'Better plain ViT baselines').
    """

    patch_size: int = 16
    hidden_dim: int = 768
    num_layers: int = 12
    num_heads: int = 12
    mlp_dim: int = 3072
    num_classes: int = 1000
    image_size: int | None = None
    interpolate_positions: bool = False
    pool: str = "cls"
    dropout: float = 0.0
    attention_dropout: float = 0.0
    dtype: Any = None
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        if self.pool not in ("cls", "mean"):
            raise SettingError(f"ViT pool must be 'cls' (class token) or 'mean' (average of patch tokens), "
                               f"got {self.pool!r}")
        if self.hidden_dim % self.num_heads:
            raise SettingError(f"ViT hidden_dim {self.hidden_dim} does not split into {self.num_heads} heads; "
                               "choose num_heads dividing it")
        x = as_images(x, "VisionTransformer", min_size=self.patch_size)
        height, width = x.shape[1:3]
        p = self.patch_size
        if height % p or width % p:
            fit = lambda n: max(p, n // p * p)  # noqa: E731
            raise InputShapeError(
                f"ViT with {p}x{p} patches needs image sides that are multiples of {p}, got {height}x{width}; resize "
                f"or crop to {fit(height)}x{fit(width)} (zoo-train --image-size), or create the model with a "
                f"patch_size dividing both sides")
        if self.image_size is not None and self.image_size % p:
            raise SettingError(f"ViT image_size {self.image_size} is not a multiple of patch_size {p}")
        grid = (height // p, width // p)
        dtype = x.dtype if self.dtype is None else self.dtype
        x = nn.Conv(self.hidden_dim, (p, p), (p, p), padding="VALID", kernel_init=patch_init, dtype=self.dtype,
                    param_dtype=self.param_dtype, name="conv_proj")(x.astype(dtype))  # [B, gh, gw, D]
        x = x.reshape(x.shape[0], grid[0] * grid[1], self.hidden_dim)  # row-major, as torch's flatten(2)
        extra = 0
        if self.pool == "cls":
            token = self.param("class_token", nn.initializers.zeros, (1, 1, self.hidden_dim), self.param_dtype)
            x = jnp.concatenate([jnp.broadcast_to(token.astype(x.dtype), (x.shape[0], 1, self.hidden_dim)), x], 1)
            extra = 1
        seq_length = None if self.image_size is None else (self.image_size // p) ** 2 + extra
        x = Encoder(self.num_layers, self.num_heads, self.mlp_dim, seq_length, self.interpolate_positions,
                    self.dropout, self.attention_dropout, dtype=self.dtype, param_dtype=self.param_dtype,
                    name="encoder")(x, grid, train=train)  # [B, T, D]
        embedding = x[:, 0] if self.pool == "cls" else x.mean(axis=1)  # [B, D]
        sow_embedding(self, embedding)
        logits = Heads(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype, name="heads")(embedding)
        return logits.astype(jnp.float32)


# zoo.weights.pretrained's hook: torchvision ViT keys -> the keys this module's names give.
TORCH_KEY_RENAME = torchvision_vit.rename


# Sizes: ViT-B (Dosovitskiy et al. 2021, Table 1); Ti and S are DeiT's (Touvron et al. 2021, Table 1).
SIZES = {"ti": dict(hidden_dim=192, num_layers=12, num_heads=3, mlp_dim=768),
         "s": dict(hidden_dim=384, num_layers=12, num_heads=6, mlp_dim=1536),
         "b": dict(hidden_dim=768, num_layers=12, num_heads=12, mlp_dim=3072)}

# DeiT's evaluation transform: Resize(256, bicubic) -> CenterCrop(224) -> ImageNet normalisation.
DEIT_PREPROCESSING = {"resize": 256, "crop": 224, "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
                      "interpolation": "bicubic"}
_SMALL_INPUT = "the registry's example is a 32 px image (2x2 patches) so sweeps stay cheap; weights are for 224 px"

register_model(
    "vit_b_16", VisionTransformer, **vision(
    reference=(0.81072, "imagenet", "torchvision ViT_B_16_Weights.IMAGENET1K_V1, documented ImageNet-1K acc@1 "
                                    "81.072% (resize 256, centre crop 224, bilinear)"),
    description=f"ViT-B/16 as torchvision's vit_b_16 (768 wide, 12 layers, 12 heads, MLP 3072, class token); "
                f"{_SMALL_INPUT}",
    defaults={"patch_size": 16, **SIZES["b"]}, example_input_shape=(32, 32, 3),
    preprocessing=IMAGENET_PREPROCESSING, head=("heads",),
))

for _size, _label, _acc in [("s", "S", 0.798), ("ti", "Ti", 0.722)]:
    register_model(
        f"vit_{_size}_16", VisionTransformer, **vision(
        reference=(_acc, "imagenet", f"Touvron et al. 2021 (DeiT), Table 1: DeiT-{_label} ImageNet-1K top-1 "
                                           f"{_acc:.1%} at 224 px (DeiT's distillation-free recipe, 300 epochs)"),
        description=(f"ViT-{_label}/16 in DeiT's size ({SIZES[_size]['hidden_dim']} wide, 12 layers, "
                     f"{SIZES[_size]['num_heads']} heads, MLP {SIZES[_size]['mlp_dim']}), torchvision's layout; "
                     f"{_SMALL_INPUT}"),
        defaults={"patch_size": 16, **SIZES[_size]}, example_input_shape=(32, 32, 3),
        preprocessing=DEIT_PREPROCESSING, head=("heads",),
    ))

# A small-patch ViT for 28-32 px images, trained from scratch: 4x4 patches (49 tokens), average pooling instead of
# the class token (Beyer et al. 2022), random flips. Measured on Fashion-MNIST: the card's reference; 10 epochs of
# the same recipe gave 0.8815 (under-fitting), 25 give 0.8953 with train accuracy 0.953 (now over-fitting). Random
# crops (pad 2) on top cost accuracy in 10 epochs: 4 layers with crop + flip reached 0.858.
_MINI_RECIPE = {"epochs": 25, "batch_size": 128, "optimizer": "adamw", "lr": 2e-3, "weight_decay": 0.05,
                "schedule": "cosine", "warmup_steps": 400, "flip": True}
_MINI_COMMAND = "zoo-train vit_mini --data fashion_mnist"

register_model(
    "vit_mini", VisionTransformer, **vision(
    reference=(0.8953, "fashion_mnist", f"measured in this repository: `{_MINI_COMMAND}` (the card's recipe: AdamW lr "
                                        "2e-3, weight decay 0.05, 400 warm-up steps then cosine, batch 128, 25 epochs, "
                                        "random flips), test accuracy 0.8953 (validation 0.9013, train 0.953) in 83 "
                                        "min on 2 CPU cores shared with other runs"),
    description="A small-patch ViT for 28-32 px images: 4x4 patches, 64 wide, 6 layers, 4 heads, MLP 128, average "
                "pooling (no class token); torchvision's layout otherwise. Trained from scratch with augmentation",
    defaults={"patch_size": 4, "hidden_dim": 64, "num_layers": 6, "num_heads": 4, "mlp_dim": 128, "pool": "mean"},
    example_input_shape=(28, 28), default_dataset="fashion_mnist", recipe=_MINI_RECIPE, head=("heads",),
))
