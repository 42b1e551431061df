"""Flicker (how often predicted labels change between frames) and temporal smoothing.

Headless (numpy + OpenCV). Motion is Farneback optical flow on downscaled grey frames;
:func:`label_change_rate` compares a frame's labels with the previous frame's, optionally
after moving the previous labels along that flow, so camera motion is not counted as
flicker. :class:`TemporalSmoother` wraps any segmenter and averages its class
probabilities over consecutive frames (also along the flow).

Example::

    from camvid_viewer.analysis.temporal import TemporalSmoother, sequence_flicker
    smoother = TemporalSmoother(Segmenter(), alpha=0.5)
    labels = [smoother.segment(frame).labels for frame in frames]
    print(np.nanmean(sequence_flicker(labels, frames)))
"""

from __future__ import annotations

__all__ = [
    "TemporalSmoother",
    "motion_flow",
    "warp_previous",
    "label_change_rate",
    "sequence_flicker",
]

import dataclasses
import math
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import cv2
import numpy as np

from camvid_viewer.analysis.cache import model_identity, model_name
from model.inference import run_now

_FLOW_SCALE = 0.25  # optical flow runs on frames scaled by this (480x360 -> 120x90)

# ---------------------------------------------------------------------------------------------
# Flicker and motion


def motion_flow(previous: np.ndarray, frame: np.ndarray, *, scale: float = _FLOW_SCALE) -> np.ndarray:
    """Dense flow (H, W, 2) float32 at ``frame`` size: ``frame[y, x]`` came from ``previous[y + dy, x + dx]``.

    Farneback on grey frames downscaled by ``scale`` (camera motion is smooth; small frames are fast).
    """
    h, w = frame.shape[:2]
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    grey = [cv2.resize(_grey(im), size, interpolation=cv2.INTER_AREA) for im in (frame, previous)]
    flow = cv2.calcOpticalFlowFarneback(grey[0], grey[1], None, 0.5, 3, 15, 3, 5, 1.2, 0)
    full = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    full[..., 0] *= w / size[0]
    full[..., 1] *= h / size[1]
    return full


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def _remap_maps(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]


def warp_previous(previous: np.ndarray, flow: np.ndarray, *, nearest: bool = True, fill: float = 0) -> tuple[np.ndarray, np.ndarray]:
    """``previous`` moved onto the current frame by ``flow``; returns (warped, inside mask).

    Labels use nearest-neighbour sampling (never a blend of two class indices).
    """
    map_x, map_y = _remap_maps(flow)
    h, w = previous.shape[:2]
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    warped = cv2.remap(previous, map_x, map_y, interp, borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
    return warped, inside


def label_change_rate(
    previous: np.ndarray, labels: np.ndarray, *, flow: np.ndarray | None = None, ignore_index: int | None = None
) -> float:
    """Share of pixels whose label differs from the previous frame's (optionally motion-compensated).

    Pixels whose flow points outside the previous frame, and pixels that are ``ignore_index``
    in either frame, are not compared. NaN when nothing is comparable.
    """
    if previous.shape != labels.shape:
        return math.nan
    valid = np.ones(labels.shape, dtype=bool)
    if flow is not None:
        previous, valid = warp_previous(previous, flow, nearest=True)
    if ignore_index is not None:
        valid &= (previous != ignore_index) & (labels != ignore_index)
    compared = int(valid.sum())
    if not compared:
        return math.nan
    return float(np.count_nonzero((previous != labels) & valid) / compared)


def sequence_flicker(
    labels: Sequence[np.ndarray], frames: Sequence[np.ndarray] | None = None, *, ignore_index: int | None = None
) -> np.ndarray:
    """Per-frame change rate of a label sequence (entry 0 is NaN); motion-compensated when frames are given."""
    out = np.full(len(labels), np.nan)
    for k in range(1, len(labels)):
        flow = motion_flow(frames[k - 1], frames[k]) if frames is not None else None
        out[k] = label_change_rate(labels[k - 1], labels[k], flow=flow, ignore_index=ignore_index)
    return out


# ---------------------------------------------------------------------------------------------
# Temporal smoothing


@dataclass
class _SmoothedPrediction:
    labels: np.ndarray
    probabilities: np.ndarray | None = None
    confidence: np.ndarray | None = None


@dataclass
class TemporalSmoother:
    """A segmenter whose class probabilities are an exponential average over consecutive frames.

    ``running = alpha * p_now + (1 - alpha) * warp(running)``; labels are its argmax. With
    ``flow`` the running average is first moved along the camera motion (Farneback), so
    static scenery does not smear. Call :meth:`reset` on a seek; :meth:`segment_at` does it
    for you when the frame index is not the next one. A change of frame size also resets.

    Args:
        segmenter: the wrapped model (``.segment(frame, probabilities=True)``).
        alpha: weight of the newest frame, 0 < alpha <= 1 (1 = no smoothing).
        flow: warp the running average by optical flow before blending.
        cut_threshold: mean absolute grey-level difference (0..255, on frames shrunk 8x)
            above which the new frame is taken as a cut or a seek and the average restarts;
            consecutive CamVid frames differ by 6 on average (12 at most), frames a second
            or more apart by over 20. ``None`` disables the check.
    """

    segmenter: object
    alpha: float = 0.5
    flow: bool = True
    cut_threshold: float | None = 20.0
    temporal: bool = field(default=True, init=False)  # evaluate_source feeds it warm-up frames
    _running: np.ndarray | None = field(default=None, init=False, repr=False)  # (H, W, C) float32
    _previous_frame: np.ndarray | None = field(default=None, init=False, repr=False)
    _previous_thumb: np.ndarray | None = field(default=None, init=False, repr=False)
    _last_index: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.alpha <= 1:
            raise ValueError(f"temporal smoothing alpha must be in (0, 1], got {self.alpha}")

    def __getattr__(self, name: str):
        # name, card, device, backend, class_names, palette_bgr... come from the wrapped model.
        if name.startswith("_") or name == "segmenter":
            raise AttributeError(name)
        return getattr(self.segmenter, name)

    @property
    def name(self) -> str:
        return f"{model_name(self.segmenter)} + temporal smoothing (alpha {self.alpha:g}{', flow' if self.flow else ''})"

    @property
    def warmup_frames(self) -> int:
        """Frames after which the oldest frame weighs under 1% of the average."""
        if self.alpha >= 1:
            return 1
        return max(1, math.ceil(math.log(0.01) / math.log(1 - self.alpha)))

    def analysis_identity(self) -> dict:
        return {"smoothed": model_identity(self.segmenter), "alpha": self.alpha, "flow": self.flow, "cut": self.cut_threshold}

    def reset(self) -> None:
        """Forget the running average (seek, new source, scene cut)."""
        self._running = None
        self._previous_frame = None
        self._previous_thumb = None
        self._last_index = None

    def segment_at(self, index: int, frame: np.ndarray, *, probabilities: bool = False):
        """:meth:`segment` for frame ``index``; resets first unless it follows the last one."""
        if self._last_index is None or index != self._last_index + 1:
            self.reset()
        prediction = self.segment(frame, probabilities=probabilities)
        self._last_index = index
        return prediction

    @property
    def preferred_batch(self) -> int:
        """One: each frame's average needs the one before it."""
        return 1

    def submit(self, frame: np.ndarray, *, confidence: bool = False) -> Future:
        """:meth:`segment` now, as a finished future: frames must be smoothed one after another."""
        return run_now(self.segment, frame, confidence=confidence)

    def segment_batch(self, frames: Sequence[np.ndarray], *, probabilities: bool = False) -> list:
        return [self.segment(f, probabilities=probabilities) for f in frames]

    def segment(self, frame: np.ndarray, *, probabilities: bool = False, confidence: bool = False):
        raw = self.segmenter.segment(frame, probabilities=True)
        p = np.asarray(raw.probabilities, dtype=np.float32).transpose(1, 2, 0)  # H, W, C
        running = self._running
        thumb = _thumbnail(frame) if self.cut_threshold is not None else None
        if running is not None and running.shape != p.shape:
            running = None  # new frame size: a discontinuity
        elif running is not None and thumb is not None and self._previous_thumb is not None:
            if float(np.abs(thumb - self._previous_thumb).mean()) > self.cut_threshold:
                running = None  # a cut or a seek: the old average shows another scene
        self._previous_thumb = thumb
        if running is None:
            running = p.copy()
        else:
            if self.flow and self._previous_frame is not None:
                running = _warp_probabilities(running, motion_flow(self._previous_frame, frame), fallback=p)
            running = self.alpha * p + (1 - self.alpha) * running
        self._running = running
        self._previous_frame = frame if self.flow else None
        self._last_index = None if self._last_index is None else self._last_index + 1
        labels = running.argmax(axis=2).astype(np.uint8)
        probs = np.ascontiguousarray(running.transpose(2, 0, 1)) if probabilities else None
        confidence = running.max(axis=2) if probabilities or confidence else None
        if dataclasses.is_dataclass(raw) and not isinstance(raw, type):
            try:
                return dataclasses.replace(raw, labels=labels, probabilities=probs, confidence=confidence)
            except TypeError:
                pass
        return _SmoothedPrediction(labels, probs, confidence)


def _thumbnail(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    return cv2.resize(_grey(frame), (max(1, w // 8), max(1, h // 8)), interpolation=cv2.INTER_AREA).astype(np.float32)


def _warp_probabilities(running: np.ndarray, flow: np.ndarray, *, fallback: np.ndarray) -> np.ndarray:
    """The running average moved by ``flow``; pixels coming from outside the frame take ``fallback``."""
    map_x, map_y = _remap_maps(flow)
    h, w = running.shape[:2]
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    channels = [
        cv2.remap(np.ascontiguousarray(running[..., i : i + 4]), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        for i in range(0, running.shape[2], 4)
    ]
    warped = np.concatenate([c.reshape(h, w, -1) for c in channels], axis=2)
    return np.where(inside[..., None], warped, fallback)
