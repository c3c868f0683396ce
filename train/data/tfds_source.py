"""Any TFDS data set through `tfds.data_source` (random access, no TensorFlow needed).

Image/array inputs are served lazily record by record; text inputs (a `Text` feature, e.g. imdb_reviews,
ag_news_subset) are decoded and tokenized once up front into TokenSources, because the vocabulary must be
built from the whole train split before any batch exists. A set whose only feature is text
(tiny_shakespeare) is a language-modelling corpus, and one whose supervised keys are two texts
(ted_hrlr_translate/pt_to_en, wmt14_translate/de-en) is a seq2seq translation set.
"""
from __future__ import annotations

import numpy as np

from train.data import text as text_sets
from train.data.sources import Dataset
from train.data.text import TextOptions
from train.data.tfds_fetch import data_source
from zoo.errors import SettingError


class TFDSSource:
    def __init__(self, source, x_key: str, y_key: str, scale: float):
        self.source, self.x_key, self.y_key, self.scale = source, x_key, y_key, scale

    def __len__(self) -> int:
        return len(self.source)

    def take(self, indices):
        records = [self.source[int(i)] for i in indices]
        x = np.stack([r[self.x_key] for r in records]).astype(np.float32) * np.float32(self.scale)
        y = np.asarray([r[self.y_key] for r in records]).astype(np.int32)
        return x, y


def _as_str(value) -> str:
    value = value.item() if isinstance(value, np.ndarray) else value
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _is_text(feature) -> bool:
    import tensorflow_datasets as tfds

    return isinstance(feature, tfds.features.Text)


def load(name: str, data_dir: str | None, download: bool, *, text: TextOptions | None = None,
         validation_fraction: float = 0.1, seed: int = 0) -> Dataset:
    """Pairs of texts (translation sets) become seq2seq data sets.
    `validation_fraction`/`seed` are used by text sets only (they carve validation before building the
    vocabulary); the caller carves it for the others."""
    import tensorflow_datasets as tfds

    from train.data import graph_tfds

    if name == "ogbg_molhiv":  # a graph set TFDS lacks: importing the module registers its builder
        import train.data.ogbg_molhiv  # noqa: F401
    builder = tfds.builder(name, data_dir=data_dir)
    features = builder.info.features
    if graph_tfds.is_ogb_graph(features):  # one OGB-format graph per record
        return graph_tfds.load_graphs(name, data_dir, download)
    if builder.info.supervised_keys is None and len(features) == 1 and _is_text(next(iter(features.values()))):
        return load_corpus(name, data_dir, download, text or TextOptions())
    x_key, y_key = builder.info.supervised_keys or ("image", "label")
    if _is_text(features[x_key]) and _is_text(features[y_key]):
        return load_translation(name, data_dir, download, x_key, y_key, text or TextOptions())
    if not hasattr(features[y_key], "num_classes"):
        raise SettingError(f"tfds:{name} target {y_key!r} is not a class label; zoo's TFDS path serves classification")
    split_names = {"train": "train", "test": "test"}
    if "validation" in builder.info.splits:
        split_names["validation"] = "validation"
    sources = data_source(name, list(split_names.values()), data_dir, download, builder)
    splits = dict(zip(split_names, sources))
    class_names = list(features[y_key].names)
    if _is_text(features[x_key]):
        def read(split):
            records = [splits[split][i] for i in range(len(splits[split]))]
            return [_as_str(r[x_key]) for r in records], np.asarray([r[y_key] for r in records], np.int32)
        if "validation" in splits:  # a shipped validation split is kept; only train and test are used here
            validation_fraction = 0.0
        return text_sets.text_classification(
            f"tfds:{name}", read("train"), read("test"), class_names, text or TextOptions(),
            validation_fraction=validation_fraction, seed=seed,
            description=f"TFDS {name} via tfds.data_source, tokenized once at load")
    is_image = features[x_key].np_dtype == np.uint8  # .dtype would import TensorFlow
    return Dataset(
        name=f"tfds:{name}",
        splits={k: TFDSSource(s, x_key, y_key, 1 / 255 if is_image else 1.0) for k, s in splits.items()},
        task="classification",
        num_classes=int(features[y_key].num_classes),
        input_shape=tuple(features[x_key].shape),
        class_names=class_names,
        description=f"TFDS {name} via tfds.data_source",
    )


def load_translation(name: str, data_dir: str | None, download: bool, x_key: str, y_key: str,
                     options: TextOptions) -> Dataset:
    """A TFDS set of text pairs (e.g. ted_hrlr_translate/pt_to_en: supervised keys ('pt', 'en')) as seq2seq."""
    import tensorflow_datasets as tfds

    from train.data import transduction

    def read(split):
        source = data_source(name, split, data_dir, download)
        return [(_as_str(r[x_key]), _as_str(r[y_key])) for r in (source[i] for i in range(len(source)))]

    pairs = {"train": read("train")}  # downloads and prepares the set: its split names are known after this
    known = set(tfds.builder(name, data_dir=data_dir).info.splits)
    for split in ("validation", "test"):
        if not known or split in known:  # nothing known (no metadata): every name is accepted
            pairs[split] = read(split)
    if "test" not in pairs and "validation" in pairs:  # the loop reports on test: use the held-out split there
        pairs["test"] = pairs.pop("validation")
    return transduction.translation(f"tfds:{name}", pairs, options,
                                    f"TFDS {name}: {x_key} -> {y_key}, word level, one vocabulary for both")


def load_corpus(name: str, data_dir: str | None, download: bool, options: TextOptions) -> Dataset:
    """A TFDS text corpus (each split: records with one Text feature, joined in order) for language modelling;
    character tokens unless options.tokenizer says otherwise."""
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    known = set(builder.info.splits)
    # Use the shipped splits when there are all three (or the split list is unknown, as under mock_data);
    # otherwise cut train by position like a plain-text file.
    split_names = ["train", "validation", "test"] if not known or {"validation", "test"} <= known else ["train"]
    sources = data_source(name, split_names, data_dir, download, builder)
    split_texts = {}
    for split, source in zip(split_names, sources):
        records = [source[i] for i in range(len(source))]
        split_texts[split] = "".join(_as_str(next(iter(r.values()))) for r in records)
    if split_names == ["train"]:
        split_texts = text_sets.split_by_position(split_texts["train"])
    if text_sets.is_bpe_name(options.tokenizer):
        return text_sets.language_model_bpe(f"tfds:{name}", split_texts, options,
                                            f"language modelling on TFDS {name}")
    tokenizer = options.make_tokenizer("char")
    split_tokens = {split: tokenizer(text) for split, text in split_texts.items()}
    return text_sets.language_model(f"tfds:{name}", split_tokens, tokenizer, options,
                                    f"{tokenizer.name}-level language modelling on TFDS {name}")
