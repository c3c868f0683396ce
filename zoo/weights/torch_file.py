"""Read weights files into `{name: np.ndarray}` without PyTorch and without unpickling code.

PyTorch files are pickles. Unpickling one with `pickle.load` may run any
function the file names, so this reader replaces every global the pickle asks
for by a small allow-list of numpy-producing stand-ins (tensor rebuilders,
storage and dtype markers, OrderedDict) and refuses anything else with
`UnsafeWeightsError`. Storages are read as raw bytes and viewed with numpy.
Pickle's BUILD opcode (set an object's attributes) is refused on everything
but the OrderedDict stand-in: the allow-listed stand-ins are shared by every
load, and writing into them would corrupt later files read in the process.

Formats (chosen by extension):
  .pt .pth .bin .ckpt .pth.tar   torch.save, zip (torch >= 1.6) or legacy (magic-number) layout
  .safetensors                   via safetensors.numpy
  .npz / .npy                    numpy, allow_pickle=False (.npy gives {stem: array})

bfloat16 tensors come back as float32 (exact); other dtypes are kept.
"""
from __future__ import annotations

import dataclasses
import io
import math
import os
import pickle
import types
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from zoo.errors import SettingError, ZooError

TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pth.tar", ".pt.tar")
SUFFIXES = (*TORCH_SUFFIXES, ".safetensors", ".npz", ".npy")
# Containers a checkpoint may wrap its state dict in, tried in this order.
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
# A tensor may hold at most this many times the elements of the storage it views (see _check_expansion).
MAX_EXPANSION_ENV = "ZOO_WEIGHTS_MAX_EXPANSION"
DEFAULT_MAX_EXPANSION = 16


class WeightsFileError(ZooError, ValueError):
    """A weights file that cannot be read: missing, truncated, corrupt or of an unknown format."""


class UnsafeWeightsError(WeightsFileError):
    """A pickle that asks for more than a state dict needs: a global outside the tensor allow-list (it could run
    code), or setting attributes on a stand-in (it could tamper with the reader)."""


class _BuildRefused(Exception):
    """Raised by a stand-in's __setstate__; the unpickler turns it into an UnsafeWeightsError naming the file."""


def _refuse_build(*_args):
    # pickle's BUILD calls `obj.__setstate__(state)` when the object has one, and otherwise writes `state`
    # straight into obj.__dict__, frozen dataclass or not. Every stand-in therefore has this as its
    # __setstate__ (as a method, or as a plain attribute on the allow-listed functions, whose __dict__ is writable).
    raise _BuildRefused


# ---------------------------------------------------------------- dtypes and stand-ins

_BF16 = "bfloat16"  # read as uint16 and widened to float32 by bit shifting
_NUMPY_DTYPES: dict[str, Any] = {
    "float64": np.float64, "float32": np.float32, "float16": np.float16, _BF16: _BF16,
    "int64": np.int64, "int32": np.int32, "int16": np.int16, "int8": np.int8,
    "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
    "bool": np.bool_, "complex64": np.complex64, "complex128": np.complex128,
}
# torch.<attribute> spellings of dtypes, as pickled by _rebuild_tensor_v3 or in checkpoint metadata.
_TORCH_DTYPE_NAMES = {
    **{name: name for name in _NUMPY_DTYPES},
    "float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32",
    "short": "int16", "cfloat": "complex64", "cdouble": "complex128",
}
_STORAGE_DTYPES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16", "BFloat16Storage": _BF16,
    "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16", "CharStorage": "int8",
    "ByteStorage": "uint8", "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128", "UntypedStorage": "uint8",
}


@dataclasses.dataclass(frozen=True)
class _DType:
    """Stand-in for a torch dtype or storage class: just the element type's name (one shared instance each)."""
    name: str

    __setstate__ = _refuse_build

    @property
    def itemsize(self) -> int:
        return 2 if self.name == _BF16 else np.dtype(_NUMPY_DTYPES[self.name]).itemsize


@dataclasses.dataclass(frozen=True)
class _StorageRef:
    """A storage named by the pickle; its bytes are fetched after unpickling."""
    key: str
    dtype: _DType
    numel: int
    view_offset: int = 0  # legacy storage views: elements into the root storage

    __setstate__ = _refuse_build


@dataclasses.dataclass(frozen=True)
class _LazyTensor:
    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: _DType

    __setstate__ = _refuse_build


class _StateDict(dict):
    """collections.OrderedDict stand-in; drops pickled attributes such as `_metadata` (the one legitimate BUILD)."""

    def __setstate__(self, state):
        pass


class _TensorType:
    """Stand-in for torch.Tensor / torch.nn.Parameter when pickles name the class."""

    __setstate__ = _refuse_build


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    if not isinstance(storage, _StorageRef):
        raise WeightsFileError(f"tensor built from {type(storage).__name__}, not a storage")
    return _LazyTensor(storage, int(storage_offset), tuple(size), tuple(stride), storage.dtype)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None):
    if not isinstance(storage, _StorageRef) or not isinstance(dtype, _DType):
        raise WeightsFileError("malformed _rebuild_tensor_v3 record")
    return _LazyTensor(storage, int(storage_offset), tuple(size), tuple(stride), dtype)


def _rebuild_parameter(data, *_ignored):
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    if func not in (_rebuild_tensor, _rebuild_tensor_v3, _rebuild_parameter) or new_type is not _TensorType:
        raise WeightsFileError("malformed _rebuild_from_type_v2 record")
    return func(*args)


def _codecs_encode(text, encoding="utf-8"):
    # Protocol-2 pickles spell bytes objects as _codecs.encode(str, 'latin1').
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise WeightsFileError("malformed _codecs.encode record")
    return text.encode(encoding)


def _allowed_globals() -> dict[tuple[str, str], Any]:
    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): _StateDict,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch", "Tensor"): _TensorType,
        ("torch.nn.parameter", "Parameter"): _TensorType,
        ("torch", "Size"): tuple,
        ("torch", "device"): str,
        ("_codecs", "encode"): _codecs_encode,
    }
    for storage, dtype in _STORAGE_DTYPES.items():
        allowed["torch", storage] = _DType(dtype)
    for attribute, dtype in _TORCH_DTYPE_NAMES.items():
        allowed["torch", attribute] = _DType(dtype)
    for value in allowed.values():
        if isinstance(value, types.FunctionType):
            value.__setstate__ = _refuse_build
    return allowed


_ALLOWED = _allowed_globals()


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose globals come only from `_ALLOWED`; storages resolve through `persistent_load`."""

    def __init__(self, file, source: str, legacy: bool, seen: dict[str, _StorageRef] | None = None):
        super().__init__(file, encoding="utf-8")
        self.source, self.legacy = source, legacy
        self.seen = {} if seen is None else seen  # root storages by key

    def load(self):
        try:
            return super().load()
        except _BuildRefused:
            raise UnsafeWeightsError(
                f"{self.source}: refusing a pickle BUILD record that sets attributes on a tensor stand-in: the file "
                "is not a plain PyTorch state dict, and such records could tamper with how later files are read. "
                "If you trust the file, load it with torch.load(..., weights_only=False) and re-save "
                "model.state_dict() (torch.save or safetensors)."
            ) from None

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[module, name]
        except KeyError:
            raise UnsafeWeightsError(
                f"{self.source}: refusing to unpickle the global {module}.{name}: a weights file may only hold "
                "tensors in (nested) dicts, and loading anything else could run code from the file. "
                "If you trust the file, load it with torch.load(..., weights_only=False) and re-save "
                "model.state_dict() (torch.save or safetensors)."
            ) from None

    def persistent_load(self, saved_id):
        if not (isinstance(saved_id, tuple) and saved_id and saved_id[0] in ("storage", b"storage")):
            kind = saved_id[0] if isinstance(saved_id, tuple) and saved_id else saved_id
            hint = " (a whole pickled nn.Module; save model.state_dict() instead)" if kind in ("module", b"module") else ""
            raise UnsafeWeightsError(f"{self.source}: unsupported persistent record {kind!r}{hint}")
        if self.legacy and len(saved_id) == 6:
            _, dtype, key, _location, numel, view = saved_id
        elif not self.legacy and len(saved_id) == 5:
            _, dtype, key, _location, numel = saved_id
            view = None
        else:
            raise WeightsFileError(f"{self.source}: malformed storage record {saved_id!r:.200}")
        if not isinstance(dtype, _DType):
            raise WeightsFileError(f"{self.source}: storage of unknown type {dtype!r:.100}")
        key = key.decode() if isinstance(key, bytes) else str(key)
        self.seen.setdefault(key, _StorageRef(key, dtype, int(numel)))
        if view is not None:  # (view_key, offset, size): a slice of the root storage, pre-1.0 files
            return _StorageRef(key, dtype, int(numel), int(view[1]))
        return _StorageRef(key, dtype, int(numel))


# ---------------------------------------------------------------- tensors from storages

def _numpy_from_bytes(raw: memoryview | bytes, dtype: _DType, big_endian: bool) -> np.ndarray:
    if dtype.name == _BF16:
        bits = np.frombuffer(raw, dtype=">u2" if big_endian else "<u2").astype(np.uint32)
        return (bits << 16).view(np.float32)  # bf16 is the top half of a float32
    np_dtype = np.dtype(_NUMPY_DTYPES[dtype.name])
    if big_endian and np_dtype.itemsize > 1:
        np_dtype = np_dtype.newbyteorder(">")
    return np.frombuffer(raw, dtype=np_dtype)


def _max_expansion() -> int:
    raw = os.environ.get(MAX_EXPANSION_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_EXPANSION
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise SettingError(f"{MAX_EXPANSION_ENV}={raw!r} is not a whole number of at least 1; unset it for the "
                           f"default ({DEFAULT_MAX_EXPANSION}) or set e.g. {MAX_EXPANSION_ENV}=1000")
    return value


def _check_expansion(size: tuple[int, ...], stride: tuple[int, ...], storage: np.ndarray, source: str) -> None:
    """Refuse a view that repeats its storage's elements many times over (zero or overlapping strides).

    A view whose strides do not overlap (contiguous, transposed, sliced, offset: every tensor a model
    holds) never has more elements than its storage, so it always passes. Only overlapping views such
    as expand() or as_strided(..., (0, 0)) can, and copying one out would let a file of a few bytes
    ask for gigabytes. Those are materialised up to `ZOO_WEIGHTS_MAX_EXPANSION` times the storage.
    """
    numel = math.prod(size)
    limit = _max_expansion()
    if numel <= storage.size * limit:
        return
    mib = numel * storage.itemsize / 2 ** 20
    raise WeightsFileError(
        f"{source}: a tensor of shape {size} with strides {stride} repeats the {storage.size} elements of its "
        f"storage into {numel} ({mib:.1f} MiB), more than {limit} times over; weights files hold views like that "
        "only when crafted or saved from expand(). Re-save it with tensor.contiguous(), or, if you trust the file, "
        f"allow more with the environment variable {MAX_EXPANSION_ENV}=N (now {limit}).")


def _materialise(tensor: _LazyTensor, storage: np.ndarray, source: str) -> np.ndarray:
    """Apply offset, size and stride (in elements) to a storage's flat array, checking bounds first."""
    size, stride = tensor.size, tensor.stride
    offset = tensor.offset + tensor.storage.view_offset
    if len(size) != len(stride) or any(int(s) < 0 for s in (*size, *stride)) or offset < 0:
        raise WeightsFileError(f"{source}: malformed tensor geometry size={size} stride={stride} offset={offset}")
    if tensor.dtype != tensor.storage.dtype:  # _rebuild_tensor_v3: a typed view of a byte storage
        if storage.nbytes % tensor.dtype.itemsize:
            raise WeightsFileError(f"{source}: byte storage of {storage.nbytes} bytes cannot hold {tensor.dtype.name}")
        storage = _numpy_from_bytes(storage.tobytes(), tensor.dtype, big_endian=False)
    if 0 in size:
        return np.empty(size, dtype=storage.dtype.newbyteorder("="))
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
        raise WeightsFileError(f"{source}: tensor reaches element {last} of a storage of {storage.size} "
                               "(truncated or corrupt file)")
    _check_expansion(size, stride, storage, source)
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size,
                                           strides=[s * storage.itemsize for s in stride], writeable=False)
    return np.array(view, dtype=storage.dtype.newbyteorder("="), copy=True)


def _resolve_tree(obj, storages: Callable[[_StorageRef], np.ndarray], source: str):
    if isinstance(obj, _LazyTensor):
        return _materialise(obj, storages(obj.storage), source)
    if isinstance(obj, dict):
        return {k: _resolve_tree(v, storages, source) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve_tree(v, storages, source) for v in obj)
    return obj


# ---------------------------------------------------------------- the two torch layouts

def _read_torch_zip(path: Path) -> Any:
    source = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise WeightsFileError(f"{source}: not a readable zip archive ({err}); the file is truncated or corrupt") \
            from None
    with archive:
        names = archive.namelist()
        pickles = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
        if not pickles:
            hint = (" It is a TorchScript archive: in PyTorch, torch.jit.load it and save its state_dict()."
                    if any("/code/" in n or n.endswith("constants.pkl") for n in names) else "")
            raise WeightsFileError(f"{source}: zip archive without data.pkl, not a torch.save file.{hint}")
        prefix = pickles[0][: -len("data.pkl")]
        big_endian = False
        if prefix + "byteorder" in names:
            big_endian = archive.read(prefix + "byteorder").strip() == b"big"
        try:
            tree = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), source, legacy=False).load()
        except (UnsafeWeightsError, WeightsFileError):
            raise
        except Exception as err:  # noqa: BLE001 - any unpickling failure means a damaged file
            raise WeightsFileError(f"{source}: corrupt data.pkl ({type(err).__name__}: {err})") from None
        cache: dict[str, np.ndarray] = {}

        def storage(ref: _StorageRef) -> np.ndarray:
            if ref.key not in cache:
                try:
                    raw = archive.read(f"{prefix}data/{ref.key}")
                except (KeyError, zipfile.BadZipFile, OSError, EOFError) as err:
                    raise WeightsFileError(f"{source}: storage {ref.key} unreadable ({err}); "
                                           "the file is truncated or corrupt") from None
                if len(raw) < ref.numel * ref.dtype.itemsize:
                    raise WeightsFileError(f"{source}: storage {ref.key} holds {len(raw)} bytes, "
                                           f"expected {ref.numel * ref.dtype.itemsize}")
                cache[ref.key] = _numpy_from_bytes(raw[: ref.numel * ref.dtype.itemsize], ref.dtype, big_endian)
            return cache[ref.key]

        return _resolve_tree(tree, storage, source)


def _read_torch_legacy(path: Path, data: bytes) -> Any:
    """magic, protocol, sys_info, the object pickle, its storage keys, then each storage: int64 numel + bytes."""
    source = str(path)
    stream = io.BytesIO(data)

    def load(what: str, legacy: bool = True):
        try:
            return _RestrictedUnpickler(stream, source, legacy=legacy).load()
        except (UnsafeWeightsError, WeightsFileError):
            raise
        except Exception as err:  # noqa: BLE001
            raise WeightsFileError(f"{source}: cannot read the {what} ({type(err).__name__}: {err}); "
                                   "the file is truncated, corrupt, or not a torch.save file") from None

    if load("magic number") != _LEGACY_MAGIC:
        raise WeightsFileError(f"{source}: not a torch.save file (no zip archive, no legacy magic number)")
    if (version := load("protocol version")) != _LEGACY_PROTOCOL:
        raise WeightsFileError(f"{source}: unsupported legacy torch protocol {version!r}")
    sys_info = load("system info")
    big_endian = isinstance(sys_info, dict) and sys_info.get("little_endian") is False
    refs: dict[str, _StorageRef] = {}
    try:
        tree = _RestrictedUnpickler(stream, source, legacy=True, seen=refs).load()
    except (UnsafeWeightsError, WeightsFileError):
        raise
    except Exception as err:  # noqa: BLE001
        raise WeightsFileError(f"{source}: corrupt object pickle ({type(err).__name__}: {err})") from None
    keys = load("storage key list")
    if not isinstance(keys, list) or not all(isinstance(k, (str, bytes, int)) for k in keys):
        raise WeightsFileError(f"{source}: corrupt storage key list")
    storages: dict[str, np.ndarray] = {}
    view = memoryview(data)
    position = stream.tell()
    for key in keys:
        key = key.decode() if isinstance(key, bytes) else str(key)
        if key not in refs:
            raise WeightsFileError(f"{source}: storage {key} is listed but never used")
        ref = refs[key]
        if position + 8 > len(data):
            raise WeightsFileError(f"{source}: file ends before storage {key} (truncated)")
        numel = int.from_bytes(data[position:position + 8], "big" if big_endian else "little")
        nbytes = numel * ref.dtype.itemsize
        position += 8
        if numel != ref.numel or position + nbytes > len(data):
            raise WeightsFileError(f"{source}: storage {key} of {ref.numel} elements is truncated or corrupt "
                                   f"(header says {numel}, {len(data) - position} bytes left)")
        storages[key] = _numpy_from_bytes(view[position:position + nbytes], ref.dtype, big_endian)
        position += nbytes

    def storage(ref: _StorageRef) -> np.ndarray:
        if ref.key not in storages:
            raise WeightsFileError(f"{source}: storage {ref.key} has no data")
        return storages[ref.key]

    return _resolve_tree(tree, storage, source)


def _read_torch(path: Path) -> Any:
    data = path.read_bytes()
    if data[:4] == b"PK\x03\x04":
        return _read_torch_zip(path)
    if len(data) > 262 and data[257:262] == b"ustar":
        raise WeightsFileError(f"{path}: a tar-format torch file (PyTorch < 0.4); re-save it with a recent PyTorch")
    return _read_torch_legacy(path, data)


# ---------------------------------------------------------------- other formats and the entry point

def _read_safetensors(path: Path) -> dict:
    try:
        from safetensors.numpy import load_file
    except ImportError:
        raise WeightsFileError(f"{path}: reading .safetensors needs the safetensors package: "
                               "pip install safetensors") from None
    try:
        return load_file(str(path))
    except Exception as err:  # noqa: BLE001 - SafetensorError and friends
        raise WeightsFileError(f"{path}: corrupt or truncated safetensors file ({err})") from None


def _read_numpy(path: Path) -> dict:
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return {path.stem: loaded}
        with loaded:
            return {name: loaded[name] for name in loaded.files}
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise UnsafeWeightsError(f"{path}: holds pickled Python objects, which are never loaded; "
                                     "save plain arrays (np.savez(path, **arrays))") from None
        raise WeightsFileError(f"{path}: corrupt numpy file ({err})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise WeightsFileError(f"{path}: corrupt or truncated numpy file ({err})") from None


def _flatten(tree: Mapping, prefix: str = "") -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, np.ndarray):
            out[name] = value
        elif isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
    return out  # other leaves (epoch counters, strings) are not weights


def _unwrap(tree: Any, source: str) -> dict[str, np.ndarray]:
    if not isinstance(tree, Mapping):
        raise WeightsFileError(f"{source}: holds a {type(tree).__name__}, not a dict of tensors (a state dict)")
    for key in WRAPPER_KEYS:
        if isinstance(tree.get(key), Mapping):
            tree = tree[key]
            break
    state = _flatten(tree)
    if not state:
        raise WeightsFileError(f"{source}: no tensors found (keys: {', '.join(map(str, list(tree)[:10]))})")
    if all(k.startswith("module.") for k in state):  # saved from nn.DataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """`{torch-style key: array}` from a .pt/.pth/.bin/.ckpt, .safetensors, .npz or .npy file.

    A checkpoint that wraps the weights under 'state_dict', 'model_state_dict' or
    'model' is unwrapped; nested dicts flatten with '.'; a 'module.' prefix on
    every key (nn.DataParallel) is dropped.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsFileError(f"weights file {path} does not exist" if not path.exists()
                               else f"{path} is not a file")
    name = path.name.lower()
    suffix = next((s for s in sorted(SUFFIXES, key=len, reverse=True) if name.endswith(s)), None)
    if suffix is None:
        raise WeightsFileError(f"{path}: unknown weights format {path.suffix or '(no extension)'!r}; "
                               f"supported: {', '.join(SUFFIXES)}")
    if suffix == ".safetensors":
        tree: Any = _read_safetensors(path)
    elif suffix in (".npz", ".npy"):
        tree = _read_numpy(path)
    else:
        tree = _read_torch(path)
    state = _unwrap(tree, str(path))
    return {k: (v.astype(np.float32) if v.dtype.name == "bfloat16" else v) for k, v in state.items()}
