"""Errors a user can cause (bad files, bad options) and that the CLI turns into one line.

Every module raises a subclass of :class:`RnnscopeError` for input problems, so the CLI can print
``error: <message>`` and exit non-zero instead of showing a traceback. Programming errors stay
ordinary exceptions.
"""
from __future__ import annotations


class RnnscopeError(Exception):
    """An error caused by the user's input: printed as one line by the CLI (exit code 2)."""


class CorpusError(RnnscopeError):
    """A corpus file is missing, empty or malformed (the message names the file and line)."""


class CheckpointError(RnnscopeError):
    """A checkpoint is missing, refused (unsafe pickle) or does not match its config."""


class StoreError(RnnscopeError):
    """An activation store is missing, incomplete or lacks the asked-for component."""


def brief(exc: BaseException, limit: int = 120) -> str:
    """``exc`` as a short one-line text for an error message: the libraries that read damaged
    files (pyarrow, zarr, safetensors, json) put newlines and pages of detail in theirs."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."
