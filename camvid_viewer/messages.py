"""User-facing error text: every failure is shown or printed as one line."""

from __future__ import annotations

__all__ = ["one_line"]


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (its type name when it has none)."""
    return " ".join((str(exc) or type(exc).__name__).split())
