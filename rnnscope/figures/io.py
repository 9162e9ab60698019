"""Write figures to PNG/SVG files or to base64 data URIs (for self-contained HTML)."""
from __future__ import annotations

import base64
import io
from pathlib import Path


import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rnnscope.errors import RnnscopeError  # noqa: E402

FORMATS = {".png": "png", ".svg": "svg"}


def save_figure(fig: Figure, path: str | Path, dpi: int = 120, close: bool = True) -> Path:
    """Save ``fig`` as PNG or SVG (chosen by the file extension); returns the path."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise RnnscopeError(f"{path}: figures are written as .png or .svg, not {path.suffix or 'no extension'!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format=fmt, dpi=dpi, bbox_inches="tight")
    if close:
        plt.close(fig)
    return path


#: set on a figure whose layout is fixed by its maker (axes placed by hand, labels placed
#: against the final layout): it is saved as drawn, without the extra "tight" layout pass
FIXED_LAYOUT = "_rnnscope_fixed_layout"


def figure_to_data_uri(fig: Figure, dpi: int = 100, close: bool = True) -> str:
    """``data:image/png;base64,...`` of ``fig``, to embed in an HTML ``<img>`` without files.

    Cropped to its content (``bbox_inches="tight"``) unless the figure is marked with
    :data:`FIXED_LAYOUT` (then saved as laid out, one draw cheaper)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi,
                bbox_inches=None if getattr(fig, FIXED_LAYOUT, False) else "tight")
    if close:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
