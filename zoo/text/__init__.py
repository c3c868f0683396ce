"""Text utilities: tokenizers, vocabularies and the codec that pairs them (token conventions: 0 = <pad>,
1 = <unk>, 2 = <bos>, 3 = <eos>; real tokens from 4)."""
from zoo.text.codec import CodecFileError, TextCodec
from zoo.text.tokenize import CharTokenizer, WordTokenizer, make_tokenizer
from zoo.text.vectors import WordVectors, embedding_table, load_glove_6b_50d, load_word_vectors
from zoo.text.bert_normalizer import BertNormalizer, bert_pre_tokenize
from zoo.text.tokenizer_json import TokenizerFileError, TokenizerInputError
from zoo.text.wordpiece import WordPiece, WordPieceTokenizer
from zoo.text.bpe_model import BPE
from zoo.text.bpe import BPETokenizer
from zoo.text.chat_template import ChatTemplateError, apply_chat_template
from zoo.text.vocab import BOS, BOS_ID, EOS, EOS_ID, PAD, PAD_ID, SPECIALS, UNK, UNK_ID, Vocab
from zoo.text.cards import register_all
from zoo.text import bert_cards
from zoo.text import gpt_cards
from zoo.text import llama_cards
from zoo.text import bert_pretraining  # noqa: F401  (registers bert_mini)

register_all()
bert_cards.register_all()
gpt_cards.register_all()
llama_cards.register_all()

__all__ = [
    "BOS", "BOS_ID", "BertNormalizer", "CharTokenizer", "CodecFileError", "EOS", "EOS_ID", "PAD", "PAD_ID", "SPECIALS",
    "TextCodec", "TokenizerFileError", "TokenizerInputError", "UNK", "UNK_ID", "Vocab", "WordPiece",
    "WordPieceTokenizer", "WordTokenizer", "WordVectors", "bert_pre_tokenize", "embedding_table",
    "load_glove_6b_50d", "load_word_vectors", "make_tokenizer",
    "BPE", "BPETokenizer", "ChatTemplateError", "apply_chat_template",
]
