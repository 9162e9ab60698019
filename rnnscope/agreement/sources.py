"""Where agreement items come from: generated NA tasks and the published files, in one call.

:func:`load_items` gathers the items a command analyses (Lakretz NA-task files, Linzen's and
Gulordava's ``.text``/``.gold`` pairs, and the generated tasks when asked or when no file is
given) and puts them in the model's casing; :func:`load_pairs` does the same for minimal-pair
files (Marvin & Linzen, BLiMP). Both return the items and one line saying what was done to
their case, for the caller to show.

>>> from rnnscope.vocab import Vocabulary
>>> vocab = Vocabulary.build("word", ["the boy greets the girl"])
>>> items, note = load_items(vocab, tasks=["Simple"], n=2)
>>> len(items), items[0].prefix[0]
(4, 'the')
"""
from __future__ import annotations

from collections.abc import Sequence

from rnnscope.vocab import Vocabulary


def load_items(vocab: Vocabulary, tasks: Sequence[str] | None = None, n: int = 600,
               seed: int = 0, wordpools: str | None = None, case: str = "auto",
               lakretz: Sequence[str] = (), linzen: str | None = None,
               gulordava: Sequence[str] = ()) -> tuple[list, str]:
    """``(items, note)``: the agreement items of the given sources, cased for ``vocab``.

    ``tasks``: generated tasks (``None`` with no file given: the seven NA tasks of Lakretz et
    al.), ``n`` sentences per condition from ``seed`` (``wordpools``: a JSON file replacing the
    shipped word pools). Several Gulordava files (one per language) keep their constructions
    apart by a ``language/`` task prefix. ``case``: ``auto`` | ``keep`` | ``lower``.
    """
    from rnnscope.agreement import formats, tasks as T
    from rnnscope.agreement.casing import normalise_case

    items = formats.read_lakretz_files(list(lakretz)) if lakretz else []
    if linzen:
        items += formats.read_linzen(linzen)
    gulordava = list(gulordava)
    if len(gulordava) == 1:
        items += formats.read_gulordava(gulordava[0])
    elif gulordava:  # several files (languages): keep their constructions apart
        langs = [formats.gulordava_language(p) for p in gulordava]
        for path, lang, name in zip(gulordava, langs, formats.task_names(gulordava)):
            prefix = lang if lang and langs.count(lang) == 1 else name
            items += formats.read_gulordava(path, task_prefix=f"{prefix}/")
    if tasks or not items:
        names = [t.strip() for t in (tasks or T.TASKS) if t.strip()]
        items += T.generate(names, n=n, seed=seed, pools=T.load_wordpools(wordpools),
                            capitalize=True)
    return normalise_case(items, vocab, case)


def load_pairs(paths: Sequence[str], vocab: Vocabulary, fmt: str = "auto",
               case: str = "auto") -> tuple[list, str]:
    """``(pairs, note)``: the minimal pairs of every file in ``paths`` (``fmt``: ``auto`` |
    ``marvin-linzen`` | ``blimp``), cased for ``vocab``."""
    from rnnscope.agreement.minimal_pairs import normalise_pair_case, read_pairs

    pairs = [p for path in paths for p in read_pairs(path, fmt)]
    return normalise_pair_case(pairs, vocab, case)
