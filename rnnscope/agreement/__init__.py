"""Number agreement and its causal circuit (Lakretz et al. 2019, seed 004).

* :mod:`~rnnscope.agreement.tasks` — the seven NA tasks (+ relative clauses), seeded generator;
* :mod:`~rnnscope.agreement.formats` — Linzen / Gulordava / Lakretz file readers;
* :mod:`~rnnscope.agreement.scoring` — accuracy per task and condition;
* :mod:`~rnnscope.agreement.ablation` — single-unit sweeps, subset ablation with permutation p;
* :mod:`~rnnscope.agreement.dynamics` — gate and cell dynamics, efferent verb weights;
* :mod:`~rnnscope.agreement.time_decoding` — generalisation across time of subject number;
* :mod:`~rnnscope.agreement.syntax_units` — syntactic-depth data set and ridge regression;
* :mod:`~rnnscope.agreement.connectivity` — recurrent weights between units as z-scores;
* :mod:`~rnnscope.agreement.minimal_pairs` — whole-sentence minimal pairs (Marvin & Linzen, BLiMP);
* :mod:`~rnnscope.agreement.pair_sweeps` — ablation and patching on those minimal pairs.
"""
from rnnscope.agreement.ablation import ablation_sweep, reference_sweep, subset_ablation
from rnnscope.agreement.formats import read_gulordava, read_lakretz, read_linzen, write_lakretz
from rnnscope.agreement.scoring import score
from rnnscope.agreement.tasks import (ALL_TASKS, CONDITIONS, TASKS, NAItem, generate,
                                      load_wordpools)

__all__ = ["ALL_TASKS", "CONDITIONS", "TASKS", "NAItem", "ablation_sweep", "generate",
           "load_wordpools", "read_gulordava", "read_lakretz", "read_linzen", "reference_sweep",
           "score", "subset_ablation", "write_lakretz"]
