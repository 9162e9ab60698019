"""A local LSTMVis-style web viewer over an activation store (``rnnscope serve STORE``).

See :func:`rnnscope.viewer.app.create_app`. The page and its script are plain HTML/JS/SVG
served from this package (no CDN, works offline).
"""
from rnnscope.viewer.app import create_app

__all__ = ["create_app"]
