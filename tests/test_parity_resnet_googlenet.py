"""ResNet and GoogLeNet against torchvision: ported weights give the same logits."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo
from zoo.weights.convert import WeightsMismatchError, torch_to_flax

pytestmark = pytest.mark.parity
torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")


def _randomise_batch_norm(model):
    """Non-trivial BatchNorm statistics and affine terms, so a wrong port cannot hide behind identity BN."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            with torch.no_grad():
                module.running_mean.normal_(0.0, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.2)
    return model.eval()


def _state_dict(model):
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def _template(model, shape):
    return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, *shape))))


def _assert_parity(torch_model, flax_model, size, batch=2, **port):
    torch.set_num_threads(2)
    x_nchw = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = torch_model(x_nchw).numpy()
    variables = torch_to_flax(_state_dict(torch_model), _template(flax_model, (size, size, 3)), **port)
    # jit: one compile is far quicker than eager op-by-op dispatch for nets this deep.
    got = np.asarray(jax.jit(flax_model.apply)(variables, jnp.asarray(x_nchw.numpy().transpose(0, 2, 3, 1))))
    assert got.shape == expected.shape
    err = np.abs(got - expected).max()
    assert err <= 1e-4 * max(1.0, np.abs(expected).max()), err


@pytest.mark.parametrize("name, size", [("resnet18", 64), ("resnet50", 112)])
def test_resnet_matches_torchvision(name, size):
    torch.manual_seed(0)
    reference = _randomise_batch_norm(getattr(torchvision.models, name)(weights=None, num_classes=10))
    # small_stem=False: the ImageNet stem at any size, as torchvision has no other.
    _assert_parity(reference, zoo.create(name, num_classes=10, small_stem=False), size)


def test_googlenet_matches_torchvision():
    torch.manual_seed(0)
    # transform_input=True as for torchvision's pretrained weights; the aux heads are ignored in eval.
    reference = _randomise_batch_norm(torchvision.models.googlenet(
        weights=None, num_classes=10, aux_logits=True, transform_input=True, init_weights=True))
    _assert_parity(reference, zoo.create("googlenet", num_classes=10, transform_input=True), 112)


def test_googlenet_aux_heads_match_torchvision_in_train_mode():
    # Dropout off on both sides; train-mode BatchNorm normalises with batch statistics in both.
    torch.manual_seed(0)
    torch.set_num_threads(2)
    reference = torchvision.models.googlenet(weights=None, num_classes=10, aux_logits=True, init_weights=True,
                                             dropout=0.0, dropout_aux=0.0).train()
    model = zoo.create("googlenet", num_classes=10, dropout=0.0, dropout_aux=0.0)
    x_nchw = torch.randn(2, 3, 112, 112, generator=torch.Generator().manual_seed(1))  # aux heads pool 7x7 -> 4x4
    variables = torch_to_flax(_state_dict(reference), _template(model, (112, 112, 3)))
    with torch.no_grad():
        expected = reference(x_nchw)  # (logits, aux_logits2, aux_logits1)
    apply = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats", "aux_outputs"]))
    logits, state = apply(variables, jnp.asarray(x_nchw.numpy().transpose(0, 2, 3, 1)))
    aux = state["aux_outputs"]
    for got, want in [(logits, expected.logits), (aux["aux1"]["logits"][0], expected.aux_logits1),
                      (aux["aux2"]["logits"][0], expected.aux_logits2)]:
        want = want.numpy()
        assert np.abs(np.asarray(got) - want).max() <= 1e-4 * max(1.0, np.abs(want).max())


def test_googlenet_ports_without_aux_heads():
    # torchvision's pretrained GoogLeNet has no aux1/aux2; keeping the card's head fills them from the template.
    reference = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)
    state = _state_dict(reference)
    assert not any(k.startswith("aux") for k in state)
    template = _template(zoo.create("googlenet"), (64, 64, 3))
    with pytest.raises(WeightsMismatchError, match="aux1/fc2/kernel"):
        torch_to_flax(state, template)
    variables = torch_to_flax(state, template, keep=zoo.model_card("googlenet").head)
    assert variables["params"]["aux2"]["fc1"]["kernel"] is template["params"]["aux2"]["fc1"]["kernel"]
    np.testing.assert_array_equal(variables["params"]["inception4a"]["branch3_1"]["conv"]["kernel"],
                                  state["inception4a.branch3.1.conv.weight"].transpose(2, 3, 1, 0))


def test_wrong_depth_raises_weights_mismatch():
    state = _state_dict(torchvision.models.resnet18(weights=None))
    with pytest.raises(WeightsMismatchError) as info:
        torch_to_flax(state, _template(zoo.create("resnet34", small_stem=False), (64, 64, 3)))
    message = str(info.value)
    # 8 extra blocks, each 2 conv kernels + 2 BatchNorms x (scale, bias, mean, var).
    assert "missing from the file (80)" in message and "layer1_2/bn1/mean" in message
    # The small stem's 3x3 conv1 does not take torchvision's 7x7 kernel: named as a shape mismatch.
    with pytest.raises(WeightsMismatchError, match=r"conv1.weight: file \(64, 3, 7, 7\)"):
        torch_to_flax(state, _template(zoo.create("resnet18"), (32, 32, 3)))
