"""Results that show themselves in Jupyter: a title line, their table and, where they have
one, their figure.

Every public result class mixes in :class:`HtmlRepr` and names two things:

* ``_html_table``: the attribute holding its main table (a ``DataFrame``; a property, or a
  method called without arguments, works too);
* ``_html_plot``: the name of a method returning a matplotlib ``Figure`` without arguments,
  or ``None`` for results without a figure.

Jupyter calls ``_repr_html_`` when a result is the last expression of a cell::

    res = probe(store, "upos")
    res                      # the accuracy table and the bar chart, inline

The figure is drawn by the result's own plot method, written to PNG through the ``Figure`` API
and embedded as base64 (no file, no ``plt.show``), and then closed, so the notebook does not
show it a second time. Nothing here imports matplotlib: it is only needed, and only already
loaded by the result's module, when a figure is rendered.
"""
from __future__ import annotations

import base64
import html
import io
import sys
from typing import ClassVar

#: rows of the table shown inline (``DataFrame.to_html(max_rows=...)``: head and tail)
MAX_ROWS = 20
#: columns shown inline
MAX_COLS = 30
#: resolution of the inline PNG
DPI = 80


class HtmlRepr:
    """Mixin giving a result object ``_repr_html_`` (see the module docstring)."""

    _html_table: ClassVar[str] = "table"
    _html_plot: ClassVar[str | None] = None

    def _html_caption(self) -> str:
        """A short line under the class name (override for a summary of the result)."""
        return ""

    def _html_frame(self):
        value = getattr(self, self._html_table)
        return value() if callable(value) else value

    def _html_figure(self):
        """The figure to embed, or ``None`` (no plot method)."""
        if self._html_plot is None:
            return None
        return getattr(self, self._html_plot)()

    def _repr_html_(self) -> str:
        parts = [f"<p><b>{html.escape(type(self).__name__)}</b>"]
        caption = self._html_caption()
        frame = self._html_frame()
        shape = getattr(frame, "shape", None)
        if caption:
            parts.append(f": {html.escape(caption)}")
        if shape is not None and len(shape) == 2:
            parts.append(f" <small>({shape[0]:,} rows &times; {shape[1]:,} columns)</small>")
        parts.append("</p>")
        if hasattr(frame, "to_html"):
            parts.append(frame.to_html(max_rows=MAX_ROWS, max_cols=MAX_COLS))
        else:
            parts.append(f"<pre>{html.escape(repr(frame))}</pre>")
        parts.append(self._html_image())
        return "".join(parts)

    def _html_image(self) -> str:
        try:
            fig = self._html_figure()
        except Exception as exc:  # a figure that cannot be drawn must not hide the table
            return f"<p><i>no figure: {html.escape(f'{type(exc).__name__}: {exc}')}</i></p>"
        if fig is None:
            return ""
        try:
            return f'<img src="{figure_data_uri(fig)}" alt="{html.escape(type(self).__name__)}">'
        finally:
            close_figure(fig)


def figure_data_uri(fig, dpi: int = DPI) -> str:
    """``data:image/png;base64,...`` of a matplotlib ``Figure``, through its own ``savefig``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def close_figure(fig) -> None:
    """Release ``fig``: a figure made through pyplot is removed from pyplot's list of open
    figures (else a notebook would show it again); pyplot is not imported for that."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)
