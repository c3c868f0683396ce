"""ViT against torchvision's VisionTransformer: ported weights give the same logits, and exported ones load back."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo
from zoo.vision.vit import TORCH_KEY_RENAME
from zoo.weights.convert import torch_to_flax
from zoo.weights.torchvision_vit import to_torchvision

pytestmark = pytest.mark.parity
torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from torchvision.models.vision_transformer import VisionTransformer  # noqa: E402


def _randomise(model):
    """torchvision zero-initialises the head, the class token and the attention biases, and its MLP biases are
    ~1e-6: give every parameter a visible value, so a wrong port cannot hide behind zeros or ones."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln.weight"):
                p.copy_(torch.rand(p.shape, generator=generator) + 0.5)
            elif p.ndim == 1 or "class_token" in name or "heads" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=generator))
    return model.eval()


def _state_dict(model):
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def _template(model, size):
    return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3))))


def _logits(torch_model, flax_model, size, batch=2):
    torch.set_num_threads(2)
    x_nchw = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = torch_model(x_nchw).numpy()
    variables = torch_to_flax(_state_dict(torch_model), _template(flax_model, size), rename=TORCH_KEY_RENAME)
    got = np.asarray(jax.jit(flax_model.apply)(variables, jnp.asarray(x_nchw.numpy().transpose(0, 2, 3, 1))))
    return got, expected, variables


def _relative_error(got, expected):
    assert got.shape == expected.shape
    return np.abs(got - expected).max() / max(1.0, np.abs(expected).max())


def test_vit_b_16_matches_torchvision_at_224():
    torch.manual_seed(0)
    reference = _randomise(torchvision.models.vit_b_16(weights=None))
    got, expected, _ = _logits(reference, zoo.create("vit_b_16"), 224, batch=1)
    assert np.abs(expected).max() > 1.0  # the randomised head gives logits well away from 0
    assert _relative_error(got, expected) <= 1e-4


def test_small_vit_ti_matches_torchvision_and_exports_back():
    """DeiT-Ti's width at 32 px with 4x4 patches (64 patches + the class token), image_size fixed as in torch."""
    torch.manual_seed(0)
    reference = _randomise(VisionTransformer(image_size=32, patch_size=4, num_layers=12, num_heads=3,
                                             hidden_dim=192, mlp_dim=768, num_classes=10))
    model = zoo.create("vit_ti_16", patch_size=4, image_size=32, num_classes=10)
    got, expected, variables = _logits(reference, model, 32)
    assert _relative_error(got, expected) <= 1e-4

    # The export is the exact inverse: torchvision takes it strictly and computes the same logits.
    fresh = VisionTransformer(image_size=32, patch_size=4, num_layers=12, num_heads=3, hidden_dim=192, mlp_dim=768,
                              num_classes=10).eval()
    exported = to_torchvision(variables)
    assert exported.keys() == reference.state_dict().keys()
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in exported.items()}, strict=True)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        np.testing.assert_array_equal(fresh(x).numpy(), reference(x).numpy())


def test_attention_weights_match_torch_multihead_attention():
    """The sown weights are torch's head-by-head attention probabilities (need_weights, not averaged)."""
    torch.manual_seed(0)
    reference = _randomise(VisionTransformer(image_size=16, patch_size=4, num_layers=1, num_heads=2, hidden_dim=32,
                                             mlp_dim=64, num_classes=5))
    model = zoo.create("vit_ti_16", patch_size=4, image_size=16, num_layers=1, num_heads=2, hidden_dim=32,
                       mlp_dim=64, num_classes=5)
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    block = reference.encoder.layers.encoder_layer_0
    with torch.no_grad():
        tokens = reference._process_input(x)
        tokens = torch.cat([reference.class_token.expand(1, -1, -1), tokens], dim=1) + reference.encoder.pos_embedding
        h = block.ln_1(tokens)
        _, expected = block.self_attention(h, h, h, need_weights=True, average_attn_weights=False)
    from zoo.vision.attention_maps import attention_weights

    variables = torch_to_flax(_state_dict(reference), _template(model, 16), rename=TORCH_KEY_RENAME)
    (got,) = attention_weights(model, variables, x.numpy().transpose(0, 2, 3, 1))
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-5)
