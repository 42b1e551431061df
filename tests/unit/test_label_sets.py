"""A model with its own five classes (not CamVid's twelve) drives scoring, drawing, export, the
session and the docks: names, count, colours and void all come from its card.

The stand-in model and its truth are real CamVid frames whose CamVid labels are mapped onto
the five classes (sky, ground, structure, agent, void).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from camvid_viewer import analysis
from camvid_viewer.analysis.live import analyse_frame
from camvid_viewer.export.job import ExportOptions, export_video
from camvid_viewer.rendering import render_view
from camvid_viewer.session import ViewerSession, format_score
from camvid_viewer.sources import open_source
from camvid_viewer.sources.truth import TruthIndex, find_annotations
from model.classes import CAMVID, LabelSet, label_set_of
from model.data import read_image, read_label
from model.metrics import ConfusionMatrix

CARD = {
    "name": "five-class",
    "classes": ["sky", "ground", "structure", "agent", "void"],
    "palette": [[70, 130, 180], [128, 64, 128], [102, 102, 156], [220, 20, 60], [255, 0, 255]],
    "void_index": 4,
}
FIVE = LabelSet.from_card(CARD)
#: CamVid label value -> one of the five classes.
TO_FIVE = np.array([0, 2, 2, 1, 1, 2, 2, 2, 3, 3, 3, 4], np.uint8)


@dataclass
class Prediction:
    labels: np.ndarray
    probabilities: np.ndarray | None = None
    confidence: np.ndarray | None = None


class GroundAsStructure:
    """Predicts a frame's own (five-class) truth, except ground taken for structure on the left half."""

    name = "five-class"

    def __init__(self, clip: Path) -> None:
        self.card = dict(CARD)
        self.label_set = LabelSet.from_card(self.card)
        annotations = clip.parent / f"{clip.name}annot"
        self.truth = {_key(read_image(p)): read_label(annotations / p.name) for p in sorted(clip.glob("*.png"))}

    def segment(self, frame, *, probabilities=False):
        labels = self.truth[_key(frame)].copy()
        left = labels[:, : labels.shape[1] // 2]
        left[left == 1] = 2
        return Prediction(labels)


class FiveClassTruth(TruthIndex):
    """Label PNGs already in the five classes: a dataset read in its own format carries its label set."""

    label_set = FIVE


def _key(frame: np.ndarray) -> str:
    return hashlib.sha1(frame.tobytes()).hexdigest()


@pytest.fixture
def clip(tmp_path, camvid_root) -> Path:
    """4 real CamVid val frames in ``val/``, their labels mapped onto the five classes in ``valannot/``."""
    names = sorted(p.name for p in (camvid_root / "val").glob("*.png"))[:4]
    (tmp_path / "val").mkdir()
    (tmp_path / "valannot").mkdir()
    for name in names:
        shutil.copy(camvid_root / "val" / name, tmp_path / "val" / name)
        cv2.imwrite(str(tmp_path / "valannot" / name), TO_FIVE[read_label(camvid_root / "valannot" / name)])
    return tmp_path / "val"


def _expected(clip: Path, seg: GroundAsStructure) -> ConfusionMatrix:
    cm = ConfusionMatrix(5, ignore_index=4, class_names=FIVE.names)
    for path in sorted(clip.glob("*.png")):
        cm.update(seg.segment(read_image(path)).labels, read_label(clip.parent / "valannot" / path.name))
    return cm


def test_label_set_from_a_card_and_its_fallbacks():
    assert FIVE.names == ("sky", "ground", "structure", "agent", "void") and FIVE.count == 5
    assert FIVE.void_index == 4 and FIVE.scored == (0, 1, 2, 3)
    np.testing.assert_array_equal(FIVE.palette_bgr[0], [180, 130, 70])  # BGR for OpenCV
    assert FIVE.index_of("ground") == 1 and FIVE.index_of("road") is None
    no_void_key = {k: v for k, v in CARD.items() if k != "void_index"}
    assert LabelSet.from_card(no_void_key).void_index == 4  # the class named void
    assert LabelSet.from_card(dict(CARD, void_index=None)).void_index is None  # said so: none
    assert LabelSet.from_card(dict(no_void_key, classes=["a", "b", "c", "d", "e"])).void_index is None
    with pytest.raises(ValueError, match="palette"):
        LabelSet(("a", "b"), ((0, 0, 0),))
    # the model's label set wins; a model whose card names no classes takes the truth's
    assert label_set_of(None, object()) is None
    assert label_set_of(type("M", (), {"card": CARD})(), None) == FIVE
    assert label_set_of(type("M", (), {"card": {"name": "x"}})(), FiveClassTruth({})) is FIVE
    assert TruthIndex({}).label_set is CAMVID


def test_evaluation_scores_in_the_models_classes(tmp_path, clip):
    seg = GroundAsStructure(clip)
    with open_source(str(clip)) as source:
        truth = TruthIndex.for_source(source, find_annotations(source))  # CamVid-format PNGs: the model's classes win
        ev = analysis.evaluate_source(source, truth, seg, cache_dir=tmp_path / "cache")
        again = analysis.evaluate_source(source, truth, analysis.SerialisedSegmenter(seg, threading.Lock()),
                                         cache_dir=tmp_path / "cache")
    assert ev.matrices.shape == (4, 5, 5) and ev.class_names == FIVE.names and ev.ignore_index == 4
    assert again.from_cache and again.class_names == FIVE.names and again.matrices.shape == (4, 5, 5)
    pooled = analysis.pooled_scores(ev)
    assert pooled == _expected(clip, seg).compute()
    assert pooled.iou[0] == 1.0 and 0 < pooled.iou[1] < 1  # sky perfect, ground partly missed
    assert analysis.mean_of_frames(ev).class_names == FIVE.names
    assert list(analysis.summary_json(ev)["per_class"]) == list(FIVE.names)
    pair = analysis.most_confused_pairs(ev.matrices.sum(axis=0), class_names=ev.class_names, ignore_index=ev.ignore_index)[0]
    assert (pair.truth_name, pair.prediction_name) == ("ground", "structure")
    rows = analysis.frame_rows(ev)
    assert analysis.worst_frames(rows, by="ground")[0].iou[1] == min(r.iou[1] for r in rows)
    with pytest.raises(ValueError, match="road"):
        analysis.worst_frames(rows, by="road")
    choices = analysis.class_choices(ev)
    assert choices == [(0, "sky"), (1, "ground"), (2, "structure"), (3, "agent")]
    assert analysis.default_class(choices) == 0  # no class called road: the first one
    assert analysis.default_class(analysis.class_choices(dataclasses.replace(ev, class_names=CAMVID.names, ignore_index=11))) == 3
    # wrappers forward the label set of the model they wrap
    assert analysis.TemporalSmoother(seg).label_set is seg.label_set
    assert analysis.SerialisedSegmenter(seg, threading.Lock()).label_set is seg.label_set


def test_drawing_and_export_use_the_models_colours_and_names(tmp_path, clip):
    seg = GroundAsStructure(clip)
    frame = read_image(sorted(clip.glob("*.png"))[0])
    labels = seg.segment(frame).labels
    classes = seg.label_set
    out = render_view("overlay", frame, labels, None, palette_bgr=classes.palette_bgr, opacity=0.0, legend=True,
                      class_names=classes.names, void_index=classes.void_index)
    legend = out[np.any(out != frame, axis=2)]  # opacity 0: only the legend differs from the frame
    swatches = [int(np.all(legend == colour, axis=1).sum()) for colour in classes.palette_bgr]
    assert all(n >= 25 for n in swatches[:4])  # a swatch per scored class, in the card's colours...
    assert swatches[4] == 0  # ...and none for void

    result = export_video(clip, tmp_path / "v.mp4", segmenter=seg, options=ExportOptions(
        view="error", metrics_csv=tmp_path / "m.csv", masks_dir=tmp_path / "masks"))
    assert result.frames == 4
    with open(tmp_path / "m.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [k for k in table[0] if k.startswith("iou_")] == ["iou_sky", "iou_ground", "iou_structure", "iou_agent"]
    assert float(table[-1]["mean_iou"]) == pytest.approx(_expected(clip, seg).compute().mean_iou)


def test_session_and_docks_show_the_models_classes(qtbot, clip):
    from camvid_viewer.ui.confusion_view import ConfusionMatrixView
    from camvid_viewer.ui.legend import LegendDock
    from camvid_viewer.ui.metrics_dock import MetricsDock
    from camvid_viewer.ui.timeline import MetricsTimeline
    from camvid_viewer.ui.worst_frames import WorstFramesView

    seg = GroundAsStructure(clip)
    session = ViewerSession()
    legend, metrics = LegendDock(session), MetricsDock(session)
    for w in (legend, metrics):
        qtbot.addWidget(w)
    assert session.label_set.count == 0 and legend.checkboxes == []  # neither a model nor truth: no classes
    with open_source(str(clip)) as source:
        truth = FiveClassTruth.for_source(source, find_annotations(source))
        session.set_source(source, truth)
        assert session.label_set is FIVE  # no model yet: the dataset's classes
        session.set_model(seg)
        assert session.label_set is seg.label_set and session.class_names == FIVE.names
        assert [b.text() for b in legend.checkboxes] == ["sky", "ground", "structure", "agent", "void (not scored)"]
        result = analyse_frame(source.read(0), index=0, model=seg, truth=truth, time_s=0.0, generation=session.generation)
        assert result.frame_matrix.shape == (5, 5)
        assert session.accept_result(result)
        ev = analysis.evaluate_source(source, truth, seg, use_cache=False)
    assert [metrics.cell_text(r, 0) for r in range(metrics.table.rowCount())] == list(FIVE.names)
    frame = ConfusionMatrix(5, ignore_index=4, class_names=FIVE.names).matrix_of(result.labels, result.truth)
    assert metrics.cell_text(1, 1) == format_score(analysis.pooled_scores(dataclasses.replace(
        ev, matrices=frame[None], indices=ev.indices[:1])).iou[1])  # this frame's ground IoU
    assert metrics.cell_text(4, 3) == ""  # void has no share of the scored pixels

    worst, timeline, confusion = WorstFramesView(), MetricsTimeline(), ConfusionMatrixView()
    for w in (worst, timeline, confusion):
        qtbot.addWidget(w)
    worst.set_evaluation(ev)
    timeline.set_evaluation(ev)
    confusion.set_matrix(ev.matrices.sum(axis=0), class_names=ev.class_names, ignore_index=ev.ignore_index)
    assert [worst.sort_box.itemText(i) for i in range(worst.sort_box.count())] == [
        "frame mIoU", "sky IoU", "ground IoU", "structure IoU", "agent IoU"]
    assert worst.model.headerData(5, Qt_horizontal()) == "sky IoU"  # no road class: the first one
    assert [timeline.class_box.itemText(i) for i in range(timeline.class_box.count())] == ["sky", "ground", "structure", "agent"]
    assert timeline.class_box.currentText() == "sky"
    assert confusion.heat_map.rows == [0, 1, 2, 3]
    assert confusion.pairs.item(0).text().startswith("ground -> structure")

    session.set_model(type("CamVidModel", (), {"label_set": CAMVID})())  # another model, other classes
    assert len(legend.checkboxes) == 12 and legend.checkboxes[3].text() == "road"
    assert metrics.table.rowCount() == 12


def Qt_horizontal():  # noqa: N802 - reads as the Qt enum it returns
    from PyQt6.QtCore import Qt

    return Qt.Orientation.Horizontal
