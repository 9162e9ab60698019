"""Corpora: sentences of words with annotations, aligned to a model's units (word/char/byte)."""
from rnnscope.corpus.types import AlignedSentence, Corpus, Sentence
from rnnscope.corpus.align import align_corpus, align_sentence, surface_text
from rnnscope.corpus.readers import read_conllu, read_corpus, read_text
from rnnscope.corpus.ptb_trees import read_wsj_treebank
from rnnscope.corpus.derived import add_derived, tree_depths, word_frequencies
from rnnscope.corpus.annotate import annotate_with_spacy

__all__ = ["AlignedSentence", "Corpus", "Sentence", "align_corpus", "align_sentence",
           "surface_text", "read_conllu", "read_corpus", "read_text", "read_wsj_treebank",
           "add_derived", "tree_depths", "word_frequencies", "annotate_with_spacy"]
