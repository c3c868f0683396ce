"""MobileNetV2 vs torchvision, EfficientNet-Lite0 vs efficientnet-lite-pytorch with the real ImageNet weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo
from zoo.vision.efficientnet_lite import TORCH_KEY_RENAME
from zoo.vision.preprocess import preprocess_image
from zoo.weights import WeightsMismatchError, torch_to_flax

pytestmark = pytest.mark.parity
torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
torch.set_num_threads(2)


def _randomise_batch_norms(model):
    """Non-trivial BatchNorm statistics and affine terms, so a BN mistake cannot hide behind identity."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)


def _state_dict(model):
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def _compare(flax_model, variables, x_nchw, torch_logits):
    x = jnp.asarray(x_nchw.numpy().transpose(0, 2, 3, 1))
    logits = np.asarray(jax.jit(lambda v, x: flax_model.apply(v, x))(variables, x))
    scale = max(1.0, float(np.abs(torch_logits).max()))
    assert np.abs(logits - torch_logits).max() <= 1e-4 * scale


def _template(flax_model, shape):
    return jax.eval_shape(lambda: flax_model.init(jax.random.key(0), jnp.zeros(shape)))


@pytest.mark.parametrize("width_mult", [1.0, 0.5])
def test_mobilenet_v2_matches_torchvision(width_mult):
    torch.manual_seed(0)
    reference = torchvision.models.mobilenet_v2(weights=None, width_mult=width_mult)
    _randomise_batch_norms(reference)
    reference.eval()
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        expected = reference(x).numpy()
    model = zoo.create("mobilenet_v2", width_mult=width_mult)
    variables = torch_to_flax(_state_dict(reference), _template(model, (1, 96, 96, 3)))
    _compare(model, variables, x, expected)


def test_mobilenet_v2_mismatched_weights_are_listed():
    torch.manual_seed(0)
    state = _state_dict(torchvision.models.mobilenet_v2(weights=None))
    # A new number of classes loads when the head is kept (transfer learning).
    variables = torch_to_flax(state, _template(zoo.create("mobilenet_v2", num_classes=7), (1, 32, 32, 3)),
                              keep=("classifier_1",))
    assert variables["params"]["classifier_1"]["kernel"].shape == (1280, 7)
    state["features.3.conv.1.0.weight"] = np.zeros((144, 1, 5, 5), np.float32)  # a 5x5 depthwise kernel
    del state["classifier.1.bias"]
    with pytest.raises(WeightsMismatchError) as error:
        torch_to_flax(state, _template(zoo.create("mobilenet_v2"), (1, 32, 32, 3)))
    assert "features.3.conv.1.0.weight" in str(error.value) and "classifier_1/bias" in str(error.value)


@pytest.fixture(scope="module")
def lite0_weights_path():
    from zoo.weights import MissingWeightsError, resolve_source

    try:
        return resolve_source("efficientnet_lite0", "imagenet")
    except MissingWeightsError as err:
        pytest.skip(str(err))


def test_efficientnet_lite0_matches_the_pytorch_package_with_real_weights(lite0_weights_path):
    package = pytest.importorskip("efficientnet_lite_pytorch")
    from zoo.weights.torch_file import read_state_dict

    reference = package.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(lite0_weights_path))
    reference.eval()
    model = zoo.create("efficientnet_lite0")
    assert sum(p.numel() for p in reference.parameters()) == zoo.card("efficientnet_lite0")["param_count"]
    torch.manual_seed(0)
    x = torch.randn(2, 3, 224, 224)  # the package pads for 224 px only (static TF 'SAME' padding)
    with torch.no_grad():
        expected = reference(x).numpy()
    variables = torch_to_flax(read_state_dict(lite0_weights_path), _template(model, (1, 224, 224, 3)),
                              rename=TORCH_KEY_RENAME)
    _compare(model, variables, x, expected)


def test_preprocess_image_matches_torchvision_transforms():
    from PIL import Image
    from torchvision import transforms

    from zoo.vision.common import IMAGENET_PREPROCESSING

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (300, 451, 3), dtype=np.uint8)
    for spec in (IMAGENET_PREPROCESSING, zoo.model_card("efficientnet_lite0").preprocessing):
        mode = transforms.InterpolationMode(spec["interpolation"])
        pipeline = transforms.Compose([transforms.Resize(spec["resize"], interpolation=mode),
                                       transforms.CenterCrop(spec["crop"]), transforms.ToTensor(),
                                       transforms.Normalize(spec["mean"], spec["std"])])
        expected = pipeline(Image.fromarray(img)).numpy().transpose(1, 2, 0)
        np.testing.assert_allclose(preprocess_image(img, spec), expected, atol=1e-5)
