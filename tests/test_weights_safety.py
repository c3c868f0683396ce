"""Weights files that try to hurt the reader: poisoning pickles, zero-stride bombs; and loads that must just work."""
import io
import json
import math
import pickle
import tracemalloc
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import zoo
from train.cli.predict import main as predict_main
from zoo.errors import SettingError, ZooError
from zoo.vision.resnet import stem_from_weights
from zoo.weights import WeightsMismatchError, load_pretrained, read_state_dict
from zoo.weights.torch_file import MAX_EXPANSION_ENV, UnsafeWeightsError, WeightsFileError


def _unicode(text: str) -> bytes:
    raw = text.encode()
    return pickle.BINUNICODE + len(raw).to_bytes(4, "little") + raw


def _build_pickle(module: str, name: str, state: dict) -> bytes:
    """Protocol-2 opcodes: push the allow-listed global module.name, then BUILD it with `state`."""
    body = b"".join(_unicode(k) + _unicode(v) + pickle.SETITEM for k, v in state.items())
    return (pickle.PROTO + b"\x02" + pickle.GLOBAL + f"{module}\n{name}\n".encode() + pickle.EMPTY_DICT + body
            + pickle.BUILD + pickle.STOP)


def _as_zip(data_pkl: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/version", "3\n")
    return out.getvalue()


def _as_legacy(object_pkl: bytes) -> bytes:
    headers = b"".join(pickle.dumps(h, protocol=2) for h in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}))
    return headers + object_pkl


@pytest.mark.parametrize("layout", [_as_zip, _as_legacy], ids=["zip", "legacy"])
@pytest.mark.parametrize("target", [("torch", "FloatStorage"), ("torch", "float32"),
                                    ("torch._utils", "_rebuild_tensor_v2")], ids=lambda t: t[1])
def test_build_on_a_stand_in_is_refused_and_later_loads_are_unchanged(tmp_path, layout, target):
    torch = pytest.importorskip("torch")
    good = tmp_path / "good.pth"
    torch.save({"w": torch.randn(3, 4, generator=torch.Generator().manual_seed(0))}, good)
    before = read_state_dict(good)
    evil = tmp_path / "evil.pth"
    # Unrefused, this rewrote the shared float32 stand-in: later float32 files came back as int32 bit patterns.
    evil.write_bytes(layout(_build_pickle(*target, {"name": "int32"})))
    with pytest.raises(UnsafeWeightsError, match="not a plain PyTorch state dict") as info:
        read_state_dict(evil)
    assert isinstance(info.value, ZooError) and str(evil) in str(info.value)
    after = read_state_dict(good)
    assert after["w"].dtype == np.float32
    assert after["w"].tobytes() == before["w"].tobytes()


def _save(torch, tensors: dict, path, zip_format=True):
    torch.save(tensors, path, _use_new_zipfile_serialization=zip_format)
    return path


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_zero_stride_bomb_is_refused_without_allocating(tmp_path, monkeypatch, zip_format):
    torch = pytest.importorskip("torch")
    monkeypatch.delenv(MAX_EXPANSION_ENV, raising=False)
    bomb = torch.as_strided(torch.ones(400), (3000, 3000), (0, 0))  # 1.6 kB stored, 36 MB as an array
    path = _save(torch, {"w": bomb}, tmp_path / "bomb.pth", zip_format)
    assert path.stat().st_size < 10_000
    tracemalloc.start()
    try:
        with pytest.raises(WeightsFileError, match=MAX_EXPANSION_ENV) as info:
            read_state_dict(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "(3000, 3000)" in str(info.value) and "contiguous()" in str(info.value)
    assert peak < 4 * 2 ** 20, peak


def test_expanded_views_load_within_the_limit_and_the_limit_can_be_raised(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.delenv(MAX_EXPANSION_ENV, raising=False)
    base = torch.randn(6, 8, generator=torch.Generator().manual_seed(0))
    normal = {"contiguous": base, "transposed": base.t(), "sliced": base[1:, ::3],
              "expanded": torch.arange(8.0).expand(4, 8)}  # 4x its storage: under the default limit
    got = read_state_dict(_save(torch, normal, tmp_path / "normal.pth"))
    for key, tensor in normal.items():
        np.testing.assert_array_equal(got[key], tensor.numpy(), err_msg=key)

    wide = torch.as_strided(torch.arange(400.0), (100, 100), (1, 3))  # overlapping rows: 25x its storage
    path = _save(torch, {"w": wide}, tmp_path / "wide.pth")
    with pytest.raises(WeightsFileError, match="more than 16 times"):
        read_state_dict(path)
    monkeypatch.setenv(MAX_EXPANSION_ENV, "32")
    np.testing.assert_array_equal(read_state_dict(path)["w"], wide.numpy())
    monkeypatch.setenv(MAX_EXPANSION_ENV, "lots")
    with pytest.raises(SettingError, match=f"{MAX_EXPANSION_ENV}='lots'"):
        read_state_dict(path)


def test_stem_follows_the_checkpoints_conv1():
    assert stem_from_weights({"conv1.weight": np.zeros((64, 3, 7, 7))}) == {"small_stem": False}
    assert stem_from_weights({"conv1.weight": np.zeros((64, 3, 3, 3))}) == {"small_stem": True}
    assert stem_from_weights({"features.0.weight": np.zeros((32, 3, 3, 3))}) == {}


@pytest.mark.parity
def test_torchvision_resnet_weights_run_at_small_sizes(tmp_path):
    """ImageNet-stem weights at <= 64 px used to pick the 3x3 small stem and fail in apply."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    torch.set_num_threads(2)
    reference = torchvision.models.resnet18(weights=None).eval()
    for module in reference.modules():
        if isinstance(module, torch.nn.BatchNorm2d):  # non-trivial statistics, so a wrong port cannot hide
            with torch.no_grad():
                module.running_mean.normal_(0.0, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    model, variables = load_pretrained("resnet18", path)
    assert model.small_stem is False
    apply = jax.jit(model.apply)
    for size in (64, 32):
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
        with torch.no_grad():
            expected = reference(x).numpy()
        got = np.asarray(apply(variables, jnp.asarray(x.numpy().transpose(0, 2, 3, 1))))
        assert got.shape == expected.shape == (2, 1000)
        assert np.abs(got - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max()), size
    with pytest.raises(WeightsMismatchError, match=r"conv1.weight: file \(64, 3, 7, 7\)"):
        load_pretrained("resnet18", path, small_stem=True)  # the caller's setting wins over the file's


HEAD_BIAS = np.array([0.0, 0.0, 5.0, 0.0, 0.0], np.float32)


@pytest.fixture
def lenet5_five_classes(tmp_path):
    """A torch-layout .npz for lenet5 whose 5-class head always picks class 2 (zero weights, one large bias)."""
    model = zoo.create("lenet5", num_classes=5)
    params = model.init(jax.random.key(0), jnp.zeros((1, 28, 28)))["params"]
    state = {}
    for name, leaves in params.items():
        kernel = np.asarray(leaves["kernel"])
        state[f"{name}.weight"] = kernel.transpose(3, 2, 0, 1) if kernel.ndim == 4 else kernel.T
        state[f"{name}.bias"] = np.asarray(leaves["bias"])
    state["fc3.weight"] = np.zeros_like(state["fc3.weight"])
    state["fc3.bias"] = HEAD_BIAS
    np.savez(tmp_path / "lenet5_5.npz", **state)
    pixels = (np.random.default_rng(0).random((28, 28)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "digit.png")
    return tmp_path / "lenet5_5.npz", tmp_path / "digit.png"


def test_predict_num_classes_uses_the_checkpoints_head(lenet5_five_classes, capsys):
    weights, image = lenet5_five_classes
    assert predict_main(["lenet5", "--weights", str(weights), str(image), "--num-classes", "5", "--json"]) == 0
    predictions = json.loads(capsys.readouterr().out)[0]["predictions"]
    assert len(predictions) == 5
    assert predictions[0]["label"] == "class 2"
    # The file's head, not a fresh one: its bias alone decides the probabilities.
    expected = math.exp(5.0) / (math.exp(5.0) + 4.0)
    assert predictions[0]["probability"] == pytest.approx(expected, abs=1e-5)


def test_predict_without_num_classes_names_the_flag(lenet5_five_classes, capsys):
    weights, image = lenet5_five_classes
    assert predict_main(["lenet5", "--weights", str(weights), str(image)]) == 2
    err = capsys.readouterr().err
    assert "fc3.weight: file (5, 84)" in err and "--num-classes" in err and "default 10" in err
    assert err.count("params/fc3/kernel") == 1
    assert predict_main(["lenet5", "--weights", str(weights), str(image), "--num-classes", "7"]) == 2
    assert "--num-classes 7" in capsys.readouterr().err  # a wrong N is refused, never a random head
