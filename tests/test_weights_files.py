"""Weights files: torch zip and legacy layouts, safetensors and numpy read back bit for bit; unsafe pickles refused."""
import io
import os
import pickle
import zipfile

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo.errors import ZooError
from zoo.weights import WeightsMismatchError, read_state_dict, torch_to_flax
from zoo.weights.torch_file import UnsafeWeightsError, WeightsFileError


def _torch_state():
    """Tensors of several dtypes, including views with strides and storage offsets."""
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(6, 8, generator=gen)
    return {
        "conv.weight": torch.randn(4, 3, 3, 3, generator=gen),
        "half": torch.randn(5, generator=gen).half(),
        "bf16": torch.randn(3, 4, generator=gen).bfloat16(),
        "double": torch.randn(2, 2, generator=gen).double(),
        "long": torch.arange(-3, 9, dtype=torch.int64).reshape(3, 4),
        "int": torch.tensor([1, -2, 3], dtype=torch.int32),
        "bytes": torch.tensor([0, 7, 255], dtype=torch.uint8),
        "mask": torch.tensor([True, False, True]),
        "scalar": torch.tensor(7),
        "strided": base[:, ::2],  # non-contiguous view
        "transposed": base.t(),
        "offset": base[3:, 1:],  # storage offset 25, shares base's storage
        "empty": torch.zeros(0, 3),
        "nested": {"inner.weight": torch.ones(2, 2)},
    }


def _expected(state, prefix=""):
    out = {}
    for key, value in state.items():
        if isinstance(value, dict):
            out.update(_expected(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = (value.float() if str(value.dtype) == "torch.bfloat16" else value).numpy()
    return out


def _assert_bitwise_equal(got, want):
    assert set(got) == set(want)
    for key in want:
        assert got[key].dtype == want[key].dtype, key
        assert got[key].shape == want[key].shape, key
        assert got[key].tobytes() == np.ascontiguousarray(want[key]).tobytes(), key


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_torch_save_round_trip(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    state = _torch_state()
    path = tmp_path / "weights.pth"
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)
    assert (path.read_bytes()[:2] == b"PK") == zip_format
    got = read_state_dict(path)
    _assert_bitwise_equal(got, _expected(state))
    assert got["bf16"].dtype == np.float32  # bfloat16 widens exactly to float32


def test_torch_checkpoint_wrapping_and_parameters(tmp_path):
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    path = tmp_path / "ckpt.pt"
    # A training checkpoint: the state dict under 'state_dict', next to plain metadata, saved from DataParallel.
    wrapped = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"epoch": 3, "arch": "tiny", "state_dict": wrapped, "params": list(model.parameters())}, path)
    got = read_state_dict(path)
    _assert_bitwise_equal(got, {k: v.numpy() for k, v in model.state_dict().items()})


def test_safetensors_and_numpy_round_trip(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    import ml_dtypes

    rng = np.random.default_rng(0)
    state = {"a.weight": rng.normal(size=(3, 4)).astype(np.float32), "a.bias": rng.normal(size=3).astype(np.float16),
             "steps": np.arange(5, dtype=np.int64), "mask": np.array([True, False])}
    safetensors_numpy.save_file({**state, "bf": np.array([1.5, -2.25], ml_dtypes.bfloat16)}, tmp_path / "w.safetensors")
    got = read_state_dict(tmp_path / "w.safetensors")
    _assert_bitwise_equal(got, {**state, "bf": np.array([1.5, -2.25], np.float32)})
    np.savez(tmp_path / "w.npz", **state)
    _assert_bitwise_equal(read_state_dict(tmp_path / "w.npz"), state)
    np.save(tmp_path / "embedding.npy", state["a.weight"])
    _assert_bitwise_equal(read_state_dict(tmp_path / "embedding.npy"), {"embedding": state["a.weight"]})


class _Exploit:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


def _legacy_bytes(payload) -> bytes:
    out = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
        pickle.dump(header, out, protocol=2)
    pickle.dump(payload, out, protocol=2)
    return out.getvalue()


def _zip_bytes(payload) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(payload, protocol=2))
        archive.writestr("archive/version", "3\n")
    return out.getvalue()


@pytest.mark.parametrize("layout", [_zip_bytes, _legacy_bytes], ids=["zip", "legacy"])
@pytest.mark.parametrize("attack", ["system", "eval"])
def test_malicious_pickle_is_refused_without_running(tmp_path, layout, attack):
    sentinel = tmp_path / "pwned"
    if attack == "system":
        exploit = _Exploit(os.system, f"touch {sentinel}")
    else:
        exploit = _Exploit(eval, f"open({str(sentinel)!r}, 'w').close()")
    path = tmp_path / "evil.pth"
    path.write_bytes(layout({"weight": exploit}))
    with pytest.raises(UnsafeWeightsError, match="system|eval") as info:
        read_state_dict(path)
    assert "refusing to unpickle the global" in str(info.value)
    assert isinstance(info.value, ZooError)
    assert not sentinel.exists()


def test_pickled_numpy_objects_are_refused(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UnsafeWeightsError, match="pickled Python objects"):
        read_state_dict(tmp_path / "objects.npy")


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_truncated_torch_file(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    path = tmp_path / "cut.pt"
    torch.save({"w": torch.randn(64, 64)}, path, _use_new_zipfile_serialization=zip_format)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsFileError, match="truncated"):
        read_state_dict(path)


def test_truncated_safetensors_and_npz(tmp_path):
    np.savez(tmp_path / "w.npz", w=np.zeros((64, 64), np.float32))
    data = (tmp_path / "w.npz").read_bytes()
    (tmp_path / "w.npz").write_bytes(data[:100])
    with pytest.raises(WeightsFileError, match="corrupt or truncated"):
        read_state_dict(tmp_path / "w.npz")
    (tmp_path / "w.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"w\":")
    with pytest.raises(WeightsFileError, match="corrupt or truncated safetensors"):
        read_state_dict(tmp_path / "w.safetensors")


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(WeightsFileError, match="does not exist"):
        read_state_dict(tmp_path / "nope.pth")
    (tmp_path / "weights.h5").write_bytes(b"\x89HDF")
    with pytest.raises(WeightsFileError, match=r"unknown weights format '\.h5'.*\.safetensors"):
        read_state_dict(tmp_path / "weights.h5")


class _Tiny(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.Conv(4, (3, 3), name="conv")(x)
        return nn.Dense(2, name="fc")(x.mean(axis=(1, 2)))


def test_mismatch_error_lists_the_bad_keys():
    template = jax.eval_shape(lambda: _Tiny().init(jax.random.key(0), jnp.zeros((1, 8, 8, 3))))
    good = {"conv.weight": np.zeros((4, 3, 3, 3), np.float32), "conv.bias": np.zeros(4, np.float32),
            "fc.weight": np.zeros((2, 4), np.float32), "fc.bias": np.zeros(2, np.float32)}
    variables = torch_to_flax(good, template)
    assert variables["params"]["conv"]["kernel"].shape == (3, 3, 3, 4)
    bad = {**good, "fc.weight": np.zeros((5, 4), np.float32), "extra.weight": np.zeros(3, np.float32)}
    del bad["conv.bias"]
    with pytest.raises(WeightsMismatchError) as info:
        torch_to_flax(bad, template)
    message = str(info.value)
    assert "fc.weight: file (5, 4)" in message
    assert "params/conv/bias (4,)" in message
    assert "extra.weight" in message


def test_mismatch_error_lists_a_misshaped_key_once():
    template = jax.eval_shape(lambda: _Tiny().init(jax.random.key(0), jnp.zeros((1, 8, 8, 3))))
    state = {"conv.weight": np.zeros((4, 3, 3, 3), np.float32), "conv.bias": np.zeros(4, np.float32),
             "fc.weight": np.zeros((5, 4), np.float32), "fc.bias": np.zeros(2, np.float32)}
    with pytest.raises(WeightsMismatchError) as info:
        torch_to_flax(state, template)
    message = str(info.value)
    assert "shape mismatches (1)" in message
    assert message.count("params/fc/kernel") == 1 and message.count("fc.weight") == 1
    assert "missing from the file" not in message
