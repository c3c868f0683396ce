"""Standard word-vector evaluations, scored exactly as gensim scores them.

`evaluate_analogies` reads the Google analogy set (`questions-words.txt`: sections start with ': ',
then lines "a b c expected" meaning a : b :: c : expected) and returns the same accuracy as gensim's
`KeyedVectors.evaluate_word_analogies`; `evaluate_word_pairs` reads word-similarity judgements
(WordSim-353: "word1<TAB>word2<TAB>score") and returns gensim's `evaluate_word_pairs` figures.

The rules followed (gensim 4):
- Only the first `restrict_vocab` words count; with `case_insensitive` words are compared upper-cased and
  a word with several case variants takes the row of its first (most frequent) variant.
- A question or pair with any word outside that vocabulary is skipped (counted as out-of-vocabulary);
  lines that do not split into 4 words (3 fields for pairs) are skipped silently; '#' lines are comments
  in the pairs file.
- The answer to a : b :: c : ? is the word of highest cosine with unit(unit(b) + unit(c) - unit(a))
  among the first `restrict_vocab` rows; the rows of a, b and c are left out, the 5 best remaining
  candidates are read in order and the first one whose (upper-cased) form is none of a, b, c is the
  answer. Sections with no answerable question score 0; 'Total accuracy' pools every section.

The data files ship inside gensim (`gensim/test/test_data/`); `gensim_test_file(name)` finds them.
"""
from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np

from zoo.errors import SettingError, ZooError
from zoo.text.vectors import WordVectors

ANALOGIES_FILE = "questions-words.txt"
WORD_PAIRS_FILE = "wordsim353.tsv"
TOTAL = "Total accuracy"
_CANDIDATES = 5  # how many ranked answers gensim reads before giving up


def gensim_test_file(name: str) -> Path:
    """Path of one of the evaluation files that ship with gensim (read without importing gensim)."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise ZooError(f"{name} ships with gensim's test data: pip install gensim, or pass the file's path")
    path = Path(list(spec.submodule_search_locations)[0]) / "test" / "test_data" / name
    if not path.is_file():
        raise ZooError(f"{path} is missing from this gensim installation; pass the file's path instead")
    return path


@dataclasses.dataclass(frozen=True)
class SectionScore:
    name: str
    correct: int
    incorrect: int

    @property
    def accuracy(self) -> float:
        answered = self.correct + self.incorrect
        return self.correct / answered if answered else 0.0


@dataclasses.dataclass(frozen=True)
class AnalogyResult:
    sections: tuple[SectionScore, ...]  # in file order, then the 'Total accuracy' pool
    questions: int  # well-formed questions in the file
    out_of_vocabulary: int  # of those, skipped for an unknown word

    @property
    def total(self) -> SectionScore:
        return self.sections[-1]

    @property
    def accuracy(self) -> float:
        return self.total.accuracy

    def as_dict(self) -> dict:
        return {"accuracy": self.accuracy, "correct": self.total.correct,
                "evaluated": self.total.correct + self.total.incorrect, "questions": self.questions,
                "out_of_vocabulary": self.out_of_vocabulary,
                "sections": {s.name: round(s.accuracy, 4) for s in self.sections[:-1]}}


@dataclasses.dataclass(frozen=True)
class WordPairResult:
    spearman: float
    pearson: float
    pairs: int  # pairs scored
    out_of_vocabulary: int  # pairs skipped for an unknown word

    @property
    def oov_ratio(self) -> float:
        """Percent of the pairs that were skipped, as gensim reports it."""
        return 100.0 * self.out_of_vocabulary / (self.pairs + self.out_of_vocabulary)

    def as_dict(self) -> dict:
        return {"spearman": self.spearman, "pearson": self.pearson, "pairs": self.pairs,
                "out_of_vocabulary": self.out_of_vocabulary}


def _restricted_index(vectors: WordVectors, restrict_vocab: int, case_insensitive: bool) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, word in enumerate(vectors.words[:restrict_vocab]):
        index.setdefault(word.upper() if case_insensitive else word, i)
    return index


def evaluate_analogies(vectors: WordVectors, path=None, *, restrict_vocab: int = 300_000,
                       case_insensitive: bool = True, chunk: int = 256) -> AnalogyResult:
    """Accuracy on an analogy file (default: gensim's questions-words.txt); see the module docstring."""
    path = Path(path) if path is not None else gensim_test_file(ANALOGIES_FILE)
    index = _restricted_index(vectors, restrict_vocab, case_insensitive)
    names: list[str] = []
    asked: list[tuple[int, int, int, int, tuple[str, str, str, str]]] = []  # section, rows a b c, words
    questions = oov = 0
    with path.open("rb") as lines:  # bytes split on b"\n" only, as gensim reads the file
        text = [line.decode("utf8") for line in lines]
    for line_no, line in enumerate(text):
        if line.startswith(": "):
            names.append(line.lstrip(": ").strip())
            continue
        if not names:
            raise SettingError(f"{path}: line {line_no} comes before the first ': section' header")
        words = [w.upper() for w in line.split()] if case_insensitive else line.split()
        if len(words) != 4:
            continue
        questions += 1
        if any(w not in index for w in words):
            oov += 1
            continue
        asked.append((len(names) - 1, index[words[0]], index[words[1]], index[words[2]], tuple(words)))

    correct = np.zeros(len(names), int)
    incorrect = np.zeros(len(names), int)
    if asked:
        answers = _answer(vectors.matrix[:restrict_vocab], [q[1:4] for q in asked], chunk)  # [Q, 5]
        keyed = [w.upper() if case_insensitive else w for w in vectors.words[:restrict_vocab]]
        for (section, _, _, _, (a, b, c, expected)), ranked in zip(asked, answers):
            predicted = None
            for row in ranked:
                predicted = keyed[row]
                if predicted not in (a, b, c):
                    break
            if predicted == expected:
                correct[section] += 1
            else:
                incorrect[section] += 1
    sections = [SectionScore(n, int(correct[i]), int(incorrect[i])) for i, n in enumerate(names)]
    sections.append(SectionScore(TOTAL, int(correct.sum()), int(incorrect.sum())))
    return AnalogyResult(tuple(sections), questions, oov)


def _answer(matrix: np.ndarray, rows_abc: list[tuple[int, int, int]], chunk: int) -> list[list[int]]:
    """The 5 best candidate rows per question, best first, the question's own rows left out. Arithmetic
    in float32 and in gensim's order, so near-ties break the same way."""
    matrix = np.asarray(matrix, np.float32)  # [N, D]
    norms = np.linalg.norm(matrix, axis=1)  # [N]
    rows = np.asarray(rows_abc)  # [Q, 3]
    unit = lambda r: matrix[r] / norms[r][:, None]
    mean = ((unit(rows[:, 1]) + unit(rows[:, 2])) - unit(rows[:, 0])) / np.float32(3.0)  # [Q, D]
    mean = mean * (np.float32(1.0) / np.linalg.norm(mean, axis=1))[:, None]
    take = min(_CANDIDATES + 3, matrix.shape[0])
    ranked: list[list[int]] = []
    for start in range(0, len(rows), chunk):
        scores = (mean[start:start + chunk] @ matrix.T) / norms  # [q, N]
        for q, order in enumerate(top_rows(scores, take)):
            own = set(rows[start + q].tolist())
            ranked.append([int(r) for r in order if r not in own][:_CANDIDATES])
    return ranked


def top_rows(scores: np.ndarray, k: int, block: int = 64) -> np.ndarray:
    """Indices of the k largest scores of each row, largest first: [Q, N] -> [Q, k].

    A full argpartition over N per row is the slow part of an analogy run; instead the row is cut into
    blocks, and the k best scores all lie in the k blocks with the best maxima, so only k * block
    candidates are sorted."""
    q, n = scores.shape
    k = min(k, n)
    blocks = -(-n // block)
    padded = np.full((q, blocks * block), -np.inf, scores.dtype)
    padded[:, :n] = scores
    padded = padded.reshape(q, blocks, block)
    best_blocks = np.argpartition(-padded.max(axis=2), min(k, blocks) - 1, axis=1)[:, :k]  # [Q, k]
    candidates = (best_blocks[:, :, None] * block + np.arange(block)).reshape(q, -1)  # [Q, k * block]
    values = padded[np.arange(q)[:, None], best_blocks].reshape(q, -1)
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(candidates, order, axis=1)


def evaluate_word_pairs(vectors: WordVectors, path=None, *, restrict_vocab: int = 300_000,
                        case_insensitive: bool = True, delimiter: str = "\t") -> WordPairResult:
    """Spearman and Pearson correlation between cosine similarity and human scores on a word-pair file
    (default: gensim's wordsim353.tsv); pairs with an unknown word are skipped."""
    from scipy import stats

    path = Path(path) if path is not None else gensim_test_file(WORD_PAIRS_FILE)
    index = _restricted_index(vectors, restrict_vocab, case_insensitive)
    gold, model = [], []
    oov = 0
    with path.open(encoding="utf8") as lines:
        text = list(lines)
    for line in text:
        if not line or line.startswith("#"):
            continue
        fields = line.split(delimiter)
        if len(fields) != 3:
            continue
        a, b, score = (f.upper() for f in fields) if case_insensitive else fields
        try:
            score = float(score)
        except ValueError:
            continue
        if a not in index or b not in index:
            oov += 1
            continue
        gold.append(score)
        model.append(vectors.cosine_similarity(vectors.matrix[index[a]], vectors.matrix[index[b]]))
    if not gold:
        raise SettingError(f"no word pair of {path} has both words among the first {restrict_vocab} words")
    return WordPairResult(float(stats.spearmanr(gold, model)[0]), float(stats.pearsonr(gold, model)[0]),
                          len(gold), oov)
