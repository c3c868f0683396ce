"""On-device augmentation and input transforms (train.augment) and how the steps use them."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import zoo
from train.augment import Augmentation, ImageInputs, augment, image_pipeline, normalize, shape_images
from train.losses import get_loss
from train.state import create_train_state
from train.steps import SupervisedStep

KEY = jax.random.key(0)


def images(b=8, h=12, w=12, c=3, seed=0):
    return jax.random.uniform(jax.random.key(seed), (b, h, w, c))


def step_key(step: int):
    return jax.random.fold_in(jax.random.fold_in(KEY, step), 1)


@pytest.mark.parametrize("cfg", [Augmentation(crop_padding=2), Augmentation(flip=True),
                                 Augmentation(color_jitter=0.4), Augmentation(2, True, 0.4)])
def test_same_key_same_output_shape_and_dtype_kept(cfg):
    x = images()
    a, b = augment(step_key(3), x, cfg), augment(step_key(3), x, cfg)
    np.testing.assert_array_equal(a, b)
    assert a.shape == x.shape and a.dtype == x.dtype
    assert not np.array_equal(a, x)
    bf16 = augment(step_key(3), x.astype(jnp.bfloat16), cfg)
    assert bf16.dtype == jnp.bfloat16 and bf16.shape == x.shape


def test_different_steps_give_different_crops():
    x = images()
    cfg = Augmentation(crop_padding=3)
    assert not np.array_equal(augment(step_key(1), x, cfg), augment(step_key(2), x, cfg))


def test_flip_really_mirrors_each_example_or_leaves_it():
    x = images(b=32)
    out = np.asarray(augment(step_key(0), x, Augmentation(flip=True)))
    flipped = [np.array_equal(o, np.asarray(i)[:, ::-1]) for o, i in zip(out, x)]
    kept = [np.array_equal(o, np.asarray(i)) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 0 < sum(flipped) < 32  # a per-example coin, not one for the batch


def test_crop_of_padded_image_shifts_content():
    # A single bright pixel: after pad-and-crop it moves by the example's offset (or is cut off),
    # and the border that comes in is zero.
    x = np.zeros((64, 9, 9, 1), np.float32)
    x[:, 4, 4] = 1.0
    out = np.asarray(augment(step_key(5), jnp.asarray(x), Augmentation(crop_padding=2)))
    shifts = set()
    for o in out:
        pos = np.argwhere(o[..., 0] == 1.0)
        assert len(pos) == 1 and o.sum() == 1.0  # content moved whole, padding is zeros
        shifts.add(tuple(pos[0] - 4))
    assert len(shifts) > 5 and all(abs(dy) <= 2 and abs(dx) <= 2 for dy, dx in shifts)


def test_grey_batches_keep_their_shape():
    x = images(c=1)[..., 0]  # [B, H, W]
    out = augment(step_key(0), x, Augmentation(crop_padding=1, flip=True, color_jitter=0.2))
    assert out.shape == x.shape


def test_color_jitter_factors_are_per_example_and_bounded():
    x = jnp.full((16, 4, 4, 1), 0.5)
    out = np.asarray(augment(step_key(0), x, Augmentation(color_jitter=0.2)))
    per_example = out.reshape(16, -1)
    assert np.allclose(per_example, per_example[:, :1])  # uniform image: contrast leaves it uniform
    assert len(np.unique(per_example[:, 0].round(6))) == 16
    assert np.all(per_example >= 0.5 * 0.8 - 1e-6) and np.all(per_example <= 0.5 * 1.2 + 1e-6)


def test_shape_images_adds_channels_and_resizes():
    x = images(c=1)[..., 0]  # grey [B, 12, 12]
    out = shape_images(x, ImageInputs(image_size=20, channels=3))
    assert out.shape == (8, 20, 20, 3)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    assert shape_images(x, ImageInputs()) is x  # nothing set: untouched
    with pytest.raises(ValueError, match="grey"):
        shape_images(images(c=2), ImageInputs(channels=3))


def test_normalize():
    x = jnp.ones((2, 3, 3, 3))
    out = normalize(x, ImageInputs(mean=(0.5, 0.5, 0.0), std=(0.5, 0.25, 1.0)))
    np.testing.assert_allclose(out[0, 0, 0], [1.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="--channels 3"):
        normalize(jnp.ones((2, 3, 3, 1)), ImageInputs(mean=(0.5, 0.5, 0.5), std=(1.0, 1.0, 1.0)))


def test_eval_step_is_independent_of_augmentation():
    model = zoo.create("cnn_small", num_classes=10)
    tx = optax.sgd(0.1)
    rng = np.random.default_rng(0)
    batch = {"x": rng.random((8, 28, 28), np.float32), "y": rng.integers(0, 10, 8).astype(np.int32),
             "mask": np.ones(8, np.float32)}
    plain = SupervisedStep(model, tx, get_loss("softmax_cross_entropy"),
                           inputs=image_pipeline(ImageInputs(), Augmentation()))
    augmented = SupervisedStep(model, tx, get_loss("softmax_cross_entropy"), inputs=image_pipeline(
        ImageInputs(), Augmentation(crop_padding=4, flip=True, color_jitter=0.3)))
    state = create_train_state(model, tx, batch["x"][:1], seed=0)
    a, b = jax.jit(plain.eval)(state, batch), jax.jit(augmented.eval)(state, batch)
    np.testing.assert_array_equal(a["outputs"], b["outputs"])
