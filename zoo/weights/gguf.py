"""GGUF files (llama.cpp's format): metadata and tensors, read with the `gguf` package, never executed.

    >>> metadata = read_metadata(path)
    >>> metadata["general.architecture"], metadata["llama.block_count"]
    ('llama', 30)
    >>> read_tensors(path, ["blk.0.attn_k.weight"])["blk.0.attn_k.weight"].shape  # GGUF shape [576, 192]
    (192, 576)
    >>> config, state_dict = read_llama(path)  # Hugging Face keys, q/k rows in the "rotate half" order
    >>> state_dict["model.layers.0.self_attn.k_proj.weight"].shape
    (192, 576)

Tensors come out as float32 in PyTorch's orientation: GGUF lists a tensor's dimensions fastest-varying first,
so its shape read backwards is the row-major one (a Linear weight's [out, in]). Quantised blocks are decoded
by `gguf.quants.dequantize`, llama.cpp's own Python implementation, not by a copy of the block formats here.
"""
from __future__ import annotations

import os
import re
from typing import Any, Iterable, NamedTuple

import numpy as np

from zoo.weights.pretrained import MissingWeightsError

REEXPORT = ("re-export the model with a type it can read (llama.cpp: `llama-quantize MODEL.gguf OUT.gguf Q8_0`, "
            "or Q4_1 / Q4_0 / F16; convert_hf_to_gguf.py --outtype f16) or upgrade the reader: pip install -U gguf")


class UnsupportedGGUFError(MissingWeightsError):
    """A readable GGUF file that zoo cannot use as it is (an architecture without a key mapping here)."""


class UnsupportedGGUFTypeError(UnsupportedGGUFError):
    """A tensor stored in a type the installed `gguf` package cannot dequantise."""


class GGUFTensorInfo(NamedTuple):
    """One tensor as the file describes it; `shape` already row-major (GGUF's dimensions reversed)."""
    name: str
    type_name: str  # 'Q4_1', 'Q8_0', 'F32', ...
    shape: tuple[int, ...]


def _gguf_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("gguf")
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


def _reader(path: str | os.PathLike):
    try:
        import gguf
    except ImportError:
        raise MissingWeightsError("reading GGUF files needs the `gguf` package: pip install gguf") from None
    if not os.path.isfile(path):
        raise MissingWeightsError(f"no GGUF file at {path}")
    try:
        return gguf.GGUFReader(path)
    except (ValueError, OSError) as err:  # bad magic, truncated header, unknown version
        if "GGMLQuantizationType" in str(err):  # a tensor type id newer than this gguf: the file may be fine
            raise UnsupportedGGUFTypeError(f"{path} stores a tensor type that gguf {_gguf_version()} does not know "
                                           f"({err}); {REEXPORT}") from None
        raise MissingWeightsError(f"{path} is not a readable GGUF file ({err}); re-download or reinstall it") \
            from None


def _metadata(reader) -> dict[str, Any]:
    return {name: field.contents() for name, field in reader.fields.items() if not name.startswith("GGUF.")}


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Every key-value of the file's header: numbers, strings, and arrays as Python lists
    (tokenizer.ggml.tokens is a list of str, tokenizer.ggml.merges of 'a b' strings)."""
    return _metadata(_reader(path))


def _info(tensor) -> GGUFTensorInfo:
    return GGUFTensorInfo(tensor.name, tensor.tensor_type.name, tuple(int(d) for d in reversed(tensor.shape)))


def list_tensors(path: str | os.PathLike) -> list[GGUFTensorInfo]:
    """(name, type name, row-major shape) of every tensor, in file order; nothing is decoded."""
    return [_info(tensor) for tensor in _reader(path).tensors]


def _dequantize(tensor, source) -> np.ndarray:
    import gguf

    info = _info(tensor)
    qtype = tensor.tensor_type
    if qtype in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.F64):
        array = np.array(tensor.data, dtype=np.float32)  # a copy: the reader's arrays are views of a memmap
    else:
        try:
            array = gguf.quants.dequantize(tensor.data, qtype)
        except NotImplementedError:
            raise UnsupportedGGUFTypeError(
                f"{info.name} in {source} is stored as {info.type_name}, which gguf {_gguf_version()} cannot "
                f"dequantise; {REEXPORT}") from None
    return np.asarray(array, dtype=np.float32).reshape(info.shape)


def _tensors(reader, names: Iterable[str] | None, source) -> dict[str, np.ndarray]:
    by_name = {tensor.name: tensor for tensor in reader.tensors}
    names = list(by_name) if names is None else list(names)  # a generator would be spent by the check below
    missing = [name for name in names if name not in by_name]
    if missing:
        some = ", ".join(list(by_name)[:5])
        raise MissingWeightsError(f"{source} has no tensor {', '.join(missing)}; it holds {len(by_name)} "
                                  f"tensors ({some}, ...); list them with zoo.weights.gguf.list_tensors")
    return {name: _dequantize(by_name[name], source) for name in names}


def read_tensors(path: str | os.PathLike, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """{GGUF name: float32 array, row-major} for every tensor, or only `names` (only those are decoded).

    `token_embd.weight` of GGUF shape [D, V] -> [V, D]; `blk.0.attn_k.weight` [D, kv*Dh] -> [kv*Dh, D]."""
    return _tensors(_reader(path), names, path)


# --- Llama (architecture 'llama' in llama.cpp: Llama 1-3, Mistral, SmolLM, TinyLlama, ...) -> Hugging Face.

# Inside blk.N: llama.cpp's tensor name -> the module path inside Hugging Face's model.layers.N.
_LLAMA_BLOCK = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
# Everything outside the blocks. With tied embeddings there is no `output` tensor: lm_head is embed_tokens.
_LLAMA_TOP = {
    "token_embd": "model.embed_tokens",
    "output_norm": "model.norm",
    "output": "lm_head",
}
_BLOCK_NAME = re.compile(r"blk\.(\d+)\.(\w+)\.(weight|bias)")


def hf_llama_name(name: str) -> str:
    """A llama.cpp tensor name -> its Hugging Face LlamaForCausalLM key; unknown names (e.g. `rope_freqs.weight`,
    Llama 3.1's rope scaling, which zoo's rotary does not do) are kept as they are, so that a converter lists
    them as unexpected instead of dropping them silently.

        >>> hf_llama_name("blk.3.attn_q.weight"), hf_llama_name("output_norm.weight")
        ('model.layers.3.self_attn.q_proj.weight', 'model.norm.weight')
    """
    match = _BLOCK_NAME.fullmatch(name)
    if match:
        index, inner, leaf = match.groups()
        return f"model.layers.{index}.{_LLAMA_BLOCK[inner]}.{leaf}" if inner in _LLAMA_BLOCK else name
    module, _, leaf = name.rpartition(".")
    return f"{_LLAMA_TOP[module]}.{leaf}" if module in _LLAMA_TOP and leaf in ("weight", "bias") else name


def permute_qk(rows: np.ndarray, num_heads: int) -> np.ndarray:
    """Hugging Face -> GGUF: llama.cpp's convert_hf_to_gguf `permute`. rows [H*Dh, ...] (a q/k weight or bias).

    Within each head, HF pairs feature i with i + Dh/2 for rotation ("rotate half"); llama.cpp's kernel pairs
    neighbours 2i, 2i+1, so its converter moves row i to 2i and row i + Dh/2 to 2i + 1."""
    head_dim = rows.shape[0] // num_heads
    return rows.reshape(num_heads, 2, head_dim // 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def unpermute_qk(rows: np.ndarray, num_heads: int) -> np.ndarray:
    """GGUF -> Hugging Face, the inverse of `permute_qk` (transformers' `_reverse_permute_weights`).
    rows [H*Dh, ...]; H is the query heads for q, the key/value heads for k."""
    head_dim = rows.shape[0] // num_heads
    return rows.reshape(num_heads, head_dim // 2, 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def _f32(value) -> float:
    # GGUF stores floats as float32: the shortest decimal that rounds to the same float32 is the number the
    # model's config said (1e-05, not 9.999999747378752e-06).
    return float(str(np.float32(value)))


def llama_config(metadata: dict[str, Any], tensor_names: Iterable[str]) -> dict[str, Any]:
    """zoo Llama fields from a GGUF header (`read_metadata`) and its tensor names (`output.weight` or not)."""
    arch = metadata.get("general.architecture")
    if arch != "llama":
        raise UnsupportedGGUFError(f"zoo maps GGUF files of architecture 'llama' (Llama, Mistral, SmolLM, ...); "
                                   f"this one is {arch!r}. Load it with transformers (from_pretrained(..., "
                                   "gguf_file=...)) or add a key mapping for it in zoo.weights.gguf")
    meta = {key[len("llama."):]: value for key, value in metadata.items() if key.startswith("llama.")}
    scaling = meta.get("rope.scaling.type", "none")
    if scaling not in ("none", None):
        raise UnsupportedGGUFError(f"this GGUF file uses rope scaling {scaling!r} (llama.rope.scaling.*), which "
                                   "zoo's rotary embedding does not implement; use a model without rope scaling")
    hidden, heads = int(meta["embedding_length"]), int(meta["attention.head_count"])
    kv_heads = meta.get("attention.head_count_kv", heads)  # absent: plain multi-head attention
    if isinstance(kv_heads, list):  # per-layer counts (other llama.cpp models); zoo's blocks share one
        if len(set(kv_heads)) != 1:
            raise UnsupportedGGUFError(f"key/value heads differ between layers ({kv_heads}); zoo's Llama has one count")
        kv_heads = kv_heads[0]
    head_dim = int(meta.get("attention.key_length", hidden // heads))
    if int(meta.get("rope.dimension_count", head_dim)) != head_dim:
        raise UnsupportedGGUFError(f"rotary embedding over {meta['rope.dimension_count']} of {head_dim} head "
                                   "features (partial rotary); zoo's Llama rotates whole heads")
    vocab = meta.get("vocab_size") or len(metadata.get("tokenizer.ggml.tokens", ()))
    if not vocab:
        raise MissingWeightsError("the GGUF header has neither llama.vocab_size nor tokenizer.ggml.tokens; "
                                  "re-export the model with llama.cpp's convert_hf_to_gguf.py")
    return {
        "vocab_size": int(vocab),
        "hidden_size": hidden,
        "num_layers": int(meta["block_count"]),
        "num_heads": heads,
        "num_kv_heads": int(kv_heads),
        "head_dim": head_dim,
        "mlp_dim": int(meta["feed_forward_length"]),
        "rope_base": _f32(meta.get("rope.freq_base", 10000.0)),  # llama.cpp's default when absent
        "norm_eps": _f32(meta["attention.layer_norm_rms_epsilon"]),
        "max_positions": int(meta["context_length"]),
        "tie_embeddings": "output.weight" not in set(tensor_names),
    }


def read_llama(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(zoo Llama fields, {Hugging Face key: float32 array}) from one reading of the file (opening a GGUF
    parses its whole vocabulary: seconds, so not twice). q_proj / k_proj rows are un-permuted back to the
    "rotate half" order that Hugging Face and zoo.layers.rotary use."""
    reader = _reader(path)
    config = llama_config(_metadata(reader), (tensor.name for tensor in reader.tensors))
    state_dict = {}
    for name, array in _tensors(reader, None, path).items():
        if ".attn_q." in name:
            array = unpermute_qk(array, config["num_heads"])
        elif ".attn_k." in name:
            array = unpermute_qk(array, config["num_kv_heads"])
        state_dict[hf_llama_name(name)] = array
    return config, state_dict


def llama_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """{Hugging Face LlamaForCausalLM key: float32 array [out, in] / [D]} of a llama GGUF file (see read_llama)."""
    return read_llama(path)[1]
