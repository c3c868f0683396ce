"""BERT pre-training: masking statistics, sentence pairs, the pre-training heads (and their parity with Hugging
Face's BertForPreTraining), and the masked_lm task training, resuming and running under a device axis."""
import collections
import json
import math
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo
from conftest import quick
from helpers import saved_networks
from train import train_and_evaluate
from train.cli.train import main as train_main
from train.data.sentence_pairs import (CLS_ID, FIRST_WORD_ID, IS_NEXT, MASK, MASK_ID, NOT_NEXT, SEP_ID, Segments,
                                       SentencePairs, load_text_pairs, mask_tokens, max_predictions, pretraining_vocab)
from train.data.text import TextOptions
from train.parallel import make_parallel
from train.tasks import task_for
from zoo.errors import SettingError, ZooError
from zoo.text.bert_pretraining import BertPretraining
from zoo.text.vocab import PAD_ID, SPECIALS, UNK_ID
from zoo.weights.convert import torch_to_flax
from zoo.weights.hf_bert import bert_key

TINY = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "mlp_dim": 64, "max_positions": 32,
        "dropout_rate": 0.0, "attention_dropout_rate": 0.0}
SMALL = {**TINY, "hidden_size": 64, "mlp_dim": 128}  # learns the toy text's NSP cue within ~60 steps


# --- masking -----------------------------------------------------------------------------------------------------

def random_rows(rng, rows=4000, length=64, vocab=500):
    """Word ids with [CLS] ... [SEP] ... [SEP], <unk>s and right padding of random length, like real batches."""
    ids = rng.integers(FIRST_WORD_ID, vocab, (rows, length))
    ids[rng.random((rows, length)) < 0.05] = UNK_ID
    ids[:, 0] = CLS_ID
    ids[:, length // 2] = SEP_ID
    for row, real in enumerate(rng.integers(length // 2 + 2, length + 1, rows)):
        ids[row, real - 1] = SEP_ID
        ids[row, real:] = PAD_ID
    return ids.astype(np.int32)


def test_masking_follows_bert_statistics():
    rng = np.random.default_rng(0)
    ids = random_rows(rng)
    P = max_predictions(ids.shape[1])
    inputs, positions, targets, weights = mask_tokens(ids, np.random.default_rng(1), 500, P)
    chosen = weights > 0
    words = ids >= FIRST_WORD_ID
    # round(15 %) of each row's words, at least one, as create_pretraining_data.py counts them.
    expected = np.maximum(1, np.rint(0.15 * words.sum(1)))
    np.testing.assert_array_equal(chosen.sum(1), expected)
    assert abs(chosen.sum() / words.sum() - 0.15) < 0.005
    # Only words are chosen (never [CLS], [SEP], padding or <unk>), each position at most once.
    rows = np.nonzero(chosen)[0]
    picked = positions[chosen]
    assert (ids[rows, picked] >= FIRST_WORD_ID).all()
    assert len(set(zip(rows.tolist(), picked.tolist()))) == len(picked)
    np.testing.assert_array_equal(targets[chosen], ids[rows, picked])
    # Unused slots weigh nothing and change nothing.
    assert (targets[~chosen] == PAD_ID).all() and (positions[~chosen] == 0).all()
    untouched = np.ones_like(ids, bool)
    untouched[rows, picked] = False
    np.testing.assert_array_equal(inputs[untouched], ids[untouched])
    # 80 / 10 / 10: [MASK], a random word, unchanged (a random draw equal to the original counts as "unchanged").
    after = inputs[rows, picked]
    n = len(picked)
    masked, kept = (after == MASK_ID).mean(), (after == ids[rows, picked]).mean()
    assert abs(masked - 0.8) < 0.01 and abs(kept - (0.1 + 0.1 / 495)) < 0.006
    assert abs((1 - masked - kept) - 0.1) < 0.006 and n > 20000  # 3 standard deviations: 0.0055
    replaced = after[(after != MASK_ID) & (after != ids[rows, picked])]
    assert (replaced >= FIRST_WORD_ID).all() and replaced.max() < 500  # random words, never specials


def test_masking_is_seeded_and_handles_short_rows():
    ids = random_rows(np.random.default_rng(0), rows=50)
    a = mask_tokens(ids, np.random.default_rng(7), 500, 10)
    b = mask_tokens(ids, np.random.default_rng(7), 500, 10)
    c = mask_tokens(ids, np.random.default_rng(8), 500, 10)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[1], c[1])
    # One word: it is chosen; no word at all: nothing is.
    short = np.array([[CLS_ID, 9, SEP_ID, SEP_ID, 0], [CLS_ID, UNK_ID, SEP_ID, SEP_ID, 0]], np.int32)
    _, positions, targets, weights = mask_tokens(short, np.random.default_rng(0), 20, 3)
    np.testing.assert_array_equal(weights, [[1, 0, 0], [0, 0, 0]])
    assert positions[0, 0] == 1 and targets[0, 0] == 9


# --- sentence pairs ----------------------------------------------------------------------------------------------

def test_vocabulary_puts_mask_after_the_specials():
    vocab = pretraining_vocab([["b", "a", "b", "c"], ["b", "a"]], max_size=7)
    assert vocab.tokens == (*SPECIALS, MASK, "b", "a")
    assert vocab.id(MASK) == MASK_ID == 4 and FIRST_WORD_ID == 5


def test_segments_keep_whole_lines_within_budget():
    lines = [np.arange(n) + 5 for n in (3, 4, 2, 9, 1)]
    segments = Segments.of_lines(lines, 6)
    assert [len(segments[i]) for i in range(len(segments))] == [3, 6, 6, 4]  # 3 | 4+2 | 9 -> 6, 3+1
    np.testing.assert_array_equal(segments.ids, np.concatenate(lines))


def pair_source(segments=40, length=5, seq_len=16, **kwargs):
    lines = [np.full(length, FIRST_WORD_ID + i, np.int32) for i in range(segments)]  # segment i is all word i
    return SentencePairs(Segments.of_lines(lines, (seq_len - 3) // 2), seq_len, FIRST_WORD_ID + segments, **kwargs)


def test_pairs_are_cls_a_sep_b_sep_with_half_random_partners():
    source = pair_source()
    batch = source.collate(np.arange(39), rng=np.random.default_rng(0))
    originals = batch["x"].copy()
    rows, picked = np.nonzero(batch["mlm_weights"])
    originals[rows, batch["positions"][rows, picked]] = batch["y"][rows, picked]  # undo the masking
    for i in range(39):
        ids, types = originals[i], batch["token_types"][i]
        assert ids[0] == CLS_ID and ids[6] == SEP_ID and ids[12] == SEP_ID and (ids[13:] == PAD_ID).all()
        np.testing.assert_array_equal(types, [0] * 7 + [1] * 6 + [0] * 3)
        a, b = ids[1] - FIRST_WORD_ID, ids[7] - FIRST_WORD_ID
        assert a == i and (ids[1:6] == ids[1]).all() and (ids[7:12] == ids[7]).all()
        assert (b == a + 1) == (batch["next"][i] == IS_NEXT)  # a random partner is never the true next, nor A
        assert b != a
    labels = np.concatenate([source.collate(np.arange(39), rng=np.random.default_rng(s))["next"] for s in range(40)])
    assert abs(labels.mean() - 0.5) < 0.04 and set(labels.tolist()) == {IS_NEXT, NOT_NEXT}
    assert (source.with_random_next(0.0).collate(np.arange(39), rng=np.random.default_rng(0))["next"] == 0).all()


def test_held_out_examples_are_fixed_whatever_the_batch():
    source = pair_source(held_out=True)
    whole = source.collate(np.arange(12), capacity=16)
    assert whole["mask"].tolist() == [1.0] * 12 + [0.0] * 4 and len(whole["x"]) == 16
    for i in (0, 5, 11):
        one = source.collate(np.array([i]), capacity=1)
        for key in ("x", "token_types", "positions", "y", "mlm_weights", "next"):
            np.testing.assert_array_equal(one[key][0], whole[key][i])
    part = source.subset(np.arange(4, 12))
    np.testing.assert_array_equal(part.collate(np.arange(3))["x"], whole["x"][4:7])


# --- the model ---------------------------------------------------------------------------------------------------

def tiny_model(**fields):
    return BertPretraining(**{"vocab_size": 50, **TINY, **fields})


def test_heads_tie_the_decoder_and_gather_masked_positions():
    model = tiny_model()
    ids = jax.random.randint(jax.random.key(0), (3, 12), 5, 50).at[2, 9:].set(0)
    types = jnp.zeros_like(ids).at[:, 6:].set(1)
    variables = model.init(jax.random.key(1), ids)
    params = variables["params"]
    assert {"mlm_transform", "mlm_norm", "mlm_bias", "nsp", "pooler", "word_embeddings"} <= set(params)
    assert params["mlm_bias"]["bias"].shape == (50,) and params["nsp"]["kernel"].shape == (32, 2)
    assert not any("decoder" in k for k in params)  # the decoder is word_embeddings itself
    full = model.apply(variables, ids, types)
    assert full.shape == (3, 12, 50) and full.dtype == jnp.float32
    positions = jnp.array([[1, 4], [0, 11], [3, 3]])
    picked, nsp = model.apply(variables, ids, types, masked_positions=positions, method="pretrain")
    assert nsp.shape == (3, 2)
    np.testing.assert_allclose(picked, jnp.take_along_axis(full, positions[..., None], axis=1), rtol=1e-5,
                               atol=1e-5)
    # Without the NSP head: no nsp parameters, no NSP logits; the pooler is still there (checkpoints carry it).
    plain = tiny_model(next_sentence=False)
    plain_params = plain.init(jax.random.key(1), ids)["params"]
    assert "nsp" not in plain_params and "pooler" in plain_params
    assert plain.apply({"params": plain_params}, ids, method="pretrain")[1] is None
    with pytest.raises(SettingError, match="add_pooler"):
        tiny_model(add_pooler=False).init(jax.random.key(0), ids)


def test_card():
    card = zoo.model_card("bert_mini")
    assert card.task == "masked_lm" and card.default_dataset == "shakespeare_pairs"
    assert isinstance(zoo.create("bert_mini"), BertPretraining)
    assert 1_000_000 < zoo.card("bert_mini")["param_count"] < 3_000_000


@pytest.mark.parity
def test_parity_with_hugging_face_bert_for_pretraining():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=48, max_position_embeddings=40, type_vocab_size=2,
                                     hidden_act="gelu", pad_token_id=0)
    torch.manual_seed(0)
    reference = transformers.BertForPreTraining(config).eval()
    with torch.no_grad():  # a random, not-near-zero bias and LayerNorm, so every parameter shows in the outputs
        for name, p in reference.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(0.1 * torch.randn_like(p))
    state = {k: v.detach().numpy() for k, v in reference.state_dict().items()}
    model = BertPretraining(vocab_size=99, hidden_size=32, num_layers=2, num_heads=4, mlp_dim=48, max_positions=40)
    ids = np.random.default_rng(0).integers(5, 99, (3, 17)).astype(np.int64)
    ids[1, 11:] = 0  # padding
    ids[2, 5:] = 0
    types = np.zeros_like(ids)
    types[:, 8:] = 1
    mask = (ids != 0).astype(np.int64)
    template = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.asarray(ids, jnp.int32)))
    variables = torch_to_flax(state, template, rename=bert_key, source="BertForPreTraining")
    mlm, nsp = model.apply(variables, jnp.asarray(ids, jnp.int32), jnp.asarray(types, jnp.int32),
                           attention_mask=jnp.asarray(mask), method="pretrain")
    with torch.no_grad():
        out = reference(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
                        attention_mask=torch.tensor(mask))
    want_mlm, want_nsp = out.prediction_logits.numpy(), out.seq_relationship_logits.numpy()
    real = mask.astype(bool)  # padded positions are meaningless in both
    mlm_error = np.abs(np.asarray(mlm)[real] - want_mlm[real]).max() / np.abs(want_mlm[real]).max()
    nsp_error = np.abs(np.asarray(nsp) - want_nsp).max() / np.abs(want_nsp).max()
    print(f"BertForPreTraining parity: relative error prediction_logits {mlm_error:.1e}, "
          f"seq_relationship_logits {nsp_error:.1e}")
    assert mlm_error < 1e-4 and nsp_error < 1e-4, (mlm_error, nsp_error)


# --- training ----------------------------------------------------------------------------------------------------

def topic_text(path: Path, lines=6144, topics=32, words=2, block=16, seed=0) -> Path:
    """Blocks of `block` lines, each line six words of one topic's own words: a masked word is guessable from
    its neighbours, and B continues A's topic far more often when it is A's true next segment than when it is
    a random one."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(lines // block):
        topic = rng.integers(topics)
        out += [" ".join(f"t{topic}w{w}" for w in rng.integers(words, size=6)) for _ in range(block)]
    path.mkdir(parents=True, exist_ok=True)
    (path / "shakespeare.txt").write_text("\n".join(out))
    return path


SETTINGS = dict(dataset="shakespeare_pairs", seq_len=32, batch_size=32, lr=5e-3, warmup_steps=5,
                schedule="constant", model_overrides=SMALL, log_every=100)


@pytest.fixture(scope="module")
def topics(tmp_path_factory):
    return topic_text(tmp_path_factory.mktemp("topics"))


def test_both_losses_fall(topics, tmp_path):
    run = train_and_evaluate(quick("bert_mini", data_dir=str(topics), epochs=4, limit_train=672, **SETTINGS),
                             tmp_path)
    history = run.summary["history"]
    vocab = len(json.loads((tmp_path / "codec.json").read_text())["tokens"])
    first, last = history[0], history[-1]
    # From chance (ln V and ln 2 at the first step) through the first epoch's mean to the last epoch's.
    assert first["train_mlm_loss"] > last["train_mlm_loss"] + 0.5 and first["train_nsp_loss"] > 0.65
    assert last["train_mlm_loss"] < 0.5 * math.log(vocab) and last["val_mlm_loss"] < 0.5 * math.log(vocab)
    assert last["train_nsp_loss"] < 0.6 and last["val_nsp_loss"] < 0.6  # from ln 2 = 0.693
    assert run.summary["test_accuracy"] > 0.35 and run.summary["test_nsp_accuracy"] > 0.58
    assert run.summary["test_masked_tokens"] > 100


def test_a_resumed_run_is_bitwise_the_same(topics, tmp_path):
    """Masks and pairs are drawn again exactly."""
    settings = dict(data_dir=str(topics), limit_train=128, **SETTINGS)  # the program test_cli_headline compiles
    run = train_and_evaluate(quick("bert_mini", epochs=2, **settings), tmp_path / "straight")
    half = train_and_evaluate(quick("bert_mini", epochs=1, **settings), tmp_path / "resumed")
    resumed = train_and_evaluate(quick("bert_mini", epochs=2, resume=True, allow_changed="epochs", **settings),
                                 tmp_path / "resumed")
    assert half.summary["steps"] * 2 == resumed.summary["steps"] == run.summary["steps"]
    jax.tree.map(np.testing.assert_array_equal, saved_networks(tmp_path / "straight")[0],
                 saved_networks(tmp_path / "resumed")[0])
    assert resumed.summary["test_accuracy"] == run.summary["test_accuracy"]


def test_cli_headline(topics, tmp_path, capsys):
    workdir = tmp_path / "run"
    args = ["bert_mini", "--data", "shakespeare_pairs", "--data-dir", str(topics), "--epochs", "1", "--seq-len", "32",
            "--batch-size", "32", "--lr", "5e-3", "--warmup-steps", "5", "--schedule", "constant", "--limit-train",
            "128", "--no-progress", "--no-plots", "--workdir", str(workdir),
            *[f"--set={k}={v}" for k, v in SMALL.items()]]
    assert train_main(args) == 0
    line = capsys.readouterr().out
    assert re.search(r"test masked-token accuracy 0\.\d{4} \(always 't\d+w\d': 0\.\d{4}\), MLM loss \d\.\d{4}, NSP "
                     r"accuracy 0\.\d{4}", line), line
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["test_masked_tokens"] > 0
    assert {"test_nsp_loss", "test_mlm_perplexity", "test_baseline_accuracy"} <= set(summary)


def test_the_step_under_a_device_axis_matches_the_global_batch(topics):
    """pmap's body: each of two 'devices' holds half the batch; psums and row-aware keys give the same step."""
    config = quick("bert_mini", data_dir=str(topics), epochs=1, **{**SETTINGS, "model_overrides": {
        **TINY, "num_layers": 1, "dropout_rate": 0.1}})
    from train.data import load_for_run
    task = task_for("masked_lm")(config, zoo.model_card("bert_mini"), load_for_run(config), make_parallel("jit"))
    state = task.init_state()
    batch = task.dataset.splits["train"].collate(np.arange(8), rng=np.random.default_rng(3))
    batch["mask"][-1] = 0.0  # a padded example counts nowhere
    whole, metrics = jax.jit(task.train_step)(state, batch)
    halves = jax.tree.map(lambda v: v.reshape(2, 4, *v.shape[1:]), batch)
    split, split_metrics = jax.jit(jax.vmap(lambda s, b: task.train_step(s, b, axis_name="devices"),
                                            in_axes=(None, 0), axis_name="devices"))(state, halves)
    for key in metrics:
        np.testing.assert_allclose(split_metrics[key][0], metrics[key], rtol=2e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[0], b, rtol=1e-4, atol=1e-6), split.params, whole.params)


def test_refuses_other_data_and_models(topics, tmp_path):
    with pytest.raises(ZooError, match=r"bert_mini is a masked_lm model but digits is a classification data set"):
        train_and_evaluate(quick("bert_mini", dataset="digits", epochs=1), tmp_path)
    ds = load_text_pairs(topics / "shakespeare.txt", TextOptions(seq_len=32))
    assert ds.task == "sentence_pairs" and set(ds.splits) == {"train", "validation", "test"}
    assert collections.Counter(ds.splits["train"].word_counts()[FIRST_WORD_ID:] > 0)[True] == 64  # 32 topics x 2 words
