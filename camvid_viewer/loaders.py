"""What the window opens in the background: a model, a source with its annotations.

Qt-free, so the window's ``BackgroundCall`` jobs and the tests call the same functions; every
failure is one line naming the file.
"""

from __future__ import annotations

__all__ = ["load_segmenter", "model_files", "open_source_with_truth", "build_truth"]

from camvid_viewer.messages import one_line


def load_segmenter(path: str | None, *, device: str = "auto", backend: str = "auto", precision: str = "auto",
                   card=None, mapping=None, mode: str = "fast"):
    """A ``model.inference.Segmenter`` (``path=None``: the shipped model); errors name the file.

    ``precision`` is what is asked for (``auto``, ``fp32``, ``int8``); the segmenter's
    ``precision`` is what runs and ``precision_note`` says why when the two differ.
    ``card``: an ONNX model's card (default: beside it); ``mapping``: a class mapping (default: the card's).
    ``mode``: ``fast`` or ``accurate`` (model/test_time.py).
    """
    from pathlib import Path

    from model.inference import Segmenter, default_model_path

    if path is None:
        default = Path(default_model_path())
        if not default.is_file():
            raise FileNotFoundError(f"{default}: the shipped model is missing; open one with Model > Open model...")
        path = str(default)
    try:
        return Segmenter(path, device=device, backend=backend, precision=precision, threads=_env_threads(),
                         card=card, mapping=mapping, mode=mode)
    except Exception as exc:  # noqa: BLE001 - any failure to load is the file's problem, named once
        message = one_line(exc)
        raise RuntimeError(message if str(path) in message else f"{path}: {message}") from None


def _env_threads() -> int | None:
    """``OMP_NUM_THREADS`` when set (as torch itself would), else the Segmenter's default (all cores).

    On a busy machine, more inference threads than free cores makes every frame many times
    slower; the variable is the usual way to say how many to use.
    """
    import os

    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def open_source_with_truth(path: str, annotations: str | None = None):
    """Open ``path`` and find its annotations; returns ``(source, truth | None, note | None)``.

    The first frame is decoded here, so a corrupt file fails now, before it replaces the
    source on screen.
    """
    from camvid_viewer.sources import open_source
    from camvid_viewer.sources.truth import TruthIndex, find_annotations

    source = open_source(path)
    try:
        truth, note = None, None
        if not source.is_live:
            source.read(0)
            folder = annotations or find_annotations(source)
            if folder is not None:
                try:
                    truth = TruthIndex.for_source(source, folder)
                except Exception as exc:  # noqa: BLE001 - no truth is a note, the source is fine
                    note = one_line(exc)
                else:
                    if not truth.labelled_indices:
                        note = f"{folder}: no annotation matches a frame of {path}"
    except BaseException:
        source.close()
        raise
    return source, truth, note


def build_truth(source, folder: str):
    """The annotation index of ``folder`` for ``source``; an error when nothing matches."""
    from camvid_viewer.sources.truth import TruthIndex

    truth = TruthIndex.for_source(source, folder)
    if not truth.labelled_indices:
        raise ValueError(f"{folder}: no annotation matches a frame of {source.path}")
    return truth


def model_files(session, path: str | None) -> dict:
    """``card`` and ``mapping`` for :func:`load_segmenter`, as the session chose them: the card
    given for this very model (``main.py --card``), the mapping chosen in the window (kept over
    reloads on another device or backend)."""
    card_for = getattr(session, "card_choice", None)  # (model path, card path) or None
    card = card_for[1] if card_for and path is not None and str(card_for[0]) == str(path) else None
    return {"card": card, "mapping": getattr(session, "mapping_choice", None)}
