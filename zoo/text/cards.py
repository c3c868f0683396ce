"""Registry cards of the word-embedding models: skip-gram, CBOW (word2vec) and GloVe.

They learn word vectors from a corpus rather than predict labels, so their tasks (train.tasks.word2vec,
train.tasks.glove) derive the vocabulary from the corpus and fill `vocab_size` from it."""
from __future__ import annotations

from zoo.registry import Reference, register_model
from zoo.text.glove import GloVe
from zoo.text.word2vec import CBOW, SkipGram

NEGATIVES = 5  # in the example batch: negatives per positive
_SOURCE = ("measured here: benchmarks/word2vec_vs_gensim.py on 1.34 M tokens (Lee corpus, Shakespeare, food "
           "reviews), dim 100, the card's recipe; gensim Word2Vec(sg=1) on the same tokens: 0.216")
_CORPUS = "lee + shakespeare + food reviews (1.34 M tokens)"
_RECIPE = {"epochs": 5, "batch_size": 1024, "optimizer": "sgd", "lr": 0.025, "schedule": "linear",
           "validation_fraction": 0.0}


def _ids(key, shape, vocab):
    import jax

    return jax.random.randint(key, shape, 0, vocab)


def skipgram_example(card, batch_size: int, seed: int = 0):
    """centres [B], contexts [B], negatives [B, K]."""
    import jax

    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    vocab = card.defaults["vocab_size"]
    return _ids(k1, (batch_size,), vocab), {"contexts": _ids(k2, (batch_size,), vocab),
                                            "negatives": _ids(k3, (batch_size, NEGATIVES), vocab)}


def cbow_example(card, batch_size: int, seed: int = 0):
    """contexts [B, 4] (the last one masked out), their mask, centres [B], negatives [B, K]."""
    import jax
    import jax.numpy as jnp

    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    vocab = card.defaults["vocab_size"]
    mask = jnp.ones((batch_size, 4), bool).at[:, -1].set(False)
    return _ids(k1, (batch_size, 4), vocab), {"context_mask": mask, "centers": _ids(k2, (batch_size,), vocab),
                                              "negatives": _ids(k3, (batch_size, NEGATIVES), vocab)}


def glove_example(card, batch_size: int, seed: int = 0):
    """Co-occurrence entries: rows [B] (words), cols [B] (context words)."""
    import jax

    k1, k2 = jax.random.split(jax.random.key(seed))
    vocab = card.defaults["vocab_size"]
    return _ids(k1, (batch_size,), vocab), {"cols": _ids(k2, (batch_size,), vocab)}


def register_all() -> None:
    common = dict(family="embedding", loss="", default_dataset="lee_corpus", input_dtype="int32",
                  data_fields={"vocab_size": "vocab_size"})
    register_model(
        "skipgram", SkipGram, task="word2vec", **common,
        input_spec="int32 centre ids [B], context ids [B], negative ids [B, K] -> loss per pair [B]",
        example_input_shape=(), example=skipgram_example, defaults={"vocab_size": 1000, "embed_dim": 100},
        reference=Reference("wordsim353_spearman", 0.257, _CORPUS, _SOURCE),
        description="word2vec skip-gram with negative sampling (Mikolov et al. 2013): predict each context word "
                    "from the centre word; frequent-word subsampling, random window shrinking, linear rate decay.",
        # batch: (centre, context) pairs per step, as the reference trains pair by pair
        recipe={**_RECIPE, "batch_size": 4096, "window": 5, "negatives": NEGATIVES, "subsample": 1e-3,
                "min_freq": 5})
    register_model(
        "cbow", CBOW, task="word2vec", **common,
        input_spec="int32 context ids [B, C] with a mask [B, C], centre ids [B], negative ids [B, K] -> loss [B]",
        example_input_shape=(4,), example=cbow_example, defaults={"vocab_size": 1000, "embed_dim": 100},
        reference=Reference("wordsim353_spearman", 0.180, _CORPUS, _SOURCE.replace("dim 100", "dim 100, CBOW")),
        description="word2vec CBOW with negative sampling: predict the centre word from the mean of its context.",
        recipe={**_RECIPE, "window": 5, "negatives": NEGATIVES, "subsample": 1e-3, "min_freq": 5})
    register_model(
        "glove", GloVe, task="glove", **common,
        input_spec="int32 word ids [B], context word ids [B] (co-occurrence entries) -> predicted log X [B]",
        example_input_shape=(), example=glove_example, defaults={"vocab_size": 1000, "embed_dim": 50},
        reference=Reference("wordsim353_spearman", 0.229, _CORPUS, _SOURCE.replace("dim 100", "dim 100, GloVe "
                                                                                      "x_max 10, 15 epochs")),
        description="GloVe (Pennington et al. 2014): weighted least squares on log co-occurrence counts, "
                    "AdaGrad per entry as in the reference implementation; vectors W + W~.",
        # GloVe's own per-entry AdaGrad (train.tasks.glove) at this rate; no Optax optimizer is chosen.
        recipe={"epochs": 25, "batch_size": 4096, "lr": 0.05, "window": 10, "x_max": 100.0, "min_freq": 5,
                "validation_fraction": 0.0})
