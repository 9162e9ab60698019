"""Figures of the seeds, each a function returning a matplotlib ``Figure`` (Agg backend).

- :func:`text_activation` / :func:`text_probability`: text coloured by ``tanh(unit)`` or by a
  probe's probability, tags underneath, the class of interest highlighted (seed 002);
- :func:`match_histogram`: a unit's activation for match vs no-match tokens (seed 002);
- :func:`lexical_space`: the lexical-space picture of seed 000 as published;
  :func:`lexical_preference`: its legible version (coloured dots, de-overlapped labels,
  ranked words);
- :func:`activation_over_positions`: units along a sentence (seeds 000, 001);
- :func:`component_accuracy`, :func:`memory_curves`, :func:`dynamics_curves`: summary plots of
  probe, state-gradient and agreement tables; :func:`unit_memory`: per-unit memory curves;
- :func:`match_view` / :func:`match_view_of`: LSTMVis's match view (aligned rows of the
  matches coloured by the selected units' mean activation, span outlined, annotation track);
  :func:`match_grid`, :func:`word_set_scatter`: span matches' unit grid and word-set PCA;
- :func:`correlation_overview`: every unit's correlation with every feature on one axis.

:func:`save_figure` writes PNG or SVG by extension; :func:`figure_to_data_uri` embeds a figure
in HTML.
"""
from rnnscope.figures.curves import (activation_over_positions, component_accuracy,
                                     dynamics_curves, match_histogram, memory_curves, unit_memory)
from rnnscope.figures.correlations import correlation_overview
from rnnscope.figures.io import figure_to_data_uri, save_figure
from rnnscope.figures.lexical import lexical_preference, lexical_space
from rnnscope.figures.matches import match_grid, match_view, match_view_of, word_set_scatter
from rnnscope.figures.text import text_activation, text_probability

__all__ = ["activation_over_positions", "component_accuracy", "correlation_overview",
           "dynamics_curves", "figure_to_data_uri", "lexical_preference", "lexical_space",
           "match_grid", "match_histogram", "match_view", "match_view_of", "memory_curves",
           "save_figure", "text_activation", "text_probability", "unit_memory", "word_set_scatter"]
