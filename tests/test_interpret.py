"""Saliency maps and filter grids: the gradient they show is the model's, per image."""
import jax
import numpy as np
import pytest

import zoo
from rounding import assert_equal_up_to_rounding
from zoo.vision.interpret import filter_grid, first_conv_kernel, saliency_maps, save_filter_grid, save_saliency


@pytest.fixture(scope="module")
def lenet():
    model = zoo.create("lenet5")
    images = jax.random.uniform(jax.random.key(0), (3, 28, 28, 1))
    return model, model.init(jax.random.key(1), images), images


def test_saliency_is_the_class_score_gradient(lenet):
    model, variables, images = lenet
    maps, ids = saliency_maps(model, variables, images)
    assert maps.shape == (3, 28, 28) and (maps >= 0).all() and maps.max() > 0
    np.testing.assert_array_equal(ids, np.argmax(model.apply(variables, images), -1))
    # Finite difference at the most salient pixel of image 1 moves its class score by about grad * eps.
    row, col = np.unravel_index(np.argmax(maps[1]), maps[1].shape)
    eps = 1e-2
    bumped = images.at[1, row, col, 0].add(eps)
    delta = model.apply(variables, bumped)[1, ids[1]] - model.apply(variables, images)[1, ids[1]]
    np.testing.assert_allclose(abs(float(delta)) / eps, maps[1, row, col], rtol=0.05)
    # Maps are per image: explaining one image alone gives the same map, up to the order XLA sums in for a
    # batch of 1 rather than 3. Each pixel's gradient runs back through lenet5's forward and backward dot
    # products: 25 + 150 + 400 + 120 + 84 terms forward, 84 + 120 + 400 + 150 back (about 1,550 roundings).
    alone, _ = saliency_maps(model, variables, images[1:2], ids[1:2])
    assert_equal_up_to_rounding(alone[0], maps[1], terms=1550)
    with pytest.raises(ValueError, match="one per image"):
        saliency_maps(model, variables, images, [0])


def test_filter_grid_tiles_each_filter_scaled(lenet):
    _, variables, _ = lenet
    kernel = first_conv_kernel(variables)
    assert kernel.shape == (5, 5, 1, 6)  # lenet5's conv1
    grid = filter_grid(kernel)
    assert grid.shape == (2 * 6 - 1, 3 * 6 - 1, 1)  # 6 filters in 2 rows of 3, 1 px gaps
    first = kernel[..., 0, 0]
    np.testing.assert_allclose(grid[:5, :5, 0], (first - first.min()) / (first.max() - first.min()), rtol=1e-6)
    with pytest.raises(KeyError, match="conv1/kernel"):
        first_conv_kernel(variables, "conv9/kernel")


def test_pngs_written(lenet, tmp_path):
    model, variables, images = lenet
    maps, _ = saliency_maps(model, variables, images[:2])
    for path in (save_saliency(images[:2], maps, tmp_path / "s.png"), save_filter_grid(variables, tmp_path / "f.png")):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
