"""Reading a byte-level BPE tokenizer out of a GGUF header or a Hugging Face tokenizer.json.

GGUF (llama.cpp) stores the vocabulary, merges and special ids under `tokenizer.ggml.*` and names its word
split only by a label (`tokenizer.ggml.pre`: 'smollm', 'llama-bpe', 'qwen2' ...). The tokenizer built here
is the one transformers builds from the same file (`integrations/gguf/gguf_tokenizer_mapping.py`):

- the tokens, respelled in byte stand-ins when a token uses other characters;
- the tokens typed CONTROL (3) as special added tokens, USER_DEFINED (4) as plain added tokens;
- GPT-2's split (`ByteLevel(use_regex=True)`) unless the label is one whose regex transformers knows,
  in which case that regex, then ByteLevel without its own regex. 'smollm' is not among them: SmolLM2's
  own tokenizer.json isolates every digit first (`Digits(individual_digits=True)`), the GGUF build does
  not, and since the SmolLM2 vocabulary has no multi-digit tokens the ids agree on digits either way.
"""
from __future__ import annotations

import json
import os
import re
import unicodedata
from functools import partial
from pathlib import Path

from zoo.text.added_tokens import AddedToken
from zoo.text.bpe_model import BPE
from zoo.text.byte_level import CHAR_TO_BYTE, ByteLevel, Digits, PreTokenizer, Split, spell_bytes
from zoo.text.post_process import Template, TemplateItem
from zoo.text.tokenizer_json import TokenizerFileError, _snake, _template

CONTROL, USER_DEFINED = 3, 4  # llama.cpp's token types

_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN35_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"
                 r"| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_TEKKEN_SPLIT = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
                 r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
                 r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_GPT4O_SPLIT = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
                r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
                r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
                r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
                r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# transformers' GGUF_PRE_TOKENIZER_SPLITS; any other label (smollm, gpt2, ...) gets GPT-2's ByteLevel split.
GGUF_PRE_SPLITS = {
    **dict.fromkeys(("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                     "jina-v5-nano", "dbrx", "smaug-bpe"), _LLAMA3_SPLIT),
    "tekken": _TEKKEN_SPLIT,
    **dict.fromkeys(("qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez"), _QWEN2_SPLIT),
    "qwen35": _QWEN35_SPLIT,
    **dict.fromkeys(("gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"), _GPT4O_SPLIT),
}


def gguf_pre_tokenizer(label: str | None) -> PreTokenizer:
    split = GGUF_PRE_SPLITS.get(label)
    return PreTokenizer((ByteLevel(),) if split is None else (Split(split), ByteLevel(use_regex=False)))


def read_gguf_parts(metadata: dict, source: str = "metadata") -> dict:
    """The keyword arguments of `BPETokenizer` described by a GGUF header (`zoo.weights.gguf.read_metadata`)."""
    kind = metadata.get("tokenizer.ggml.model")
    if kind != "gpt2":
        raise TokenizerFileError(
            f"{source} describes a {kind or 'missing'!r} tokenizer (tokenizer.ggml.model); zoo.text.BPETokenizer "
            "reads byte-level BPE ('gpt2') files; for sentencepiece ('llama') vocabularies use "
            "transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)")
    try:
        tokens = list(metadata["tokenizer.ggml.tokens"])
        types = list(metadata.get("tokenizer.ggml.token_type") or ())
        merges = [_merge_pair(m, source) for m in metadata["tokenizer.ggml.merges"]]
    except KeyError as err:
        raise TokenizerFileError(f"{source} has no {err.args[0]}; a byte-level GGUF needs its tokens and merges, "
                                 "re-convert the model with llama.cpp's convert_hf_to_gguf.py") from None
    # A token outside the stand-in alphabet is stored as plain text; the merges use its byte spelling.
    vocab = {token if set(token) <= CHAR_TO_BYTE.keys() else spell_bytes(token): i for i, token in enumerate(tokens)}
    added = [AddedToken(token, vocab[token], special=True) for token, kind in zip(tokens, types)
             if kind == CONTROL and set(token) <= CHAR_TO_BYTE.keys()]  # others are llama.cpp mislabels, as there
    added += [AddedToken(token, vocab[token], special=False) for token, kind in zip(tokens, types)
              if kind == USER_DEFINED and token in vocab]

    def special(key: str) -> int | None:
        token_id = metadata.get(f"tokenizer.ggml.{key}")
        if token_id is not None and not 0 <= token_id < len(tokens):
            raise TokenizerFileError(f"{source}: tokenizer.ggml.{key} = {token_id} is not a token id (the "
                                     f"vocabulary has {len(tokens)}); the file is damaged, re-download it")
        return None if token_id is None else vocab[tokens[token_id]]

    bos_id, eos_id = special("bos_token_id"), special("eos_token_id")
    add_bos = bool(metadata.get("tokenizer.ggml.add_bos_token", False))
    add_eos = bool(metadata.get("tokenizer.ggml.add_eos_token", False))
    return dict(model=BPE(vocab, merges), pre_tokenize=gguf_pre_tokenizer(metadata.get("tokenizer.ggml.pre")),
                added=tuple(added),
                template=_bos_eos_template(bos_id if add_bos else None, eos_id if add_eos else None),
                bos_id=bos_id, eos_id=eos_id, pad_id=special("padding_token_id"), unk_id=special("unknown_token_id"),
                chat_template=metadata.get("tokenizer.chat_template"), source=source)


def _merge_pair(merge, source: str) -> tuple[str, str]:
    pair = merge.split(" ") if isinstance(merge, str) else list(merge)
    if len(pair) != 2:
        raise TokenizerFileError(f"{source}: the merge {merge!r} is not two tokens; the merges are damaged, "
                                 "re-download or re-convert the file")
    return pair[0], pair[1]


def _bos_eos_template(bos_id: int | None, eos_id: int | None) -> Template:
    bos = (TemplateItem(None, (bos_id,)),) if bos_id is not None else ()
    eos = (TemplateItem(None, (eos_id,)),) if eos_id is not None else ()
    return Template((*bos, TemplateItem("A"), *eos), (*bos, TemplateItem("A"), *eos, *bos, TemplateItem("B"), *eos))


# -- tokenizer.json ------------------------------------------------------------------------------------------

_UNICODE_FORMS = {"NFC", "NFD", "NFKC", "NFKD"}


def _normalizer(section: dict | None, where: str):
    if section is None:
        return None
    if section.get("type") in _UNICODE_FORMS:
        return partial(unicodedata.normalize, section["type"])
    raise TokenizerFileError(f"{where} has a {section.get('type')} normalizer; zoo's byte-level BPE understands "
                             "none or a Unicode form (NFC, NFKC, ...); use the tokenizers package for this file")


def _pre_steps(section: dict, where: str) -> list:
    kind = section.get("type")
    if kind == "Sequence":
        return [step for inner in section["pretokenizers"] for step in _pre_steps(inner, where)]
    if kind == "ByteLevel":
        return [ByteLevel(section.get("add_prefix_space", False), section.get("use_regex", True))]
    if kind == "Digits":
        return [Digits(section.get("individual_digits", False))]
    if kind == "Split":
        pattern = section["pattern"]
        regex_text = pattern["Regex"] if "Regex" in pattern else re.escape(pattern["String"])  # a literal
        return [Split(regex_text, _snake(section.get("behavior", "Isolated")), section.get("invert", False))]
    raise TokenizerFileError(f"{where} has a {kind} pre-tokenizer; zoo's byte-level BPE understands Split, Digits "
                             "and ByteLevel (alone or in a Sequence); use the tokenizers package for this file")


def _post_template(section: dict | None, where: str) -> Template:
    if section is not None and section.get("type") == "Sequence":  # Llama 3: ByteLevel (offsets only) + a template
        templates = [p for p in section["processors"] if p.get("type") != "ByteLevel"]
        section = templates[0] if templates else None
    if section is not None and section.get("type") == "ByteLevel":
        section = None  # it only trims offsets, which zoo does not compute
    return _template(section, where)


def read_tokenizer_json_parts(path: str | os.PathLike) -> dict:
    """The keyword arguments of `BPETokenizer` described by a tokenizer.json (and its tokenizer_config.json)."""
    path, where = Path(path), str(path)
    if not path.is_file():
        raise TokenizerFileError(f"no tokenizer file at {path}; pass the path of the model's tokenizer.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        model = data["model"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise TokenizerFileError(f"{path} is not a Hugging Face tokenizer.json ({type(err).__name__}: {err}); "
                                 "pass the tokenizer.json that comes with the model") from err
    if model.get("type", "BPE" if "merges" in model else None) != "BPE":
        raise TokenizerFileError(f"{path} describes a {model.get('type')} tokenizer, not BPE; for WordPiece files "
                                 "use zoo.text.WordPieceTokenizer.from_file")
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix") or model.get("byte_fallback"):
        raise TokenizerFileError(f"{path} is a character-level BPE (subword prefix/suffix or byte fallback), not "
                                 "a byte-level one; use the tokenizers package for this file")
    decoder = data.get("decoder")
    if decoder is not None and decoder.get("type") != "ByteLevel":
        raise TokenizerFileError(f"{path} has a {decoder.get('type')} decoder, not ByteLevel; zoo's BPETokenizer "
                                 "reads byte-level files only; use the tokenizers package for this file")
    try:
        steps = _pre_steps(data["pre_tokenizer"], where) if data.get("pre_tokenizer") else []
        if not steps or not isinstance(steps[-1], ByteLevel):
            raise TokenizerFileError(f"{path} has no ByteLevel pre-tokenizer at the end, so it is not a byte-level "
                                     "BPE; use the tokenizers package for this file")
        bpe = BPE(dict(model["vocab"]), [_merge_pair(m, where) for m in model["merges"]], model.get("unk_token"),
                  model.get("fuse_unk", False), model.get("ignore_merges", False))
        added = tuple(AddedToken(t["content"], t["id"], t.get("single_word", False), t.get("lstrip", False),
                                 t.get("rstrip", False), t.get("normalized", True), t.get("special", False))
                      for t in data.get("added_tokens") or [])
        config = _tokenizer_config(path.with_name("tokenizer_config.json"))
        added_ids = {t.content: t.id for t in added}
        special = {name: _config_token_id(config.get(f"{name}_token"), added_ids, bpe.vocab)
                   for name in ("bos", "eos", "pad", "unk")}
        return dict(model=bpe, pre_tokenize=PreTokenizer(tuple(steps)), added=added,
                    normalize=_normalizer(data.get("normalizer"), where),
                    template=_post_template(data.get("post_processor"), where),
                    bos_id=special["bos"], eos_id=special["eos"], pad_id=special["pad"], unk_id=special["unk"],
                    chat_template=_default_chat_template(config.get("chat_template")),
                    padding_side=config.get("padding_side", "right"), source=where)
    except (KeyError, TypeError, IndexError, AttributeError) as err:
        raise TokenizerFileError(f"{path} is a damaged tokenizer.json ({type(err).__name__}: {err}); pass the "
                                 "tokenizer.json that comes with the model") from err


def _tokenizer_config(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise TokenizerFileError(f"{path} is not JSON ({err}); repair or remove it") from err


def _default_chat_template(template) -> str | None:
    if isinstance(template, list):  # named templates: [{"name": "default", "template": ...}, ...]
        named = {t["name"]: t["template"] for t in template}
        return named.get("default")
    return template


def _config_token_id(token, added_ids: dict[str, int], vocab: dict[str, int]) -> int | None:
    if isinstance(token, dict):  # older configs spell an AddedToken out
        token = token.get("content")
    if token is None:
        return None
    return added_ids.get(token, vocab.get(token))
