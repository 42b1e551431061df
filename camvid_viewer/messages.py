"""User-facing error text: every failure is shown or printed as one line."""

from __future__ import annotations

__all__ = ["display_path", "one_line"]


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (its type name when it has none)."""
    return " ".join((str(exc) or type(exc).__name__).split())


def display_path(path) -> str:
    """``path`` as the window shows it: the home folder written ``~``, so messages stay short."""
    from pathlib import Path

    text = str(path)
    try:
        home = str(Path.home())
    except RuntimeError:  # no home folder known
        return text
    if home not in ("", "/") and (text == home or text.startswith(home.rstrip("/\\") + ("\\" if "\\" in home else "/"))):
        return "~" + text[len(home.rstrip("/\\")):]
    return text
