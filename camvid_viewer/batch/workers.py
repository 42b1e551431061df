"""Ray actors of a batch: one model per worker, loaded once, running one source at a time.

A :class:`BatchWorker` holds a ``model.inference.Segmenter`` built with the CPU threads Ray
gave it (or on the GPU share it was given), and runs the batch's job on each source it is
handed, in a private temp folder; the outputs come back as bytes (:mod:`.transfer`). The
model file travels through Ray's object store, so only the machine running the batch needs it.
Frame progress goes to a :class:`ProgressBoard` actor that the driver reads twice a second.
"""

from __future__ import annotations

__all__ = ["SegmenterSpec", "BatchWorker", "ProgressBoard"]

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from camvid_viewer.batch.transfer import pack
from camvid_viewer.messages import one_line
from model.class_mapping import scored_classes
from model.outputs import pid_alive

_WORK_PREFIX = "camvid-batch-"


@dataclass(frozen=True)
class SegmenterSpec:
    """How each worker builds its model (the single commands' --backend/--device/--precision)."""

    model_name: str  # file name of the checkpoint (its bytes travel separately)
    backend: str = "auto"
    device: str = "auto"
    precision: str = "auto"
    card_text: str | None = None  # an ONNX model's JSON card, written beside it on the worker
    mapping: str | None = None  # a shipped mapping's name, or "none"
    mapping_text: str | None = None  # a mapping file's JSON (it travels as text, like the card)


class ProgressBoard:
    """Frames done per running source (by batch index), written by workers, read by the driver."""

    def __init__(self) -> None:
        self.done: dict[int, int] = {}

    def report(self, index: int, frames: int) -> None:
        self.done[index] = frames

    def snapshot(self) -> dict[int, int]:
        return dict(self.done)


class BatchWorker:
    """One worker: loads the model once, then runs :meth:`run` per source."""

    def __init__(self, model_bytes: bytes, spec: SegmenterSpec, board) -> None:
        import ray

        _remove_stale_workdirs()
        self.board = board
        self.node = ray.get_runtime_context().get_node_id()
        self.host = os.uname().nodename if hasattr(os, "uname") else "this node"
        self.root = Path(tempfile.mkdtemp(prefix=f"{_WORK_PREFIX}{os.getpid()}-"))
        self.load_error: str | None = None
        self.segmenter = None
        try:
            self.segmenter = self._load(model_bytes, spec)
        except Exception as exc:  # noqa: BLE001 - reported by run(), and the batch stops on it
            self.load_error = one_line(exc)

    def _load(self, model_bytes: bytes, spec: SegmenterSpec):
        import ray

        from model.inference import Segmenter

        model = self.root / "model" / spec.model_name
        model.parent.mkdir()
        model.write_bytes(model_bytes)
        if spec.card_text is not None:
            model.with_suffix(".json").write_text(spec.card_text, encoding="utf-8")
        mapping = spec.mapping
        if spec.mapping_text is not None:
            mapping = model.parent / "mapping.json"
            mapping.write_text(spec.mapping_text, encoding="utf-8")
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
        return Segmenter(model, backend=spec.backend, device=spec.device, precision=spec.precision,
                         threads=max(1, int(cpus)), mapping=mapping)

    def pid(self) -> int:
        return os.getpid()

    def close(self) -> None:
        """Remove this worker's temp folder (a killed worker's is removed by the next one to start)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def run(self, index: int, source: str, name: str, job) -> dict:
        """Run ``job`` on one source; a dict for :class:`~.summary.SourceResult` plus ``files``."""
        base = {"source": source, "name": name, "node": self.node}
        if self.segmenter is None:
            return {**base, "status": "failed", "fatal": True, "message": f"a worker could not load the model: {self.load_error}"}
        if not os.access(source, os.R_OK):
            return {**base, "status": "failed", "message": f"{source}: not readable on node {self.host}; on a cluster "
                    "every node must read the inputs at the same path (shared storage)"}
        work = Path(tempfile.mkdtemp(dir=self.root))
        t0 = time.monotonic()
        last = [0.0]

        def report(frames: int) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.3:
                last[0] = now
                self.board.report.remote(index, frames)

        try:
            outcome = job.run(self.segmenter, source, name, work, report)
            files = pack(work)
            seconds = time.monotonic() - t0
            self.board.report.remote(index, outcome.frames)
            labels = scored_classes(self.segmenter)  # the matrix's classes: a mapping's, else the model's
            return {**base, "status": "done", "frames": outcome.frames, "seconds": seconds, "files": files,
                    "message": outcome.note, "matrix": None if outcome.matrix is None else outcome.matrix.tolist(),
                    "scored_frames": outcome.scored, "class_names": list(labels.names), "void_index": labels.void_index,
                    "signals": outcome.signals}
        except Exception as exc:  # noqa: BLE001 - one source's failure is contained and reported
            return {**base, "status": "failed", "seconds": time.monotonic() - t0, "message": one_line(exc)}
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _remove_stale_workdirs() -> None:
    """Temp folders of workers that were killed (their pid is gone)."""
    pattern = re.compile(rf"^{re.escape(_WORK_PREFIX)}(\d+)-")
    root = Path(tempfile.gettempdir())
    for entry in root.glob(f"{_WORK_PREFIX}*"):
        match = pattern.match(entry.name)
        if match and entry.is_dir() and not pid_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
