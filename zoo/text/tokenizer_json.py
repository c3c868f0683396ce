"""Reading a Hugging Face tokenizer.json into the parts of a `WordPieceTokenizer`.

Only what BERT-style files use is understood: a WordPiece model, a BertNormalizer (or none), a
BertPreTokenizer (or none), a TemplateProcessing or BertProcessing post-processor (or none), and the
file's truncation and padding. Anything else is refused by name rather than tokenized differently
from the `tokenizers` package.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from zoo.errors import ZooError
from zoo.text.added_tokens import AddedToken, AddedTokenMatcher
from zoo.text.bert_normalizer import BertNormalizer, bert_pre_tokenize
from zoo.text.post_process import Padding, Template, TemplateItem, Truncation

USE_REFERENCE = "for other tokenizers use the `tokenizers` package (tokenizers.Tokenizer.from_file)"


class TokenizerFileError(ZooError, ValueError):
    """A tokenizer.json that is missing, not JSON, or describes a tokenizer other than BERT's WordPiece."""


class TokenizerInputError(ZooError, ValueError):
    """Texts a tokenizer cannot take as given: not strings, or a batch of pairs of unequal lengths."""


def _section_type(section: dict | None, what: str, where: str) -> str | None:
    if section is None:
        return None
    if not isinstance(section, dict) or "type" not in section:
        raise TokenizerFileError(f"{where}: the {what} section has no \"type\"; pass a tokenizer.json written by "
                                 "the tokenizers package (tokenizer.save)")
    return section["type"]


def _bert_section(section: dict | None, what: str, expected: str, where: str) -> dict | None:
    """The section when it is BERT's `expected` kind, None when the file has none; any other kind is refused."""
    kind = _section_type(section, what, where)
    if kind not in (None, expected):
        raise TokenizerFileError(f"{where} has a {kind} {what.replace('_', '-')}; zoo's WordPiece tokenizer reads "
                                 f"BERT files, whose {what.replace('_', '-')} is {expected}; {USE_REFERENCE}")
    return section if kind else None


def _normalizer(section: dict | None, where: str) -> BertNormalizer | None:
    section = _bert_section(section, "normalizer", "BertNormalizer", where)
    if section is None:
        return None
    return BertNormalizer(clean_text=section.get("clean_text", True),
                          handle_chinese_chars=section.get("handle_chinese_chars", True),
                          strip_accents=section.get("strip_accents"), lowercase=section.get("lowercase", True))


def _pre_tokenizer(section: dict | None, where: str):
    return bert_pre_tokenize if _bert_section(section, "pre_tokenizer", "BertPreTokenizer", where) else None


def _template_items(items: list, special_tokens: dict, where: str) -> tuple[TemplateItem, ...]:
    out = []
    for item in items:
        if "Sequence" in item:
            out.append(TemplateItem(item["Sequence"]["id"], type_id=item["Sequence"]["type_id"]))
        else:
            name = item["SpecialToken"]["id"]
            if name not in special_tokens:
                raise TokenizerFileError(f"{where}: the template names the special token {name!r} but does not "
                                         "list its ids under special_tokens; the file is damaged, save it again")
            out.append(TemplateItem(None, tuple(special_tokens[name]["ids"]), item["SpecialToken"]["type_id"]))
    return tuple(out)


def _template(section: dict | None, where: str) -> Template:
    kind = _section_type(section, "post_processor", where)
    if kind is None:
        return Template()
    if kind == "TemplateProcessing":
        specials = section.get("special_tokens", {})
        return Template(_template_items(section["single"], specials, where),
                        _template_items(section["pair"], specials, where))
    if kind == "BertProcessing":  # the older spelling of [CLS] A [SEP] / [CLS] A [SEP] B [SEP]
        cls = TemplateItem(None, (section["cls"][1],))
        sep, sep_b = TemplateItem(None, (section["sep"][1],)), TemplateItem(None, (section["sep"][1],), 1)
        return Template((cls, TemplateItem("A"), sep),
                        (cls, TemplateItem("A"), sep, TemplateItem("B", type_id=1), sep_b))
    raise TokenizerFileError(f"{where} has a {kind} post-processor; zoo's WordPiece tokenizer understands "
                             f"TemplateProcessing and BertProcessing; {USE_REFERENCE}")


def _truncation(section: dict | None) -> Truncation | None:
    if section is None:
        return None
    return Truncation(section["max_length"], _snake(section.get("strategy", "LongestFirst")),
                      section.get("direction", "Right").lower())


def _padding(section: dict | None, vocab: dict[str, int]) -> Padding:
    if section is None:  # pad to the longest row with [PAD], as `enable_padding()` would
        return Padding(pad_id=vocab.get("[PAD]", 0))
    strategy = section.get("strategy", "BatchLongest")
    length = strategy["Fixed"] if isinstance(strategy, dict) else None
    return Padding(length, section.get("pad_id", 0), section.get("pad_type_id", 0),
                   section.get("direction", "Right").lower(), section.get("pad_to_multiple_of"))


def _snake(name: str) -> str:  # "LongestFirst" -> "longest_first"
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def read_wordpiece_parts(path: str | os.PathLike) -> dict:
    """The keyword arguments of `WordPieceTokenizer` described by the tokenizer.json at `path`."""
    from zoo.text.wordpiece import WordPiece  # wordpiece imports this module

    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise TokenizerFileError(f"no tokenizer file at {path}; pass the path of a tokenizer.json (for MiniLM, "
                                 "zoo.weights.minilm.minilm_files() / 'tokenizer.json')")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise TokenizerFileError(f"{path} is not a JSON file ({err}); pass a tokenizer.json written by the "
                                 "tokenizers package") from err
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict):
        raise TokenizerFileError(f"{path} has no \"model\" section, so it is not a Hugging Face tokenizer.json; "
                                 "pass the tokenizer.json that comes with the model")
    kind = model.get("type", "WordPiece" if "max_input_chars_per_word" in model else None)
    if kind != "WordPiece":
        raise TokenizerFileError(f"{path} describes a {kind or 'untyped'} tokenizer, not WordPiece; "
                                 f"zoo.text.WordPieceTokenizer reads BERT-style WordPiece files; {USE_REFERENCE}")
    try:
        normalizer = _normalizer(data.get("normalizer"), where)
        wordpiece = WordPiece(dict(model["vocab"]), model.get("unk_token", "[UNK]"),
                              model.get("continuing_subword_prefix") or "", model.get("max_input_chars_per_word", 100))
        added = [AddedToken(t["content"], t["id"], t.get("single_word", False), t.get("lstrip", False),
                            t.get("rstrip", False), t.get("normalized", True), t.get("special", False))
                 for t in data.get("added_tokens") or []]
        return dict(
            model=wordpiece, normalize=normalizer, pre_tokenize=_pre_tokenizer(data.get("pre_tokenizer"), where),
            raw_added=AddedTokenMatcher(t for t in added if not t.normalized),
            normalized_added=AddedTokenMatcher((t for t in added if t.normalized), normalizer),
            template=_template(data.get("post_processor"), where), truncation=_truncation(data.get("truncation")),
            padding=_padding(data.get("padding"), wordpiece.vocab), source=where)
    except (KeyError, TypeError, IndexError, AttributeError) as err:
        raise TokenizerFileError(f"{path} is a damaged tokenizer.json ({type(err).__name__}: {err}); pass the "
                                 "tokenizer.json that comes with the model") from err
