"""zoo-generate for Transformer language models: a gpt_nano trained through the loop samples with the KV cache
(top-p included), SmolLM2's pretrained weights answer a chat prompt, streamed piece by piece, and the text
pieces of a stream never split a character."""
import io

import pytest

@pytest.fixture(scope="module")
def gpt_run(tmp_path_factory):
    from helpers import train_tiny_language_model

    root = tmp_path_factory.mktemp("gpt_lm")
    train_tiny_language_model(root, "gpt_nano", {"hidden_size": 32, "num_layers": 1, "num_heads": 2,
                                                 "max_positions": 64})
    return root / "run"


def test_a_trained_gpt_samples_through_the_kv_cache(gpt_run, capsys):
    from train.cli.generate import main
    from zoo.text import TextCodec

    vocabulary = set(TextCodec.load(gpt_run / "codec.json").vocab.tokens[4:])
    assert main(["gpt_nano", "--workdir", str(gpt_run), "--prompt", "To be", "--max-new-tokens", "30",
                 "--temperature", "0.8", "--top-p", "0.9", "--seed", "3"]) == 0
    text = capsys.readouterr().out[:-1]
    assert text.startswith("To be") and len(text) == len("To be") + 30 and set(text) <= vocabulary

    assert main(["gpt_nano", "--workdir", str(gpt_run), "--length", "20", "--greedy", "--num-samples", "2"]) == 0
    first, second = (part.split("\n", 1)[1][:-1] for part in capsys.readouterr().out.split("--- sample")[1:])
    assert first == second and len(first) == 20


def test_flags_for_pretrained_models_are_refused_with_a_workdir(gpt_run, capsys):
    from train.cli.generate import main

    with pytest.raises(SystemExit):
        main(["gpt_nano", "--workdir", str(gpt_run), "--chat", "--prompt", "hi"])
    assert "leave out --workdir" in capsys.readouterr().err
    assert main(["gpt_nano", "--prompt", "hi"]) == 2  # no workdir, no pretrained weights
    assert "has no pretrained weights" in capsys.readouterr().err


class ByteTokenizer:
    """Token i is byte i: characters of several bytes arrive over several tokens."""

    special_ids = frozenset()

    def decode(self, ids, skip_special_tokens=False):
        return bytes(ids).decode("utf-8", errors="replace")


def test_stream_pieces_hold_back_partial_characters():
    from train.cli.generate_pretrained import text_pieces

    text = "naïve café 🍕!"
    pieces = list(text_pieces(ByteTokenizer(), text.encode()))
    assert "".join(pieces) == text and all("\ufffd" not in piece for piece in pieces)
    assert "🍕" in pieces  # its four bytes come out as one piece, once the last one arrives


class Recorder(io.StringIO):
    """stdout that remembers each write: a streamed answer arrives in several."""

    def __init__(self):
        super().__init__()
        self.pieces = []

    def write(self, text):
        self.pieces.append(text)
        return super().write(text)


def test_smollm2_answers_a_chat_prompt_streaming(monkeypatch):
    from train.cli.generate import main
    from zoo.weights.pretrained import MissingWeightsError
    from zoo.weights.smollm2 import smollm2_gguf

    try:
        smollm2_gguf()
    except MissingWeightsError as err:
        pytest.skip(str(err))
    out = Recorder()
    monkeypatch.setattr("sys.stdout", out)
    assert main(["smollm2_135m", "--prompt", "What is the capital of France?", "--chat", "--greedy",
                 "--max-new-tokens", "24"]) == 0
    assert "Paris" in out.getvalue() and len(out.pieces) > 3  # streamed: several pieces, then the newline
    assert out.getvalue().endswith("\n") and "<|im_end|>" not in out.getvalue()
