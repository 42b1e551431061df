"""What ``batch export|predict|eval`` does to one source: the single command's own code, on a worker.

Each job is a small picklable object that Ray ships to every worker. On the driver it names a
source's outputs (:meth:`outputs_of`), checks the source (:meth:`check`, returning its other
inputs: its annotations) and counts its frames; on a worker :meth:`run` writes the outputs
into a private folder with the already loaded model, exactly as ``export``, ``predict`` or
``eval`` would (``export_video``, ``predict_to_folder``, ``evaluate_matrix``), and returns
the frames done and, when the source has annotations, the confusion matrix.
"""

from __future__ import annotations

__all__ = ["EvalJob", "ExportJob", "JobOutcome", "PredictJob"]

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camvid_viewer.sources import open_source
from camvid_viewer.sources.truth import TruthIndex, find_annotations
from model.class_mapping import scored_classes


@dataclass
class JobOutcome:
    """One source done on a worker."""

    frames: int  # frames written or scored
    matrix: np.ndarray | None = None  # truth x prediction, when the source had annotations
    note: str | None = None  # e.g. unreadable frames repeated
    scored: int = 0  # frames scored against truth (behind ``matrix``)
    signals: dict | None = None  # the model's own signals pooled (``SignalTotals.to_record()``), when made


def source_name(source: str) -> str:
    """A source's outputs' base name: a folder's name, a file's stem (as ``export`` names them)."""
    p = Path(str(source).rstrip("/\\"))
    return p.name if p.is_dir() else p.stem


def _annotations(source: str, *, fps: float = 15.0) -> tuple[int, Path | None]:
    from model.cli import UserError

    with open_source(source, fps=fps) as opened:
        if opened.is_live or opened.frame_count is None:
            raise UserError(f"{source}: live streams cannot be run in a batch; record them to a file first")
        return opened.frame_count, find_annotations(opened)


@dataclass(frozen=True)
class ExportJob:
    """``export``: ``<name>.mp4`` (and ``<name>.csv``, ``<name>-masks/``) per source."""

    view: str = "overlay"
    opacity: float = 0.5
    legend: bool = True
    start: int = 0
    stop: int | None = None
    fps: float = 15.0
    quality: str = "standard"
    on_bad_frame: str = "stop"
    metrics_csv: bool = False
    masks: bool = False
    temporal_smoothing: bool = False

    name_of = staticmethod(source_name)

    def outputs_of(self, name: str) -> list[str]:
        return [f"{name}.mp4", *([f"{name}.csv"] if self.metrics_csv else []), *([f"{name}-masks"] if self.masks else [])]

    def _options(self, work: Path, name: str):
        from camvid_viewer.export import ExportOptions

        return ExportOptions(view=self.view, opacity=self.opacity, legend=self.legend, start=self.start, stop=self.stop,
                             fps=self.fps, quality=self.quality, on_bad_frame=self.on_bad_frame,
                             metrics_csv=work / f"{name}.csv" if self.metrics_csv else None,
                             masks_dir=work / f"{name}-masks" if self.masks else None)

    def check(self, source: str) -> list[Path]:
        import tempfile

        from camvid_viewer.export import check_export

        _, annotations = _annotations(source, fps=self.fps)
        with tempfile.TemporaryDirectory() as work:  # targets that cannot exist: only the source is checked
            name = source_name(source)
            check_export(source, Path(work) / f"{name}.mp4", self._options(Path(work), name))
        return [annotations] if annotations else []

    def frames_of(self, source: str) -> int:
        count, _ = _annotations(source, fps=self.fps)
        stop = count if self.stop is None else min(self.stop, count)
        return max(0, stop - self.start)

    def run(self, segmenter, source: str, name: str, work: Path, report) -> JobOutcome:
        from camvid_viewer.analysis.temporal import TemporalSmoother
        from camvid_viewer.export import export_video

        model = TemporalSmoother(segmenter) if self.temporal_smoothing else segmenter  # a fresh average per source
        result = export_video(source, work / f"{name}.mp4", segmenter=model, options=self._options(work, name),
                              progress=lambda done, total, fps: report(done))
        note = f"{len(result.bad_frames)} unreadable frame(s) repeated" if result.bad_frames else None
        return JobOutcome(frames=result.frames, matrix=result.matrix, note=note, scored=result.labelled_frames,
                          signals=result.signals.to_record() if result.signals is not None else None)


@dataclass(frozen=True)
class PredictJob:
    """``predict``: ``<name>/labels/*.png`` and ``<name>/colour/*.png`` per source."""

    on_bad_frame: str = "stop"

    name_of = staticmethod(source_name)

    def outputs_of(self, name: str) -> list[str]:
        return [name]

    def check(self, source: str) -> list[Path]:
        _, annotations = _annotations(source)
        return [annotations] if annotations else []

    def frames_of(self, source: str) -> int:
        return _annotations(source)[0]

    def run(self, segmenter, source: str, name: str, work: Path, report) -> JobOutcome:
        from camvid_viewer.commands.predict import predict_to_folder
        from model.metrics import ConfusionMatrix

        labels_set = scored_classes(segmenter)  # predict_to_folder hands over labels in these classes
        cm = ConfusionMatrix(len(labels_set.names), ignore_index=labels_set.void_index, class_names=labels_set.names)
        _, annotations = _annotations(source)
        truth = None
        if annotations is not None:
            with open_source(source) as opened:
                truth = TruthIndex.for_source(opened, annotations)
        done, scored = [0], [0]

        def on_labels(index: int, labels: np.ndarray) -> None:
            done[0] += 1
            report(done[0])
            if truth is not None and truth.has(index):
                cm.update(labels, truth.read(index))
                scored[0] += 1

        bad: list[str] = []
        frames = predict_to_folder(source, work / name, segmenter=segmenter, on_bad_frame=self.on_bad_frame,
                                   bad_frames=bad, on_labels=on_labels)
        note = f"{len(bad)} unreadable frame(s) ({self.on_bad_frame})" if bad else None
        return JobOutcome(frames=frames, matrix=cm.matrix.copy() if scored[0] else None, note=note, scored=scored[0])


@dataclass(frozen=True)
class EvalJob:
    """``eval``: ``<name>.json`` per source: the ``eval --json`` scores of a frame folder with
    annotations; for a source without (a video, a folder), the model's own signals, as
    ``eval`` prints them without ``--annotations``."""

    name_of = staticmethod(source_name)

    def outputs_of(self, name: str) -> list[str]:
        return [f"{name}.json"]

    def check(self, source: str) -> list[Path]:
        from model.cli import UserError

        _, annotations = _annotations(source)
        if annotations is not None and not Path(source).is_dir():
            raise UserError(f"{source}: eval scores frame folders against annotations; this is a file (use batch export)")
        return [annotations] if annotations is not None else []

    def frames_of(self, source: str) -> int:
        from model.data import list_images

        count, annotations = _annotations(source)
        if annotations is None:
            return count
        truth = {p.stem for p in list_images(annotations)}
        return sum(p.stem in truth for p in list_images(source))

    def run(self, segmenter, source: str, name: str, work: Path, report) -> JobOutcome:
        from model.evaluation import evaluate_matrix

        _, annotations = _annotations(source)
        if annotations is None:
            return _signals_job(segmenter, source, work / f"{name}.json", report)
        done = [0]

        def on_frame() -> None:
            done[0] += 1
            report(done[0])

        evaluation = evaluate_matrix(images=source, annotations=annotations, segmenter=segmenter, progress=False,
                                     on_frame=on_frame)
        (work / f"{name}.json").write_text(json.dumps(evaluation.to_json(), indent=1), encoding="utf-8")
        note = f"{evaluation.frames_without_truth} frame(s) without truth not scored" if evaluation.frames_without_truth else None
        return JobOutcome(frames=evaluation.frames, matrix=evaluation.matrix.matrix.copy(), note=note,
                          scored=evaluation.frames)


def _signals_job(segmenter, source: str, out: Path, report) -> JobOutcome:
    """A source without truth: every frame through the model once; its signals into ``out``."""
    from model.signal_summary import summarize_signals

    done = [0]

    def on_frame() -> None:
        done[0] += 1
        report(done[0])

    with open_source(source) as opened:
        frames = ((index, opened.frame_name(index), frame) for index, frame in opened.frames(0, opened.frame_count))
        summary = summarize_signals(frames, segmenter, on_frame=on_frame)
    out.write_text(json.dumps(summary.to_json(), indent=1), encoding="utf-8")
    return JobOutcome(frames=done[0], signals=summary.totals.to_record())
