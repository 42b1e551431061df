"""One ``Segmenter`` for the viewer, export, eval and bench: BGR frames of any size in, label maps out.

Frames are resized to the model's working scale (the card's ``working_height``; CamVid: 360 px)
so objects appear at the scale the model learned, at a predictable cost; labels (and optional
class probabilities) come back at frame size.

Backends:
    torch  CPU float32, or CUDA float16 when a GPU is present.
    onnx   ONNX Runtime on the CPU; the graph is exported from the checkpoint once per working
           size and cached in the user cache, keyed by the checkpoint's SHA-256. A cache file
           whose own hash does not match its sidecar is rebuilt, never trusted.
    auto   CUDA torch when a GPU is present, else ONNX Runtime (faster on CPU), else torch.
"""

from __future__ import annotations

__all__ = ["MODES", "PRECISIONS", "Prediction", "Segmenter", "choose_precision", "note_precision", "default_model_path", "working_size", "onnx_cache_dir", "user_cache_dir", "run_now"]

import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from model.checkpoint import CheckpointError, load_checkpoint
from model.class_mapping import use_mapping
from model.classes import LabelSet
from model.confidence import confidence_at, winning_probability_grid
from model.external_model import attach_external, is_external_model
from model.onnx_backend import OnnxRunner, onnx_cache_dir, user_cache_dir
from model.test_time import MODES, accurate_height, check_mode, flip_averaged

_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_DEFAULT_MODEL = _PROJECT_ROOT / "resources" / "models" / "camvid-lite0.safetensors"


def default_model_path() -> Path:
    """The shipped model, or ``$CAMVID_VIEWER_MODEL`` when set."""
    env = os.environ.get("CAMVID_VIEWER_MODEL")
    return Path(env) if env else _DEFAULT_MODEL


def working_size(frame_hw: tuple[int, int], working_height: int) -> tuple[int, int]:
    """(height, width) a frame is resized to: the working height, aspect kept, width a multiple of 8."""
    h, w = frame_hw
    if h == working_height:
        return h, w
    width = max(8, int(round(w * working_height / h / 8)) * 8)
    return working_height, width


@dataclass
class Prediction:
    """One frame's result, at frame size."""

    labels: np.ndarray  # HxW uint8 class indices
    probabilities: np.ndarray | None = None  # CxHxW float32, when asked for
    confidence: np.ndarray | None = None  # HxW float32 winning-class probability, when asked for
    model_ms: float | None = None  # time on its lane, for frames run through submit()


class Segmenter:
    """Runs a checkpoint on BGR uint8 frames.

    Args:
        checkpoint: a checkpoint file; ``None`` for the shipped default model.
        device: ``auto``, ``cpu`` or ``cuda``.
        backend: ``auto``, ``torch`` or ``onnx``.
        working_height: frame height used for inference (default: the card's).
        threads: CPU threads for inference (default: ``$OMP_NUM_THREADS``, else all cores).
        precision: ``auto`` (fp16 on CUDA; int8 on the CPU when the card's int8 check passed,
            else fp32), ``fp32`` or ``int8`` (ONNX only; the card must hold a calibration).
            :attr:`precision` is what runs; :attr:`precision_note` says why, when that is not
            what was asked for.
        card: for an ONNX model (``.onnx``), its JSON card (default: the ``.json`` beside it).
        mapping: a class mapping (shipped name or JSON file) to score in the truth's classes;
            :attr:`mapping` is the loaded one (default: an ONNX card's ``mapping``, else none).
        mode: ``fast`` (the card's working height, one pass) or ``accurate`` (horizontal-flip
            averaging at 1.2x the working height, see model/test_time.py; float only).
    """

    def __init__(self, checkpoint=None, *, device: str = "auto", backend: str = "auto", working_height: int | None = None,
                 threads: int | None = None, precision: str = "auto", card=None, mapping=None, mode: str = "fast") -> None:
        path = Path(checkpoint) if checkpoint is not None else default_model_path()
        self.mode = check_mode(mode)
        if is_external_model(path):  # any ONNX model with a JSON card (model/external_model.py)
            if mode != "fast":
                raise ValueError(f"{path}: the accurate mode needs one of this project's checkpoints; an ONNX model runs as it is")
            attach_external(self, path, card=card, device=device, backend=backend, precision=precision,
                            working_height=working_height, threads=threads or _default_threads(), mapping=mapping)
            return
        import torch

        if card is not None:
            raise CheckpointError(f"{card}: --card is for an ONNX model; {path.name} carries its own card")
        if checkpoint is None and not path.is_file():
            raise CheckpointError(f"{path}: the shipped model is missing (reinstall, or pass --model FILE)")
        ckpt = load_checkpoint(path)
        self.path = path
        self.card = ckpt.card
        self.name = self.card.get("name") or path.stem
        self.label_set = LabelSet.from_card(self.card)  # names, palette, void: the card's
        self.class_names, self.palette_bgr = self.label_set.names, self.label_set.palette_bgr
        norm = self.card.get("input", {})
        default_height = accurate_height(norm) if mode == "accurate" else norm.get("working_height", 360)
        self.working_height = int(working_height or default_height)
        if self.working_height < 32 or self.working_height > 4320:
            raise ValueError(f"working height {self.working_height} out of range (32..4320)")
        self._mean = np.asarray(norm.get("mean", (0.5, 0.5, 0.5)), np.float32) * 255
        self._std = np.asarray(norm.get("std", (0.5, 0.5, 0.5)), np.float32) * 255
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("CUDA was asked for but no CUDA device is available")
        elif device not in ("cpu", "cuda"):
            raise ValueError(f"unknown device {device!r} (auto, cpu, cuda)")
        if backend == "auto":
            backend = "torch" if device == "cuda" or not _has_onnxruntime() else "onnx"
        if backend == "onnx" and device == "cuda":
            raise ValueError("the onnx backend runs on the CPU; use --backend torch for CUDA")
        if backend not in ("torch", "onnx"):
            raise ValueError(f"unknown backend {backend!r} (auto, torch, onnx)")
        self.device = device
        self.backend = backend
        self._threads = threads or _default_threads()
        network = ckpt.build()
        if mode == "accurate":
            if precision == "int8":
                raise ValueError("int8 runs in the fast mode; the accurate mode runs fp32 (fp16 on CUDA)")
            network, precision = flip_averaged(network), "fp32" if device == "cpu" else precision
        self.precision, self.precision_note = choose_precision(precision, backend=backend, device=device,
                                                               entry=self.card.get("int8"))
        if backend == "torch":
            self._runner = _TorchRunner(network, device, self._threads)
        else:
            int8 = self.card["int8"] if self.precision == "int8" else None
            self._runner = OnnxRunner(network, path, self._threads, int8=int8, mode=mode)
        use_mapping(self, mapping)  # scored in another label set (model/class_mapping.py); None: its own

    # -- public API ---------------------------------------------------------
    @property
    def preferred_batch(self) -> int:
        """Frames per ``segment_batch`` call that use the backend best (ONNX: one per lane)."""
        return self._runner.lanes if isinstance(self._runner, OnnxRunner) else 1

    def segment(self, frame: np.ndarray, *, probabilities: bool = False, confidence: bool = False) -> Prediction:
        """Labels (and optionally probabilities) for one BGR uint8 frame.

        ``confidence``: also the winning class's probability per pixel, from the same model
        call, without the 12 probability maps; exact on every second pixel of the working
        frame, each 2x2 block taking its sample (model/confidence.py).
        """
        if confidence and not probabilities:
            labels, conf = self._runner.run(self._preprocess(frame)[None], signals=True)
            return self._with_confidence(labels[0], conf[0], frame.shape[:2])
        return self.segment_batch([frame], probabilities=probabilities)[0]

    def _with_confidence(self, labels: np.ndarray, conf: np.ndarray, frame_hw: tuple[int, int]) -> Prediction:
        h, w = frame_hw
        conf = confidence_at(conf, labels.shape)
        if conf.shape != (h, w):
            conf = cv2.resize(conf, (w, h), interpolation=cv2.INTER_LINEAR)
        return Prediction(labels=self._to_frame_size(labels, frame_hw), confidence=conf.astype(np.float32, copy=False))

    def segment_batch(self, frames: list[np.ndarray], *, probabilities: bool = False) -> list[Prediction]:
        """Frames of equal size run as one batch; mixed sizes run one by one."""
        if not frames:
            return []
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:
            return [self.segment_batch([f], probabilities=probabilities)[0] for f in frames]
        frame_hw = frames[0].shape[:2]
        blob = np.stack([self._preprocess(f) for f in frames])
        if not probabilities:  # argmax inside the backend: no 12-channel float map leaves it
            return [Prediction(labels=self._to_frame_size(lb, frame_hw)) for lb in self._runner.run(blob, labels_only=True)]
        logits = self._runner.run(blob)
        return [self._postprocess(lg, frame_hw, probabilities) for lg in logits]

    def submit(self, frame: np.ndarray, *, confidence: bool = False) -> Future:
        """Start segmenting one frame (labels, and the confidence map with ``confidence``);
        returns a ``Future`` of its :class:`Prediction`.

        For a stream of frames (export): the ONNX backend runs up to ``preferred_batch``
        submitted frames at once, one per lane (its own ONNX session), and a free lane takes the next
        frame at once instead of waiting for the slowest frame of a group, so no core idles.
        Other backends run the frame now and return a finished future.
        """
        if isinstance(self._runner, OnnxRunner):
            return self._runner.pool.submit(self._segment_on_lane, frame, confidence)
        return run_now(self.segment, frame, confidence=confidence)

    def segment_stream(self, items: Iterable[tuple[Any, np.ndarray]]) -> Iterator[tuple[Any, Prediction]]:
        """``(key, frame)`` pairs in, ``(key, prediction)`` out, in the same order.

        Up to twice ``preferred_batch`` frames are in flight through :meth:`submit`, so on the
        ONNX backend every core stays busy; ``items`` is read only as far as that.
        """
        depth = 2 * self.preferred_batch
        pending: deque[tuple[Any, Future]] = deque()
        try:
            for key, frame in items:
                pending.append((key, self.submit(frame)))
                if len(pending) >= depth:
                    key, future = pending.popleft()
                    yield key, future.result()
            while pending:
                key, future = pending.popleft()
                yield key, future.result()
        finally:
            for _, future in pending:
                future.cancel()  # the caller stopped early: frames not started are dropped

    def _segment_on_lane(self, frame: np.ndarray, confidence: bool = False) -> Prediction:
        start = time.perf_counter()
        if confidence:
            labels, conf = self._runner.run_on_lane(self._preprocess(frame)[None], signals=True)
            prediction = self._with_confidence(labels[0], conf[0], frame.shape[:2])
        else:
            labels = self._runner.run_on_lane(self._preprocess(frame)[None], labels_only=True)[0]
            prediction = Prediction(labels=self._to_frame_size(labels, frame.shape[:2]))
        prediction.model_ms = (time.perf_counter() - start) * 1000
        return prediction

    def logits(self, frame: np.ndarray) -> np.ndarray:
        """Raw class scores (C, h, w) at the working size; for analysis tools."""
        return self._runner.run(self._preprocess(frame)[None])[0]

    # -- internals ------------------------------------------------------------
    def _preprocess(self, frame: np.ndarray) -> np.ndarray:
        """Resize to the working size, BGR -> RGB, normalise: one (3, h, w) float32 array."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected a BGR uint8 frame, got {frame.dtype} {frame.shape}")
        h, w = working_size(frame.shape[:2], self.working_height)
        if (h, w) != frame.shape[:2]:
            interp = cv2.INTER_AREA if h < frame.shape[0] else cv2.INTER_LINEAR
            frame = cv2.resize(frame, (w, h), interpolation=interp)
        if np.all(self._std == self._std[0]):
            # One fused OpenCV pass (swap, subtract, scale, HWC -> CHW): ~6x faster than numpy here.
            return cv2.dnn.blobFromImage(frame, 1.0 / float(self._std[0]), mean=tuple(float(m) for m in self._mean), swapRB=True)[0]
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).astype(np.float32)
        rgb -= self._mean
        rgb /= self._std
        return np.ascontiguousarray(rgb.transpose(2, 0, 1))

    @staticmethod
    def _to_frame_size(labels: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
        h, w = frame_hw
        if labels.shape == (h, w):
            return labels
        return cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)

    def _postprocess(self, logits: np.ndarray, frame_hw: tuple[int, int], probabilities: bool) -> Prediction:
        h, w = frame_hw
        same = logits.shape[1:] == (h, w)
        if not probabilities:
            return Prediction(labels=self._to_frame_size(logits.argmax(0).astype(np.uint8), frame_hw))
        z = logits - logits.max(0, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(0, keepdims=True)
        if not same:
            z = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in z])
        probs = z.astype(np.float32, copy=False)
        return Prediction(labels=probs.argmax(0).astype(np.uint8), probabilities=probs, confidence=probs.max(0))


PRECISIONS = ("auto", "fp32", "int8")


def choose_precision(asked: str, *, backend: str, device: str, entry: dict | None) -> tuple[str, str | None]:
    """(what runs, why it is not what was asked, or None): ``fp16`` on CUDA, ``fp32`` or ``int8``.

    ``auto`` takes int8 on the ONNX backend only when the card's int8 check passed; ``int8``
    takes it whenever the card holds a calibration, checked or not.
    """
    from model.quantize import int8_passed

    if asked not in PRECISIONS:
        raise ValueError(f"unknown precision {asked!r} ({', '.join(PRECISIONS)})")
    if device == "cuda":
        if asked == "int8":
            raise ValueError("int8 runs on the CPU (ONNX backend); on CUDA the model runs in fp16")
        return "fp16", None
    if asked == "fp32":
        return "fp32", None
    if backend != "onnx":
        if asked == "int8":
            raise ValueError("int8 needs the ONNX backend (--backend onnx)")
        return "fp32", None
    passed, why = int8_passed(entry)
    if asked == "int8" and entry:
        return "int8", None if passed else f"int8 as asked, though {why}"
    if passed:
        return "int8", None
    return "fp32", f"fp32: {why}"


def note_precision(segmenter) -> None:
    """One line on stderr when the precision that runs is not the one asked for, and why."""
    if getattr(segmenter, "precision_note", None):
        print(f"camvid-viewer: {segmenter.path.name}: {segmenter.precision_note}", file=sys.stderr)


def run_now(function, *args, **kwargs) -> Future:
    """Call ``function`` on this thread; its result (or exception) as a finished ``Future``.

    For segmenters that cannot run frames in parallel but offer ``submit`` like one that can.
    """
    future: Future = Future()
    try:
        future.set_result(function(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001 - delivered through the future, as a pool would
        future.set_exception(exc)
    return future


def _default_threads() -> int:
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return os.cpu_count() or 1


def _has_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class _TorchRunner:
    """Eager PyTorch: float32 on the CPU, float16 + channels-last on CUDA."""

    def __init__(self, network, device: str, threads: int) -> None:
        import torch

        self._torch = torch
        if device == "cpu":
            torch.set_num_threads(threads)
        self.device = torch.device(device)
        self.half = device == "cuda"
        network = network.to(self.device)
        if self.half:
            network = network.half().to(memory_format=torch.channels_last)
        self.network = network.eval()

    def run(self, blob: np.ndarray, *, labels_only: bool = False, signals: bool = False):
        """Logits (N, C, h, w) float32, labels (N, h, w) uint8, or with ``signals`` the pair
        (labels, winning-class probability (N, h, w) float32)."""
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(blob).to(self.device)
            if self.half:
                x = x.half().contiguous(memory_format=torch.channels_last)
            out = self.network(x)
            if signals:
                labels = out.argmax(1).to(torch.uint8).cpu().numpy()
                return labels, winning_probability_grid(out.float()).cpu().numpy()
            if labels_only:
                return out.argmax(1).to(torch.uint8).cpu().numpy()
            return out.float().cpu().numpy()
