"""int8 graphs for the CPU: calibrated once when a model is made, checked, stored in the card.

ONNX Runtime's static quantization (QDQ, per-channel int8 weights, uint8 activations) needs
the range of every activation. Those ranges are measured once on calibration frames
(:func:`calibrate`) and kept in the model card's ``int8`` entry with an accuracy check on
labelled frames the calibration never saw (:func:`check_agreement`). At run time the int8
graph for any working size is built from that size's fp32 graph and the stored ranges, with
no data (:func:`build_int8_graph`), and cached beside the fp32 graphs, keyed by the
checkpoint and the calibration.

Usage::

    entry = quantize_entry(segmenter, calibration_frames, check_pairs, source="train 0016E5")
    card["int8"] = entry   # then saved with the checkpoint
"""

from __future__ import annotations

__all__ = [
    "CALIBRATION_FORMAT", "MIN_EQUAL_PIXELS", "MAX_MIOU_DROP", "check_int8_entry", "int8_passed",
    "calibration_hash", "build_int8_graph", "confidence_tail", "stem_nodes", "calibrate", "check_agreement", "quantize_entry",
]

import hashlib
import json
import math
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

#: What the card's ``int8.ranges`` holds: ONNX Runtime's calibration cache (MinMax ranges).
CALIBRATION_FORMAT = "ort-minmax-ranges/1"
#: ``auto`` runs int8 only when the stored check met both of these.
MIN_EQUAL_PIXELS = 0.97
MAX_MIOU_DROP = 0.005


def check_int8_entry(entry, *, where: str) -> None:
    """Refuse a corrupt or foreign ``int8`` card entry with one line (``where`` names the file)."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: the card's int8 entry is not an object")
    if entry.get("format") != CALIBRATION_FORMAT:
        raise ValueError(f"{where}: the card's int8 calibration has format {entry.get('format')!r}, "
                         f"expected {CALIBRATION_FORMAT!r} (made by another version?)")
    ranges = entry.get("ranges")
    data = ranges.get("data") if isinstance(ranges, dict) else None
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{where}: the card's int8 calibration holds no activation ranges")
    for name, value in data.items():
        low, high = (_number(value.get(k)) for k in ("lowest", "highest")) if isinstance(value, dict) else (None, None)
        if low is None or high is None or low > high:
            raise ValueError(f"{where}: the card's int8 range of {name!r} is not a finite [low, high] pair")
    if not isinstance(entry.get("fp32_nodes", []), list):
        raise ValueError(f"{where}: the card's int8 fp32_nodes is not a list of node names")
    check = entry.get("check")
    if check is not None and not (isinstance(check, dict) and all(_finite(check.get(k)) for k in
                                                                   ("equal_pixels", "miou_fp32", "miou_int8"))):
        raise ValueError(f"{where}: the card's int8 accuracy check is incomplete")


def _number(value) -> float | None:
    """A range end as ONNX Runtime stores it (``{"data": [x], ...}``) or a plain number; None if not finite."""
    if isinstance(value, dict):
        data = value.get("data")
        value = data[0] if isinstance(data, list) and len(data) == 1 else None
    return float(value) if _finite(value) else None


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def int8_passed(entry: dict | None) -> tuple[bool, str]:
    """Whether ``auto`` may run this card's int8 graph, and why (one line) when it may not."""
    if not entry:
        return False, "the model has no int8 calibration (make one with: main.py quantize MODEL --data DIR)"
    check = entry.get("check")
    if not check:
        return False, "the model's int8 graph was never checked against fp32"
    equal, drop = check["equal_pixels"], check["miou_fp32"] - check["miou_int8"]
    if equal < MIN_EQUAL_PIXELS or drop > MAX_MIOU_DROP:
        return False, (f"its int8 check failed ({100 * equal:.1f}% equal pixels, mIoU {100 * check['miou_fp32']:.2f}% "
                       f"-> {100 * check['miou_int8']:.2f}%; needs >= {100 * MIN_EQUAL_PIXELS:.0f}% equal and at most "
                       f"{100 * MAX_MIOU_DROP:.1f} points lower)")
    return True, ""


def calibration_hash(entry: dict) -> str:
    """Short hash of the stored ranges: int8 graphs of another calibration are never reused."""
    text = json.dumps([entry["ranges"], entry.get("fp32_nodes", [])], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def build_int8_graph(fp32_graph: Path, entry: dict, target: Path) -> Path:
    """Quantize ``fp32_graph`` with the stored ranges (no data needed) into ``target``."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    graph = onnx.load(str(fp32_graph), load_external_data=False).graph
    names = {n.name for n in graph.node}
    keep = list(entry.get("fp32_nodes", []))
    if not set(keep) <= names:  # another graph of the model (logits, not labels): same rule, its names
        keep = stem_nodes(fp32_graph)
    if len(graph.output) > 1:  # the confidence tail has no calibrated ranges: float
        keep += confidence_tail(graph)
    with tempfile.TemporaryDirectory(prefix="camvid-int8-") as tmp:
        cache = Path(tmp) / "ranges.json"
        cache.write_text(json.dumps(entry["ranges"]))
        staged = Path(tmp) / "int8.onnx"
        _quiet(lambda: quantize_static(
            str(fp32_graph), str(staged), calibration_data_reader=None, quant_format=QuantFormat.QDQ,
            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibration_cache_path=str(cache), nodes_to_exclude=keep,
        ))
        target.parent.mkdir(parents=True, exist_ok=True)
        staged.replace(target) if staged.parent == target.parent else target.write_bytes(staged.read_bytes())
    return target


def confidence_tail(graph) -> list[str]:
    """The nodes of a labels-and-confidence graph that come after the logits, off the ArgMax:
    everything the labels graph (which was calibrated) does not have."""
    argmax = next(n for n in graph.node if n.op_type == "ArgMax")
    logits = argmax.input[0]
    downstream, tail = {logits}, []
    for node in graph.node:  # ONNX graphs are topologically sorted
        if node is not argmax and any(name in downstream for name in node.input):
            downstream.update(node.output)
            tail.append(node)
    labels_branch = {argmax.output[0]}
    return [n.name for n in tail if not set(n.input) & labels_branch]


def stem_nodes(fp32_graph: Path) -> list[str]:
    """The nodes that run at half the input resolution (everything before the second stride-2
    convolution): kept in float. Quantizing them costs most of int8's disagreement with fp32
    (on a drive the calibration never saw, shipped model: the stem alone in float gives 97.5%
    equal pixels and -1.2 mIoU points; these six nodes give 99.2% and -0.03)."""
    import onnx

    nodes = onnx.load(str(fp32_graph), load_external_data=False).graph.node
    strided = 0
    for i, node in enumerate(nodes):
        strides = next((list(a.ints) for a in node.attribute if a.name == "strides"), [])
        if node.op_type == "Conv" and strides and max(strides) >= 2:
            strided += 1
            if strided == 2:
                return [n.name for n in nodes[:i]]
    return []


def calibrate(fp32_graph: Path, blobs: Iterable[np.ndarray], *, fp32_nodes: Sequence[str] = ()) -> dict:
    """ONNX Runtime's MinMax activation ranges of ``fp32_graph`` over preprocessed ``blobs``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Frames(CalibrationDataReader):
        def __init__(self, items) -> None:
            self.items = iter(items)

        def get_next(self):
            blob = next(self.items, None)
            return None if blob is None else {"image": blob}

    with tempfile.TemporaryDirectory(prefix="camvid-calib-") as tmp:
        cache = Path(tmp) / "ranges.json"
        _quiet(lambda: quantize_static(
            str(fp32_graph), str(Path(tmp) / "int8.onnx"), calibration_data_reader=Frames(blobs),
            quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8, calibration_cache_path=str(cache), nodes_to_exclude=list(fp32_nodes),
        ))
        return json.loads(cache.read_text())


def check_agreement(fp32: Callable, int8: Callable, pairs: Sequence[tuple[np.ndarray, np.ndarray]], *,
                    num_classes: int, void_index: int | None) -> dict:
    """int8 against fp32 on labelled frames: share of equal pixels and both pooled mIoUs."""
    from model.metrics import ConfusionMatrix

    equal = total = 0
    cms = [ConfusionMatrix(num_classes, ignore_index=void_index) for _ in range(2)]
    for frame, truth in pairs:
        a, b = fp32(frame), int8(frame)
        equal += int((a == b).sum())
        total += a.size
        cms[0].update(a, truth)
        cms[1].update(b, truth)
    f, i = (cm.compute().mean_iou for cm in cms)
    return {"equal_pixels": equal / total, "miou_fp32": f, "miou_int8": i, "frames": len(pairs)}


def quantize_entry(ranges: dict, check: dict | None, *, fp32_nodes: Sequence[str], calibration: str,
                   checked_on: str) -> dict:
    """The card's ``int8`` entry: ranges, the nodes kept in float, provenance, and the check
    (``None``: not checked yet, which ``auto`` never runs)."""
    entry = {"format": CALIBRATION_FORMAT, "ranges": ranges, "fp32_nodes": list(fp32_nodes), "calibration": calibration,
             "check": None if check is None else {**check, "frames_source": checked_on}}
    entry["passed"] = int8_passed(entry)[0]
    return entry


def _quiet(fn) -> None:
    """ONNX Runtime's quantizer logs advice on the root logger; keep a command's output one line."""
    import logging

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        fn()
    finally:
        logging.disable(previous)
