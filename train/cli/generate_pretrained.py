"""`zoo-generate MODEL --prompt TEXT` for a language model with pretrained weights (no --workdir): the weights and
the tokenizer come from the card's weights file (SmolLM2's GGUF carries both), and the continuation streams to
the terminal as it is decoded (zoo.text.generation.stream: a KV cache, one compiled step per token).

    zoo-generate smollm2_135m --prompt "What is gravity?" --chat --max-new-tokens 64
    zoo-generate smollm2_135m --prompt "Once upon a time" --temperature 0.8 --top-p 0.9 --seed 3
"""
from __future__ import annotations

import sys
from typing import Iterable, Iterator, TextIO

from zoo.errors import ZooError


class PretrainedGenerateError(ZooError):
    """A model or weights file that zoo-generate cannot run without a training workdir."""


def load_pretrained_lm(model_name: str, source: str | None = None):
    """(model, variables, tokenizer) from the card's named weights (or a path): GGUF files give both."""
    import zoo
    from zoo.text import BPETokenizer
    from zoo.weights import load_pretrained
    from zoo.weights.pretrained import resolve_source

    card = zoo.model_card(model_name)
    if card.task != "language_model":
        raise PretrainedGenerateError(f"{model_name} is a {card.task} model; zoo-generate continues text with "
                                      "language models")
    if not card.pretrained and source is None:
        raise PretrainedGenerateError(f"{model_name} has no pretrained weights; train it and pass --workdir DIR "
                                      f"(zoo-train {model_name} --workdir DIR), or pass --weights FILE")
    path = resolve_source(model_name, source)
    if not path.name.lower().endswith(".gguf"):
        raise PretrainedGenerateError(f"{path} carries no tokenizer; zoo-generate without --workdir reads GGUF "
                                      "files (weights and tokenizer in one), e.g. smollm2_135m's")
    model, variables = load_pretrained(model_name, path, strict=True)
    return model, variables, BPETokenizer.from_gguf(path)


def prompt_ids(tokenizer, prompt: str, *, chat: bool, system: str | None) -> list[int]:
    """The prompt's ids: raw text, or (chat) a user turn in the model's chat template, ready for its answer."""
    if not chat:
        if not prompt:
            raise PretrainedGenerateError("give a --prompt to continue (or --chat with a question)")
        return tokenizer.encode(prompt)
    if not tokenizer.chat_template:
        raise PretrainedGenerateError("this tokenizer has no chat template; drop --chat and give the raw prompt")
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)


def text_pieces(tokenizer, ids: Iterable[int]) -> Iterator[str]:
    """The text of a growing id sequence, piece by piece: a character split across tokens (UTF-8 bytes) is
    held back until its last byte arrives, so the pieces join to decode(all ids)."""
    produced: list[int] = []
    shown = ""
    for token in ids:
        produced.append(token)
        text = tokenizer.decode(produced, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # an incomplete character: wait for its next bytes
            continue
        yield text[len(shown):]
        shown = text
    text = tokenizer.decode(produced, skip_special_tokens=True)
    if len(text) > len(shown):
        yield text[len(shown):]


def run(model_name: str, *, prompt: str, weights: str | None, max_new_tokens: int, temperature: float, top_k: int,
        top_p: float, greedy: bool, seed: int, chat: bool, system: str | None,
        out: TextIO | None = None) -> str:
    """Stream the continuation of `prompt` to `out` (default stdout), flushing each piece; returns it whole."""
    import jax

    from zoo.text.generation import Sampling, stream

    model, variables, tokenizer = load_pretrained_lm(model_name, weights)
    ids = prompt_ids(tokenizer, prompt, chat=chat, system=system)
    sampling = Sampling(greedy=greedy, temperature=temperature, top_k=top_k, top_p=top_p)
    stops = sorted(tokenizer.special_ids)  # <|endoftext|>, <|im_end|>, ...: any control token ends the text
    out = out or sys.stdout
    if not chat:
        out.write(prompt)
    pieces = []
    tokens = stream(model, variables, ids, max_new_tokens=max_new_tokens, key=jax.random.key(seed),
                    sampling=sampling, stop_ids=stops, pad_id=tokenizer.pad_id)
    for piece in text_pieces(tokenizer, tokens):
        pieces.append(piece)
        out.write(piece)
        out.flush()
    out.write("\n")
    return "".join(pieces)

