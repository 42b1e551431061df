"""Any ONNX semantic-segmentation model, run by the same ``Segmenter`` as our checkpoints.

The graph takes NCHW float images and gives logits (N, C, h, w) or labels (N, h, w); its JSON
card (``model/onnx_card.py``, whose names this module also offers) says the rest. ONNX Runtime
runs the graph: the CUDA execution provider when present and asked for (``auto`` takes it), else
the CPU, on parallel lanes as our own ONNX backend does.
"""

from __future__ import annotations

__all__ = ["CARD_KEYS", "ExternalCard", "ExternalOnnxRunner", "ModelCardError", "add_card_arguments", "attach_external",
           "card_from_dict", "card_path_for", "external_scored_classes", "generated_palette", "is_external_model",
           "read_external_card", "travelling_card"]

import sys
import threading
from pathlib import Path

import cv2
import numpy as np

from model.checkpoint import file_sha256
from model.class_mapping import use_mapping
from model.confidence import CONFIDENCE_STRIDE, winning_probability_grid_numpy
from model.onnx_backend import OnnxRunner
from model.onnx_card import (  # offered here too: callers open "an external model" in one place
    CARD_KEYS,
    ExternalCard,
    ModelCardError,
    add_card_arguments,
    card_from_dict,
    card_path_for,
    external_scored_classes,
    generated_palette,
    is_external_model,
    read_external_card,
    travelling_card,
)


class ExternalOnnxRunner(OnnxRunner):
    """An ONNX graph as the Segmenter's backend: the same ``run`` / ``run_on_lane`` / ``pool``
    as :class:`OnnxRunner`, so ``submit`` and ``segment_stream`` use its lanes unchanged.

    The Segmenter hands over (N, 3, h, w) blobs normalised in RGB order at the working height;
    here they are put in the graph's channel order and, for a fixed-size graph, its width.
    """

    def __init__(self, model_path: Path, card: ExternalCard, *, threads: int, providers: list[str]) -> None:
        import onnxruntime as ort

        self.checkpoint_path = Path(model_path)
        self.checkpoint_hash = file_sha256(model_path)
        self.card = card
        self.providers = providers
        self.int8 = None
        self.network = None
        self.threads = threads
        cuda = providers[0] == "CUDAExecutionProvider"
        self.lanes = 2 if cuda else min(threads, self.MAX_LANES)  # on CUDA, two lanes overlap host work
        self.lane_threads = 1 if cuda else max(1, threads // self.lanes)
        self._lanes = threading.local()
        self._lock = threading.Lock()
        self._pool = None
        self._ort = ort
        probe = self._new_session(1)
        self.active_providers = tuple(probe.get_providers())  # what ORT could start of those asked for
        self.sessions = {"main": probe}
        self.input_name, self.output_name, self.fixed_size = _check_graph(probe, model_path, card)

    def run(self, blob: np.ndarray, *, labels_only: bool = False, signals: bool = False):
        """Logits (N, C, h, w) float32, labels (N, h, w) uint8, or (labels, confidence)."""
        if len(blob) > 1 and self.lanes > 1:
            futures = [self.pool.submit(self.run_on_lane, blob[i : i + 1], labels_only=labels_only, signals=signals)
                       for i in range(len(blob))]
            parts = [f.result() for f in futures]
            if signals:
                return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
            return np.concatenate(parts)
        with self._lock:
            if self.sessions.get("threads") is None:
                self.sessions["threads"] = self._new_session(self.threads)
            session = self.sessions["threads"]
        return self._outputs(session, blob, labels_only, signals)

    def run_on_lane(self, blob: np.ndarray, *, labels_only: bool = False, signals: bool = False):
        """:meth:`run` on the calling thread's own session (call it from the pool)."""
        session = getattr(self._lanes, "session", None)
        if session is None:
            session = self._lanes.session = self._new_session(self.lane_threads)
        return self._outputs(session, blob, labels_only, signals)

    # -- internals ----------------------------------------------------------------------------
    def _new_session(self, threads: int):
        ort = self._ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # the user's graph: ORT's warnings about it are not ours to print
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            return ort.InferenceSession(str(self.checkpoint_path), options, providers=self.providers)
        except Exception as exc:  # noqa: BLE001 - ORT's refusal of a file, in one line
            reason = " ".join(str(exc).split())[:300]
            raise ModelCardError(f"{self.checkpoint_path}: ONNX Runtime cannot load this model ({reason})") from None

    def _graph_input(self, blob: np.ndarray) -> np.ndarray:
        if self.card.channels == "BGR":
            blob = blob[:, ::-1]
        if self.fixed_size is not None and blob.shape[2:] != self.fixed_size:
            h, w = self.fixed_size  # the card's fixed size: normalising and resizing commute (both linear)
            blob = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in blob.transpose(0, 2, 3, 1)])
            blob = blob.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(blob, dtype=np.float32)

    def _outputs(self, session, blob: np.ndarray, labels_only: bool, signals: bool):
        out = session.run([self.output_name], {self.input_name: self._graph_input(blob)})[0]
        n = self.card.label_set.count
        if self.card.output == "labels":
            labels = _checked_labels(out, n, self.checkpoint_path, self.card.path)
            if labels_only:
                return labels
            if signals:  # a labels-out graph has no probabilities: each pixel is sure of its class
                return labels, np.ones(labels[:, ::CONFIDENCE_STRIDE, ::CONFIDENCE_STRIDE].shape, np.float32)
            return (np.eye(n, dtype=np.float32)[labels] * 100.0).transpose(0, 3, 1, 2)
        if out.ndim != 4 or out.shape[1] != n:
            raise ModelCardError(f"{self.checkpoint_path}: the model's logits are {tuple(out.shape)} but the card "
                                 f"{self.card.path.name} names {n} classes (expected N x {n} x H x W)")
        logits = out.astype(np.float32, copy=False)
        labels = logits.argmax(1).astype(np.uint8)
        if labels_only:
            return labels
        if signals:
            return labels, winning_probability_grid_numpy(logits)
        return logits


def _checked_labels(out: np.ndarray, n: int, model_path: Path, card_path: Path) -> np.ndarray:
    if out.ndim == 4 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim != 3:
        raise ModelCardError(f"{model_path}: the model's output is {tuple(out.shape)}; the card {card_path.name} says "
                             "labels (expected N x H x W)")
    if out.size and (int(out.max()) >= n or int(out.min()) < 0):
        raise ModelCardError(f"{model_path}: the model gave label {int(out.max())} but the card {card_path.name} "
                             f"names {n} classes (0..{n - 1})")
    return out.astype(np.uint8)


def _check_graph(session, model_path: Path, card: ExternalCard) -> tuple[str, str, tuple[int, int] | None]:
    """The graph's input and output names, and its fixed (h, w) if any; a graph the card does not
    describe is one line."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise ModelCardError(f"{model_path}: the model takes {len(inputs)} inputs; expected one NCHW image")
    shape, kind = inputs[0].shape, inputs[0].type
    if kind not in ("tensor(float)",):
        raise ModelCardError(f"{model_path}: the model's input is {kind}; expected float NCHW images (tensor(float))")
    if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
        raise ModelCardError(f"{model_path}: the model's input is {shape}; expected N x 3 x H x W")
    static = tuple(shape[2:]) if all(isinstance(v, int) and v > 0 for v in shape[2:]) else None
    fixed = card.working_size
    if static is not None and fixed is not None and static != fixed:
        raise ModelCardError(f"{model_path}: the model takes {static[0]}x{static[1]} (h x w) images but the card "
                             f"{card.path.name} says working_size {list(fixed)}")
    if static is not None and card.working_height is not None and static[0] != card.working_height:
        raise ModelCardError(f"{model_path}: the model takes {static[0]}x{static[1]} (h x w) images but the card "
                             f"{card.path.name} says working_height {card.working_height}")
    if fixed is None and card.working_height is None and static is None:
        raise ModelCardError(f"{card.path}: missing 'input.working_height' (or 'input.working_size'); the model "
                             "takes images of any size")
    out = outputs[0].shape
    n = card.label_set.count
    if card.output == "logits" and (len(out) != 4 or (isinstance(out[1], int) and out[1] != n)):
        raise ModelCardError(f"{model_path}: the model's output is {out} but the card {card.path.name} names {n} "
                             f"classes with logits (expected N x {n} x H x W)")
    if card.output == "labels" and len(out) not in (3, 4):
        raise ModelCardError(f"{model_path}: the model's output is {out}; the card {card.path.name} says labels")
    return inputs[0].name, outputs[0].name, fixed or static


def _providers(device: str) -> tuple[list[str], str]:
    """(ONNX Runtime providers, the device that runs) for ``auto``, ``cpu`` or ``cuda``."""
    import onnxruntime as ort

    cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "cuda" and not cuda:
        raise RuntimeError("CUDA was asked for but ONNX Runtime has no CUDA execution provider here "
                           "(install onnxruntime-gpu)")
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"unknown device {device!r} (auto, cpu, cuda)")
    if device == "cuda" or (device == "auto" and cuda):
        return ["CUDAExecutionProvider", "CPUExecutionProvider"], "cuda"
    return ["CPUExecutionProvider"], "cpu"


def attach_external(segmenter, path: Path, *, card: str | Path | None, device: str, backend: str, precision: str,
                    working_height: int | None, threads: int, mapping=None) -> None:
    """Make ``segmenter`` (a ``model.inference.Segmenter`` being built) run the ONNX model at ``path``.

    Sets what ``Segmenter.__init__`` sets for a checkpoint, so every method of it works unchanged.
    ``mapping``: the class mapping asked for; default: the card's (a name, or a file beside the card).
    """
    if not path.is_file():
        raise ModelCardError(f"{path}: no such model file")
    if backend not in ("auto", "onnx", "torch"):
        raise ValueError(f"unknown backend {backend!r} (auto, torch, onnx)")
    if backend == "torch":
        raise ValueError(f"{path}: an ONNX model runs on ONNX Runtime; use --backend auto or onnx")
    if precision == "int8":
        raise ValueError(f"{path}: int8 needs one of this project's calibrated checkpoints; an ONNX model runs as it is")
    checked = read_external_card(path, card)
    asked = device
    providers, device = _providers(device)
    segmenter.path = path
    segmenter.external_card = checked
    segmenter.card = {**checked.raw, "name": checked.name, "format": "onnx"}
    segmenter.name = checked.name
    segmenter.label_set = checked.label_set
    segmenter.class_names, segmenter.palette_bgr = checked.label_set.names, checked.label_set.palette_bgr
    fixed = checked.working_size
    segmenter.working_height = int(working_height or (fixed[0] if fixed else 0) or checked.working_height or 0)
    rgb = slice(None, None, -1) if checked.channels == "BGR" else slice(None)  # Segmenter normalises in RGB order
    segmenter._mean = np.asarray(checked.mean, np.float32)[rgb] * 255
    segmenter._std = np.asarray(checked.std, np.float32)[rgb] * 255
    segmenter.device, segmenter.backend = device, "onnx"
    segmenter.precision, segmenter.precision_note = "fp32", None
    segmenter._threads = threads
    segmenter._runner = ExternalOnnxRunner(path, checked, threads=threads, providers=providers)
    if device == "cuda" and "CUDAExecutionProvider" not in segmenter._runner.active_providers:
        # ONNX Runtime drops a CUDA provider it cannot start (no driver, no cuDNN) without failing
        if asked == "cuda":
            raise RuntimeError(f"{path}: ONNX Runtime could not start its CUDA execution provider here")
        segmenter.device = "cpu"
        segmenter._runner = ExternalOnnxRunner(path, checked, threads=threads, providers=["CPUExecutionProvider"])
    if segmenter.working_height == 0:  # the graph's own fixed size
        segmenter.working_height = segmenter._runner.fixed_size[0]
    segmenter.card_notes = checked.notes
    if mapping is not None:
        use_mapping(segmenter, mapping)
    else:
        use_mapping(segmenter, checked.mapping, base=checked.path.parent)
    for note in checked.notes:  # once the model is usable: a failure stays one line
        print(f"camvid-viewer: {note}", file=sys.stderr)
