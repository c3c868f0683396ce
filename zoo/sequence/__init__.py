"""Sequence family: recurrent layers (RNN/GRU/LSTM), text classifiers, character language models,
seq2seq with attention and beam search, and images read as sequences.

Importing this package registers its models."""
from zoo.sequence import char_lm, row_reader, sentiment, seq2seq, transformer_seq2seq  # noqa: F401  (registration)
from zoo.sequence.decode import beam_search, greedy_decode, sequence_log_prob
from zoo.sequence.recurrent import GRUCell, LSTMCell, Recurrent, RNNCell, last_real, lengths_from_tokens
from zoo.sequence.sampling import distinct_n, sample
from zoo.sequence.seq2seq import Seq2Seq
from zoo.sequence.transformer_seq2seq import TransformerSeq2Seq

__all__ = ["GRUCell", "LSTMCell", "RNNCell", "Recurrent", "Seq2Seq", "TransformerSeq2Seq", "beam_search", "distinct_n",
           "greedy_decode", "last_real", "lengths_from_tokens", "sample", "sequence_log_prob"]
