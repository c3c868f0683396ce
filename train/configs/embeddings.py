"""Word vectors on 1.34 M tokens (gensim's Lee corpus, Shakespeare, the food reviews), against gensim:

    python benchmarks/word2vec_vs_gensim.py      # needs ../shared/data/text and gensim (the dev extra)

The benchmark tokenises the three sources once, writes them as one corpus file (one sentence per line) and
trains each of our models on it through the training loop with its card's recipe and dim 100, and gensim's
Word2Vec(sg=1) on the same tokens, one core each. Scores: WordSim-353 Spearman over the 203 pairs the
vocabulary covers, and the Google analogies among the 30,000 most frequent words. The recipes below carry
the benchmark's settings; its corpus is the file it writes, so the command is the benchmark's.
"""
from train.configs import Recipe

SOURCE = "benchmarks/results/word2vec_vs_gensim.json"
COMMAND = "python benchmarks/word2vec_vs_gensim.py"
COMMON = {"min_freq": 5, "seed": 0, "model_overrides": {"embed_dim": 100}}

RECIPES = [
    Recipe(name="skipgram_three_corpora", model="skipgram", settings={**COMMON, "window": 5, "negatives": 5},
           command=COMMAND, measured={"wordsim353.spearman": 0.2569, "analogies.accuracy": 0.0613, "train_seconds": 62.1}, source=SOURCE, at=("results", "zoo_skipgram")),
    Recipe(name="cbow_three_corpora", model="cbow", settings={**COMMON, "window": 5, "negatives": 5},
           command=COMMAND, measured={"wordsim353.spearman": 0.1803, "analogies.accuracy": 0.0261, "train_seconds": 21.5}, source=SOURCE, at=("results", "zoo_cbow")),
    Recipe(name="glove_three_corpora", model="glove", settings={**COMMON, "window": 10, "epochs": 15, "x_max": 10.0},
           command=COMMAND, measured={"wordsim353.spearman": 0.2293, "analogies.accuracy": 0.0339, "train_seconds": 68.2}, source=SOURCE, at=("results", "zoo_glove")),
]
