"""`zoo-generate MODEL --workdir DIR`: sample text from a language model trained by `zoo-train`; without
--workdir, from a model's pretrained weights (train.cli.generate_pretrained), streamed as it is decoded.

    zoo-generate char_gru --workdir runs/shakespeare --prompt "ROMEO:" --length 400 --temperature 0.8
    zoo-generate char_lstm --workdir runs/lm --greedy --length 200
    zoo-generate gpt_nano --workdir runs/gpt --num-samples 3 --top-k 5 --top-p 0.9 --seed 1
    zoo-generate smollm2_135m --prompt "What is gravity?" --chat --max-new-tokens 64

Reads what the training run left in DIR: config.json (the model and its overrides; written when the run
starts, so a run stopped part-way can be sampled from its last checkpoint), codec.json (the data set's
characters) and the latest checkpoint under DIR/checkpoints (its params only; no optimizer is rebuilt).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from train.cli.errors import run_command
from zoo.errors import ZooError


class GenerateError(ZooError):
    """A workdir that cannot be sampled from, or a prompt the model cannot read."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zoo-generate", description="Print text sampled from a trained language "
                                "model (e.g. char_gru) in a zoo-train workdir.")
    p.add_argument("model", metavar="MODEL", help="the registered model the workdir trained, e.g. char_gru")
    p.add_argument("--workdir", metavar="DIR", help="the training run's --workdir (leave out for a model with "
                   "pretrained weights, e.g. smollm2_135m)")
    p.add_argument("--weights", metavar="SOURCE", help="without --workdir: the card's named weights or a GGUF path "
                   "(default: the card's weights)")
    p.add_argument("--prompt", default="", metavar="TEXT",
                   help="text to continue (printed before the continuation); default: start of a line")
    p.add_argument("--length", "--max-new-tokens", dest="length", type=int, default=None, metavar="N",
                   help="tokens to generate (a stop token ends pretrained models earlier); default 200, or 64 "
                        "without --workdir")
    p.add_argument("--temperature", type=float, default=1.0, metavar="T",
                   help="softmax temperature: < 1 safer, > 1 more varied, 0 = greedy; default 1.0")
    p.add_argument("--top-k", type=int, default=0, metavar="K", help="sample among the K most likely tokens only; "
                                                                       "0 = all (default)")
    p.add_argument("--top-p", type=float, default=1.0, metavar="P", help="sample within the smallest set of tokens "
                   "whose probability reaches P (nucleus); 1 = all (default)")
    p.add_argument("--greedy", action="store_true", help="always take the most likely token (deterministic)")
    p.add_argument("--chat", action="store_true", help="without --workdir: the prompt is a user message, wrapped "
                   "in the model's chat template")
    p.add_argument("--system", metavar="TEXT", help="with --chat: a system message before the user's")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed; same seed, same text (default 0)")
    p.add_argument("--num-samples", type=int, default=1, metavar="M", help="independent samples to print (default 1)")
    return p


def _read_json(path: Path, what: str, fix: str) -> dict:
    if not path.is_file():
        raise GenerateError(f"{path} not found: {what}. {fix}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise GenerateError(f"{path} is not valid JSON ({err}); {fix}") from None


def load_language_model(model_name: str, workdir: str | Path):
    """(model, variables, codec) from a finished training run in `workdir`."""
    import jax

    import zoo
    from train.checkpoint import describe_mismatch, signature
    from train.steps.lora import LORA_KEY, model_view
    from train.config import TransferConfig
    from zoo.text.codec import load_codec

    workdir = Path(workdir)
    if not workdir.is_dir():
        raise GenerateError(f"workdir {workdir} does not exist; pass the --workdir of a zoo-train run")
    card = zoo.model_card(model_name)  # unknown names fail here, with suggestions
    if card.task != "language_model":
        language_models = [n for n in zoo.list_models() if zoo.model_card(n).task == "language_model"]
        raise GenerateError(f"{model_name} is a {card.task} model; zoo-generate samples from language models "
                            f"({', '.join(language_models)})")
    _checkpointer(workdir, model_name).close()  # no checkpoint: say so before anything else
    if (workdir / "config.json").is_file():  # written when the run starts: an interrupted run works too
        config = _read_json(workdir / "config.json", "", f"Retrain in a fresh --workdir (zoo-train {model_name})")
    else:  # runs from before config.json existed
        config = _read_json(workdir / "summary.json", "neither config.json nor summary.json is there",
                            f"Train there first: zoo-train {model_name} --workdir {workdir}").get("config", {})
    if config.get("model") != model_name:
        raise GenerateError(f"{workdir} trained {config.get('model')!r}, not {model_name!r}; run "
                            f"zoo-generate {config.get('model')} --workdir {workdir}, or point --workdir at a "
                            f"{model_name} run")
    codec_path = workdir / "codec.json"
    if not codec_path.is_file():
        raise GenerateError(f"{codec_path} not found: the run did not save its text codec, so its token ids "
                            "cannot be turned back into text. Retrain with a text data set (e.g. --data shakespeare)")
    codec = load_codec(codec_path)

    overrides = dict(config.get("model_overrides") or ())
    model = zoo.create(model_name, **{**overrides, "vocab_size": len(codec.vocab)})
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), np.ones((1, 1), np.int32)))["params"]
    expected = signature(jax.tree.map(lambda s: np.empty(s.shape, s.dtype), shapes))
    params = _latest_params(workdir, model_name)
    lora = TransferConfig(**{k: v for k, v in (config.get("transfer") or {}).items()
                             if k.startswith("lora_")}).lora()
    if lora is not None and LORA_KEY in params:  # a LoRA run: its adapters merged into the frozen weights
        params = model_view(lora)(params)
    if signature(params) != expected:
        raise GenerateError(f"the checkpoint in {workdir / 'checkpoints'} does not fit {model_name} with the overrides in "
                            f"config.json and {len(codec.vocab)} tokens from codec.json:\n"
                            f"{describe_mismatch(signature(params), expected)}\n"
                            "The workdir's files come from different runs; retrain in a fresh --workdir.")
    return model, {"params": params}, codec


def _checkpointer(workdir: Path, model_name: str):
    """The run's Checkpointer (close it after use); fails when the workdir holds no checkpoint."""
    from train.checkpoint import Checkpointer

    checkpoints = workdir / "checkpoints"
    fix = f"train there first: zoo-train {model_name} --workdir {workdir}"
    if not checkpoints.is_dir():  # checked first: opening a Checkpointer would create the directory
        raise GenerateError(f"no checkpoint in {workdir} (no {checkpoints} directory); {fix}")
    checkpointer = Checkpointer(checkpoints)
    if checkpointer.latest_step() is None:
        checkpointer.close()
        raise GenerateError(f"no checkpoint in {checkpoints}; {fix}")
    return checkpointer


def _latest_params(workdir: Path, model_name: str) -> dict:
    """The latest checkpoint's params as nested dicts, read without a template (no optimizer is rebuilt)."""
    checkpointer = _checkpointer(workdir, model_name)
    try:
        return checkpointer.restore_params()
    finally:
        checkpointer.close()


def _is_bpe(codec) -> bool:
    """A run on a pretrained byte-level BPE (--tokenizer smollm2), not a vocabulary built from its text."""
    from zoo.text.bpe_codec import BPECodec

    return isinstance(codec, BPECodec)


def encode_prompt(codec, prompt: str) -> np.ndarray:
    """Prompt text -> ids [P]; an empty prompt starts a new line (or, without one in the vocabulary, <bos>)."""
    from zoo.text.vocab import BOS_ID, SPECIALS, UNK_ID

    if _is_bpe(codec):  # a pretrained BPE spells any text: no <unk>
        return codec.encode(prompt or "\n")
    if not prompt:
        newline = codec.vocab.id("\n")
        return np.array([newline if newline != UNK_ID else BOS_ID], np.int32)
    tokens = codec.tokenizer(prompt)
    unknown = sorted({t for t in tokens if codec.vocab.id(t) == UNK_ID})
    if unknown:
        kind = "character" if codec.tokenizer.name == "char" else "token"
        raise GenerateError(f"the prompt has {len(unknown)} {kind}(s) not in the model's vocabulary: "
                            f"{', '.join(repr(t) for t in unknown)}; remove or replace them (the vocabulary "
                            f"holds the {len(codec.vocab) - len(SPECIALS)} {kind}s of the training text)")
    return np.asarray(codec.encode(prompt), np.int32)


def generate(model_name: str, workdir: str | Path, *, prompt: str = "", length: int = 200, temperature: float = 1.0,
             top_k: int = 0, top_p: float = 1.0, greedy: bool = False, seed: int = 0,
             num_samples: int = 1) -> list[str]:
    """`num_samples` texts: `prompt` followed by `length` generated tokens."""
    import jax

    from zoo.text.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

    model, variables, codec = load_language_model(model_name, workdir)
    if top_k > len(codec.vocab):
        raise GenerateError(f"--top-k {top_k} is more than the {len(codec.vocab)} tokens of the vocabulary; "
                            "use a smaller K, or 0 for no filtering")
    prompt_ids = np.tile(encode_prompt(codec, prompt), (num_samples, 1))
    # No special tokens: the continuation is exactly `length` characters of the vocabulary.
    never = tuple(sorted(codec.tokenizer.special_ids)) if _is_bpe(codec) else (PAD_ID, UNK_ID, BOS_ID, EOS_ID)
    key = jax.random.key(seed)
    if hasattr(model, "init_cache"):  # Transformers (GPT, Llama): KV-cache decoding, one while_loop
        from zoo.text.generation import Sampling, generate as generate_cached

        sampling = Sampling(greedy=greedy, temperature=temperature, top_k=top_k, top_p=top_p, suppress_ids=never)
        ids = generate_cached(model, variables, prompt_ids.tolist(), max_new_tokens=length, key=key,
                              sampling=sampling).tokens
    else:  # recurrent models step their own state
        from zoo.sequence.sampling import sample

        if top_p < 1.0:
            raise GenerateError(f"--top-p is for Transformer language models; {model_name} samples with "
                                "--temperature and --top-k")
        ids = sample(model, variables, prompt_ids, length, key, temperature=temperature, top_k=top_k,
                     greedy=greedy, suppress_ids=never)
    if _is_bpe(codec):  # a pretrained BPE spells its own text
        return [prompt + codec.decode(row) for row in ids]
    # Joined the tokenizer's way: nothing between characters, a space between words.
    return [codec.tokenizer.join([*codec.tokenizer(prompt), *codec.vocab.decode(row)]) for row in ids]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    pretrained = args.workdir is None
    length = args.length if args.length is not None else (64 if pretrained else 200)
    if length < 1:
        parser.error("--length / --max-new-tokens must be at least 1")
    if not (0 <= args.temperature < math.inf):  # also refuses nan, which compares false with everything
        parser.error(f"--temperature must be a finite number >= 0 (0 = greedy), got {args.temperature}")
    if args.top_k < 0:
        parser.error("--top-k must be >= 0 (0 = no filtering)")
    if not 0 < args.top_p <= 1:
        parser.error(f"--top-p must be in (0, 1] (1 = no nucleus filter), got {args.top_p}")
    if args.num_samples < 1:
        parser.error("--num-samples must be at least 1")
    if not pretrained and (args.chat or args.weights or args.system):
        parser.error("--chat, --system and --weights are for pretrained models (leave out --workdir)")

    def command() -> int:
        if pretrained:
            from train.cli.generate_pretrained import run

            for sample in range(args.num_samples):
                if args.num_samples > 1:
                    print(f"--- sample {sample + 1} of {args.num_samples} ---")
                run(args.model, prompt=args.prompt, weights=args.weights, max_new_tokens=length,
                    temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, greedy=args.greedy,
                    seed=args.seed + sample, chat=args.chat, system=args.system)
            return 0
        texts = generate(args.model, args.workdir, prompt=args.prompt, length=length,
                         temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, greedy=args.greedy,
                         seed=args.seed, num_samples=args.num_samples)
        for i, text in enumerate(texts):
            if len(texts) > 1:
                print(f"--- sample {i + 1} of {len(texts)} ---")
            print(text)
        return 0

    return run_command("zoo-generate", command)


if __name__ == "__main__":
    sys.exit(main())
