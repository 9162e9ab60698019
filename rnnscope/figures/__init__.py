"""Figures of the seeds, each a function returning a matplotlib ``Figure`` (Agg backend).

- :func:`text_activation` / :func:`text_probability`: text coloured by ``tanh(unit)`` or by a
  probe's probability, tags underneath, the class of interest highlighted (seed 002);
- :func:`match_histogram`: a unit's activation for match vs no-match tokens (seed 002);
- :func:`lexical_space`: the lexical-space picture of seed 000;
- :func:`activation_over_positions`: units along a sentence (seeds 000, 001);
- :func:`component_accuracy`, :func:`memory_curves`, :func:`dynamics_curves`: summary plots of
  probe, state-gradient and agreement tables;
- :func:`match_grid`, :func:`word_set_scatter`: pictures of span matches and word-set PCA.

:func:`save_figure` writes PNG or SVG by extension; :func:`figure_to_data_uri` embeds a figure
in HTML.
"""
from rnnscope.figures.curves import (activation_over_positions, component_accuracy,
                                     dynamics_curves, match_histogram, memory_curves)
from rnnscope.figures.io import figure_to_data_uri, save_figure
from rnnscope.figures.lexical import lexical_space
from rnnscope.figures.matches import match_grid, word_set_scatter
from rnnscope.figures.text import text_activation, text_probability

__all__ = ["activation_over_positions", "component_accuracy", "dynamics_curves",
           "figure_to_data_uri", "lexical_space", "match_grid", "match_histogram",
           "memory_curves", "save_figure", "text_activation", "text_probability",
           "word_set_scatter"]
