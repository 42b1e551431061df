"""Pixel-level analysis images: error split, confidence heat map, and the hover readout.

numpy/OpenCV only (no Qt, no torch), keyword-only, so the views and the tests share them.
"""

from __future__ import annotations

__all__ = [
    "error_overlay",
    "error_split",
    "confidence_heatmap",
    "normalised_entropy",
    "hover_readout",
    "CORRECT_DIM",
]

from collections.abc import Sequence

import cv2
import numpy as np

CORRECT_DIM = 0.35  # correct pixels keep this share of their brightness
_WRONG_OPACITY = 0.85  # wrong pixels: this much class colour over the frame
_VOID_GREY = 48  # void (not scored) pixels: flat dark grey, a hint of the frame
_CAPTION = {"truth": "missed: coloured by TRUE class", "prediction": "false alarm: coloured by PREDICTED class"}


def error_overlay(
    frame: np.ndarray,
    labels: np.ndarray,
    truth: np.ndarray,
    *,
    palette_bgr: np.ndarray,
    void_index: int | None,
    mode: str = "truth",
) -> np.ndarray:
    """One error image: wrong pixels coloured by the true class (``mode="truth"``: the false
    negatives of that class) or by the predicted class (``"prediction"``: its false positives).

    Correct pixels are the frame dimmed to ``CORRECT_DIM``; void truth pixels are not scored
    and show as flat dark grey.
    """
    if mode not in _CAPTION:
        raise ValueError(f"error mode must be 'truth' or 'prediction', got {mode!r}")
    if labels.shape != truth.shape or frame.shape[:2] != labels.shape:
        raise ValueError(f"frame {frame.shape[:2]}, labels {labels.shape} and truth {truth.shape} differ in size")
    palette = np.asarray(palette_bgr, dtype=np.float32)
    frame_f = frame.astype(np.float32)
    out = frame_f * CORRECT_DIM
    wrong = labels != truth
    void = truth == void_index if void_index is not None else np.zeros_like(wrong)
    wrong &= ~void
    colour_of = truth if mode == "truth" else labels
    colours = palette[np.clip(colour_of, 0, len(palette) - 1)]
    out[wrong] = _WRONG_OPACITY * colours[wrong] + (1 - _WRONG_OPACITY) * frame_f[wrong]
    grey = frame_f[void].mean(axis=-1, keepdims=True) if void.any() else np.zeros((0, 1), np.float32)
    out[void] = _VOID_GREY + 0.15 * grey
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def error_split(
    frame: np.ndarray,
    labels: np.ndarray,
    truth: np.ndarray,
    *,
    palette_bgr: np.ndarray,
    void_index: int | None,
    captions: bool = True,
) -> np.ndarray:
    """Both error modes side by side (2W x H): left, false negatives by true class; right,
    false positives by predicted class. Correct pixels dimmed, void not scored (dark grey)."""
    halves = []
    for mode in ("truth", "prediction"):
        half = error_overlay(frame, labels, truth, palette_bgr=palette_bgr, void_index=void_index, mode=mode)
        if captions:
            _caption(half, _CAPTION[mode])
        halves.append(half)
    gap = np.full((frame.shape[0], 4, 3), 255, np.uint8)
    return np.hstack([halves[0], gap, halves[1]])


def _caption(image: np.ndarray, text: str) -> None:
    scale = max(0.4, image.shape[0] / 900)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(image, (0, 0), (w + 10, h + base + 8), (0, 0, 0), -1)
    cv2.putText(image, text, (5, h + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def normalised_entropy(probabilities: np.ndarray) -> np.ndarray:
    """Per-pixel entropy of (C, H, W) class probabilities, scaled to 0 (certain) .. 1 (uniform)."""
    p = np.clip(np.asarray(probabilities, dtype=np.float32), 1e-8, 1.0)
    entropy = -(p * np.log(p)).sum(axis=0)
    return np.clip(entropy / np.log(p.shape[0]), 0.0, 1.0)


def confidence_heatmap(
    frame: np.ndarray,
    confidence: np.ndarray,
    *,
    opacity: float = 0.6,
    measure: str = "confidence",
    legend: bool = True,
) -> np.ndarray:
    """Where the model is unsure, as a heat map over the frame (bright = unsure).

    Args:
        frame: BGR uint8 frame.
        confidence: HxW in 0..1: the winning class probability (``measure="confidence"``) or
            a normalised entropy (``measure="entropy"``, see :func:`normalised_entropy`).
        opacity: weight of the colour map over the frame.
        legend: draw a small colour bar with its meaning.
    """
    if measure not in ("confidence", "entropy"):
        raise ValueError(f"measure must be 'confidence' or 'entropy', got {measure!r}")
    values = np.clip(np.asarray(confidence, dtype=np.float32), 0, 1)
    if values.shape != frame.shape[:2]:
        values = cv2.resize(values, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
    unsure = 1 - values if measure == "confidence" else values
    heat = cv2.applyColorMap((unsure * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    out = cv2.addWeighted(heat, opacity, frame, 1 - opacity, 0)
    if legend:
        _colour_bar(out, "confidence: 1 .. 0" if measure == "confidence" else "entropy: 0 .. max")
    return out


def _colour_bar(image: np.ndarray, text: str) -> None:
    h, w = image.shape[:2]
    bar_w, bar_h = max(60, w // 5), max(8, h // 40)
    x0, y0 = w - bar_w - 10, h - bar_h - 10
    ramp = np.linspace(0, 255, bar_w, dtype=np.uint8)[None, :].repeat(bar_h, axis=0)
    image[y0 : y0 + bar_h, x0 : x0 + bar_w] = cv2.applyColorMap(ramp, cv2.COLORMAP_INFERNO)
    scale = max(0.35, h / 1000)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    tx, ty = max(0, x0 + bar_w - tw), y0 - 6
    cv2.rectangle(image, (tx - 3, ty - th - 3), (tx + tw + 3, ty + 3), (0, 0, 0), -1)
    cv2.putText(image, text, (tx, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def hover_readout(
    x: int,
    y: int,
    labels: np.ndarray | None,
    truth: np.ndarray | None,
    confidence: np.ndarray | None,
    class_names: Sequence[str],
    *,
    void_index: int | None,
) -> str:
    """One line for the pixel under the cursor: predicted class (confidence), true class, verdict.

    Empty when the point is outside the image or nothing is known yet.
    """
    if labels is None:
        return ""
    h, w = labels.shape[:2]
    if not (0 <= x < w and 0 <= y < h):
        return ""
    predicted = int(labels[y, x])
    parts = [f"x {x}, y {y}", f"predicted {_name(class_names, predicted)}"]
    if confidence is not None and confidence.shape[:2] == (h, w):
        parts[-1] += f" ({float(confidence[y, x]):.0%})"
    if truth is not None and truth.shape[:2] == (h, w):
        true = int(truth[y, x])
        if true == void_index:
            parts.append(f"true {_name(class_names, true)} (not scored)")
        else:
            parts.append(f"true {_name(class_names, true)}")
            parts.append("correct" if true == predicted else "WRONG")
    return " | ".join(parts)


def _name(class_names: Sequence[str], index: int) -> str:
    return class_names[index] if 0 <= index < len(class_names) else f"class {index}"
