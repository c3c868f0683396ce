"""Image files for zoo-predict: 16-bit and float images read at the brightness they show, tiny images flagged."""
import numpy as np
import pytest
from PIL import Image

from train.data.images import read_image, small_image_warning


def gradient_16_bit(height: int = 32, width: int = 256) -> np.ndarray:
    """uint16 [H, W]: dark to bright along the width, every column a different 16-bit level."""
    return np.tile(np.linspace(0, 65535, width).round().astype(np.uint16), (height, 1))


@pytest.mark.parametrize("channels", [3, 1])
def test_16_bit_png_reads_as_its_8_bit_version(tmp_path, channels):
    deep = gradient_16_bit()
    Image.fromarray(deep).save(tmp_path / "deep.png")  # PIL writes uint16 as a 16-bit grey PNG
    Image.fromarray((deep >> 8).astype(np.uint8)).save(tmp_path / "shallow.png")  # the same picture in 8 bits
    with Image.open(tmp_path / "deep.png") as img:
        assert img.mode.startswith("I")  # the file really holds 16-bit pixels
    got = read_image(tmp_path / "deep.png", channels)
    want = read_image(tmp_path / "shallow.png", channels)
    assert got.dtype == np.uint8 and got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert got.min() == 0 and got.max() == 255  # the whole range, not clipped to white


def test_float_image_in_unit_range_reads_as_its_8_bit_version(tmp_path):
    levels = np.linspace(0, 1, 256, dtype=np.float32)[None].repeat(8, axis=0)
    Image.fromarray(levels).save(tmp_path / "float.tiff")  # mode F
    got = read_image(tmp_path / "float.tiff", 1)
    np.testing.assert_array_equal(got, np.arange(256, dtype=np.uint8)[None].repeat(8, axis=0))


def test_tiny_image_is_flagged_and_a_normal_one_is_not():
    message = small_image_warning("dot.png", (1, 1), (224, 224))
    assert message is not None and "1x1" in message and "224x224" in message and "\n" not in message
    assert small_image_warning("wide.png", (100, 600), (224, 224)) is not None  # one short side is enough
    assert small_image_warning("photo.png", (300, 400), (224, 224)) is None
    assert small_image_warning("half.png", (112, 112), (224, 224)) is None  # half the side is still fine


@pytest.fixture
def lenet5_weights(tmp_path):
    """LeNet-5 (28x28 grey input) with random weights, as the torch-style .npz zoo-predict reads."""
    import jax
    import jax.numpy as jnp

    import zoo

    params = zoo.create("lenet5").init(jax.random.key(0), jnp.zeros((1, 28, 28)))["params"]
    torch_layout = {4: (3, 2, 0, 1), 2: (1, 0)}  # conv HWIO -> OIHW, linear [in, out] -> [out, in]
    state = {}
    for layer, leaves in params.items():
        state[f"{layer}.weight"] = np.asarray(leaves["kernel"]).transpose(torch_layout[leaves["kernel"].ndim])
        state[f"{layer}.bias"] = np.asarray(leaves["bias"])
    np.savez(tmp_path / "lenet5.npz", **state)
    return tmp_path / "lenet5.npz"


def test_predict_warns_about_a_tiny_image_only(lenet5_weights, tmp_path, capsys):
    from train.cli.predict import main

    Image.fromarray(np.full((1, 1), 200, np.uint8)).save(tmp_path / "dot.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)).save(tmp_path / "digit.png")
    assert main(["lenet5", "--weights", str(lenet5_weights), str(tmp_path / "dot.png"), str(tmp_path / "digit.png"),
                 "--top", "1"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "dot.png is 1x1 pixels" in warnings[0] and "28x28 input" in warnings[0]
