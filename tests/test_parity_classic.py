"""AlexNet and VGG against torchvision: same weights through `torch_to_flax`, same logits."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo
from zoo.weights.convert import WeightsMismatchError, torch_to_flax

pytestmark = pytest.mark.parity
torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")


def _torch_model(name: str, **kwargs):
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, **kwargs)
    with torch.no_grad():  # random BatchNorm statistics and affine, or BN is nearly the identity
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0.0, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.2)
    return model.eval()


def _state_dict(model) -> dict:
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def _template(model, x_shape):
    return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(x_shape)))


@pytest.mark.parametrize("name, size", [("alexnet", 96), ("vgg16", 64), ("vgg16_bn", 64)])
def test_logits_match_torchvision(name, size):
    reference = _torch_model(name)
    x_nchw = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        logits_torch = reference(torch.from_numpy(x_nchw)).numpy()

    model = zoo.create(name)
    x_nhwc = jnp.asarray(x_nchw.transpose(0, 2, 3, 1))
    variables = torch_to_flax(_state_dict(reference), _template(model, x_nhwc.shape))
    logits_flax = np.asarray(jax.jit(model.apply)(variables, x_nhwc))

    scale = max(1.0, float(np.abs(logits_torch).max()))
    assert logits_flax.shape == logits_torch.shape == (2, 1000)
    error = np.abs(logits_flax - logits_torch).max()
    assert error <= 1e-4 * scale
    # torchvision's initialisation gives small logits (AlexNet ~0.03), so also bound the relative error.
    assert error <= 1e-3 * float(np.abs(logits_torch).max())


def test_mismatched_state_dict_is_listed_and_a_new_head_can_be_kept():
    state = _state_dict(_torch_model("alexnet", num_classes=10))
    del state["features.3.bias"]
    model = zoo.create("alexnet")  # 1000 classes: the file's 10-class head does not fit
    template = _template(model, (1, 64, 64, 3))
    with pytest.raises(WeightsMismatchError) as error:
        torch_to_flax(state, template)
    message = str(error.value)
    assert "classifier.6.weight: file (10, 4096)" in message
    assert "features_3/bias (192,)" in message

    # Transfer learning: keeping the head tolerates the 10-class file; the backbone still must be complete.
    with pytest.raises(WeightsMismatchError, match="features_3/bias"):
        torch_to_flax(state, template, keep=("classifier_6",))
    state["features.3.bias"] = np.zeros(192, np.float32)
    variables = torch_to_flax(state, template, keep=("classifier_6",))
    assert variables["params"]["classifier_6"]["kernel"].shape == (4096, 1000)
