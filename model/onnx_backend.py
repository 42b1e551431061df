"""ONNX Runtime on the CPU: graphs exported once per working size and cached by checkpoint hash.

The cache lives in :func:`user_cache_dir` (``$CAMVID_VIEWER_CACHE``); a cached graph is used only
if its bytes hash to what its sidecar recorded, and an unusable cache folder costs a rebuild in
a temp folder per run, never the run.
"""

from __future__ import annotations

__all__ = ["OnnxRunner", "export_onnx", "onnx_cache_dir", "user_cache_dir"]

import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from model.checkpoint import atomic_write, file_sha256
from model.confidence import CONFIDENCE_STRIDE, winning_probability_grid

_ONNX_OPSET = 18


def user_cache_dir() -> Path:
    """The tool's cache root: ``$CAMVID_VIEWER_CACHE`` or the platform's user cache folder."""
    env = os.environ.get("CAMVID_VIEWER_CACHE")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "camvid-viewer"


def onnx_cache_dir() -> Path:
    """Where exported ONNX graphs live."""
    return user_cache_dir() / "onnx"


class OnnxRunner:
    """ONNX Runtime on the CPU, one exported graph per working size, cached by checkpoint hash.

    A single frame runs on one session using every thread. Several frames (a batch, or frames
    submitted one by one) run on "lane" sessions in parallel, one per pool thread: on 2 cores,
    two single-threaded lanes give about 15% more frames per second than intra-op threading
    of one frame at a time. At most ``MAX_LANES`` lanes share the threads (16 threads: 4 lanes
    of 4), so a many-core machine does not hold dozens of sessions and frames in memory.
    """

    MAX_LANES = 4

    def __init__(self, network, checkpoint_path: Path, threads: int, *, int8: dict | None = None, mode: str = "fast") -> None:
        self.mode = mode  # "accurate": ``network`` is flip-averaged (model/test_time.py), cached apart
        self.network = network
        self.checkpoint_path = Path(checkpoint_path)
        self.checkpoint_hash = file_sha256(checkpoint_path)
        self.int8 = int8  # the card's calibration: run int8 graphs built from it
        self.threads = threads
        self.lanes = min(threads, self.MAX_LANES)
        self.lane_threads = max(1, threads // self.lanes)
        self.sessions: dict[tuple, object] = {}
        self._lanes = threading.local()  # each pool thread's own sessions, by key
        self._lock = threading.Lock()  # one graph export / pool start at a time
        self._pool: ThreadPoolExecutor | None = None

    @property
    def pool(self) -> ThreadPoolExecutor:
        """One thread per lane; tasks queue while every lane is busy."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.lanes, thread_name_prefix="onnx-lane")
            return self._pool

    def run(self, blob: np.ndarray, *, labels_only: bool = False, signals: bool = False):
        """Logits (N, C, h, w) float32; labels (N, h, w) uint8 from a graph that ends in ArgMax;
        or with ``signals`` a pair (labels, winning-class probability (N, h, w) float32), one graph."""
        kind = _kind(labels_only, signals)
        if len(blob) > 1 and self.lanes > 1:
            futures = [self.pool.submit(self.run_on_lane, blob[i : i + 1], labels_only=labels_only, signals=signals)
                       for i in range(len(blob))]
            return _joined([f.result() for f in futures], signals)
        key = (*blob.shape[2:], kind)
        session = self.sessions.get(key)
        if session is None:
            session = self.sessions[key] = self._session(blob.shape[2:], kind, self.threads)
        return _joined([_outputs(session.run(None, {"image": blob[i : i + 1]}), signals) for i in range(len(blob))], signals)

    def run_on_lane(self, blob: np.ndarray, *, labels_only: bool = False, signals: bool = False):
        """:meth:`run` on the calling thread's own lane session (call it from the pool)."""
        kind = _kind(labels_only, signals)
        key = (*blob.shape[2:], kind)
        sessions = self._lanes.__dict__.setdefault("sessions", {})
        session = sessions.get(key)
        if session is None:
            session = sessions[key] = self._session(blob.shape[2:], kind, self.lane_threads)
        return _outputs(session.run(None, {"image": blob}), signals)

    def cache_path(self, size: tuple[int, int], labels_only: bool | str = False, *, int8: bool = False) -> Path:
        """The cached graph of one working size: keyed by checkpoint, and by calibration for int8."""
        from model.quantize import calibration_hash

        kind = labels_only if isinstance(labels_only, str) else _kind(labels_only, False)
        if kind == "signals":  # the confidence grid's stride is part of what the graph computes
            kind += f"-s{CONFIDENCE_STRIDE}"
        if self.mode != "fast":
            kind += f"-{self.mode}"
        if int8:
            kind += f"-int8-{calibration_hash(self.int8)}"
        return onnx_cache_dir() / f"{self.checkpoint_hash[:24]}-{size[0]}x{size[1]}-{kind}-op{_ONNX_OPSET}.onnx"

    def _graph(self, size: tuple[int, int], kind: str) -> Path:
        """The fp32 graph of this size (exported once), or the int8 graph built from it."""
        path = self.cache_path(size, kind)
        if not _cache_is_valid(path):
            path = _export_or_fall_back(graph_module(self.network, kind), path, size, rebuild=(self.checkpoint_path, kind, self.mode))
        if self.int8 is None:
            return path
        target = self.cache_path(size, kind, int8=True)
        if path.parent != target.parent:  # the fp32 graph fell back to a private folder
            target = path.parent / target.name
        if not _cache_is_valid(target):
            _build_int8(path, self.int8, target)
        return target

    def _session(self, size: tuple[int, int], kind: str, threads: int):
        import onnxruntime as ort

        with self._lock:  # two lanes starting on a new size must not both write the cache
            path = self._graph(size, kind)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception:  # noqa: BLE001 - a graph ORT refuses is rebuilt once
            with self._lock:
                for stale in {path, self.cache_path(size, kind)}:
                    _sidecar(stale).unlink(missing_ok=True)
                path = self._graph(size, kind)
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


GRAPH_KINDS = ("logits", "labels", "signals")


def _kind(labels_only: bool, signals: bool) -> str:
    return "signals" if signals else "labels" if labels_only else "logits"


def _outputs(outputs: list, signals: bool):
    return (outputs[0], outputs[1]) if signals else outputs[0]


def _joined(parts: list, signals: bool):
    if signals:
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return np.concatenate(parts)


def graph_module(network, kind: str):
    """What a graph of ``kind`` computes: the logits, the labels, or labels and confidence."""
    if kind == "labels":
        return _labels_only_module(network)
    if kind == "signals":
        return _signals_module(network)
    return network


def _signals_module(network):
    import torch

    class LabelsAndConfidence(torch.nn.Module):
        """Labels and the winning class's probability (on model/confidence.py's grid) from one
        pass: the window's confidence panels cost a few elementwise passes, never a second call."""

        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x):
            logits = self.inner(x)
            return logits.argmax(1).to(torch.uint8), winning_probability_grid(logits)

    return LabelsAndConfidence(network).eval()


def _labels_only_module(network):
    import torch

    class LabelsOnly(torch.nn.Module):
        """The network followed by ArgMax: uint8 labels leave the graph, not 12 float maps."""

        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x).argmax(1).to(torch.uint8)

    return LabelsOnly(network).eval()



def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _cache_is_valid(path: Path) -> bool:
    """A cached graph is used only if its bytes hash to what the sidecar recorded at export."""
    try:
        meta = json.loads(_sidecar(path).read_text())
        return path.is_file() and meta.get("sha256") == file_sha256(path)
    except (OSError, ValueError):
        return False


def _export_or_fall_back(network, path: Path, size: tuple[int, int], *, rebuild=None) -> Path:
    """Export into the cache; an unusable cache folder costs a rebuild per run, not the run."""
    try:
        return export_onnx(network, path, size, rebuild=rebuild)
    except OSError as exc:
        fallback = Path(_private_cache_dir()) / path.name
        print(f"camvid-viewer: the cache folder {path.parent} cannot be written ({exc.strerror or exc}); "
              "building the ONNX graph in a temp folder for this run (set CAMVID_VIEWER_CACHE to a writable folder)",
              file=sys.stderr)
        return export_onnx(network, fallback, size, rebuild=rebuild)


_PRIVATE_CACHE: list[str] = []


def _private_cache_dir() -> str:
    """A temp folder for this process's graphs, removed at exit."""
    if not _PRIVATE_CACHE:
        import atexit
        import shutil
        import tempfile

        _PRIVATE_CACHE.append(tempfile.mkdtemp(prefix="camvid-viewer-onnx-"))
        atexit.register(shutil.rmtree, _PRIVATE_CACHE[0], True)
    return _PRIVATE_CACHE[0]


def _build_int8(fp32_graph: Path, entry: dict, target: Path) -> Path:
    """The int8 graph of ``fp32_graph`` from the stored calibration, written atomically with its sidecar."""
    from model.quantize import build_int8_graph

    with atomic_write(target, suffix=".onnx") as tmp:
        build_int8_graph(fp32_graph, entry, tmp)
    _sidecar(target).write_text(json.dumps({"sha256": file_sha256(target), "from": fp32_graph.name}))
    return target


def export_onnx(network, path: Path, size: tuple[int, int], *, rebuild: tuple[Path, str, str] | None = None) -> Path:
    """Export ``network`` for a 1x3xHxW input to ``path`` (atomically), with a hash sidecar.

    ``rebuild``: (checkpoint, graph kind, mode) to export from in a fresh process if the exporter
    fails here. torch's exporter keeps process-wide state, and after a long session of other
    work it has been seen to fail on a graph it exports fine in a new process (two exports at
    once were one cause; they now take turns, :data:`_EXPORT_LOCK`).
    """
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, 3, *size)
    with atomic_write(path, suffix=".onnx") as tmp:
        try:
            _quiet_export(network, example, tmp)
        except Exception as exc:  # noqa: BLE001 - the exporter's own errors; a clean process retries
            if isinstance(exc, OSError) or rebuild is None:
                raise
            _export_in_child(*rebuild, size, tmp, exc)
    _sidecar(path).write_text(json.dumps({"sha256": file_sha256(path), "size": list(size), "opset": _ONNX_OPSET}))
    return path


_CHILD_EXPORT = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import torch
from model.checkpoint import load_checkpoint
from model.onnx_backend import graph_module, _quiet_export
from model.test_time import flip_averaged
network = load_checkpoint(sys.argv[2]).build()
network = graph_module(flip_averaged(network) if sys.argv[7] == "accurate" else network, sys.argv[3])
_quiet_export(network, torch.zeros(1, 3, int(sys.argv[4]), int(sys.argv[5])), Path(sys.argv[6]))
"""


def _export_in_child(checkpoint: Path, kind: str, mode: str, size: tuple[int, int], target: Path, first: Exception) -> None:
    """Export the checkpoint's graph (of ``mode``) in a new Python process (see :func:`export_onnx`)."""
    import subprocess

    root = str(Path(__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", _CHILD_EXPORT, root, str(checkpoint), kind,
                           str(size[0]), str(size[1]), str(target), mode], capture_output=True, text=True)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{checkpoint}: the ONNX export failed ({type(first).__name__}; in a new process: {reason})")


def _torch_loggers() -> list:
    """The ``torch`` logger and each of its descendants that exist now (new ones inherit its level)."""
    import logging

    names = [name for name in list(logging.root.manager.loggerDict) if name.startswith("torch.")]
    return [logging.getLogger("torch"), *(logging.getLogger(name) for name in names)]


#: torch's exporter keeps process-wide state (the "exporting" flag, the FX node-meta dict, the
#: dispatch-mode stack): two exports at once in one process break each other ("Trying to pop
#: empty mode stack"), so a window loading two models exports one graph at a time.
_EXPORT_LOCK = threading.Lock()


def _quiet_export(network, example, target: Path) -> None:
    """Export ``network`` to ``target`` with torch's notes muted; one export at a time per process."""
    with _EXPORT_LOCK:
        _export_muted(network, example, target)


def _export_muted(network, example, target: Path) -> None:
    import contextlib
    import io
    import logging
    import warnings

    import torch

    # torch.export logs its own notes at ERROR level ("always_classified is unsupported", dynamo's
    # guard failures from torch._guards) on a graph it exports fine: a user's export must print
    # one line, not those. Every torch logger is muted, not a list of names that goes stale.
    loggers = _torch_loggers()
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                network.eval(), (example,), dynamo=True, input_names=["image"], output_names=["logits"],
                opset_version=_ONNX_OPSET, verbose=False,
            )
            program.save(str(target))
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
