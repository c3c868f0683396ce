"""Text utilities: tokenizers, vocabularies and the codec that pairs them (token conventions: 0 = <pad>,
1 = <unk>, 2 = <bos>, 3 = <eos>; real tokens from 4)."""
from zoo.text.codec import CodecFileError, TextCodec
from zoo.text.tokenize import CharTokenizer, WordTokenizer, make_tokenizer
from zoo.text.vectors import WordVectors, embedding_table, load_glove_6b_50d, load_word_vectors
from zoo.text.vocab import BOS, BOS_ID, EOS, EOS_ID, PAD, PAD_ID, SPECIALS, UNK, UNK_ID, Vocab
from zoo.text.cards import register_all

register_all()

__all__ = [
    "BOS", "BOS_ID", "CharTokenizer", "CodecFileError", "EOS", "EOS_ID", "PAD", "PAD_ID", "SPECIALS",
    "TextCodec", "UNK", "UNK_ID", "Vocab", "WordTokenizer", "WordVectors", "embedding_table", "load_glove_6b_50d",
    "load_word_vectors", "make_tokenizer",
]
