"""Any ONNX segmentation model, end to end, on real CamVid frames.

A torchvision LRASPP-MobileNetV3 with 19 (Cityscapes) classes and random weights (batch-norm
statistics taken from real frames, so its labels vary over the frame) is exported to ONNX here,
opened with a JSON card and the shipped Cityscapes -> CamVid mapping, and checked against torch
itself, against a confusion matrix mapped by hand, in export's CSV, in predict's PNGs and in the
window; bad cards and mappings are each one line.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from main import main
from model.classes import CAMVID
from model.data import read_image, read_label
from model.onnx_card import generated_palette

SIZE = (180, 240)  # the graph's fixed working size (h, w): small, so the file stays fast
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CITYSCAPES = ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
              "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"]
#: Written out here, not read from resources/: the hand mapping the eval figures are checked against.
BY_HAND = {"road": "road", "sidewalk": "sidewalk", "building": "building", "wall": "building", "fence": "fence",
           "pole": "column/pole", "traffic light": "traffic light", "traffic sign": "traffic light",
           "vegetation": "vegetation", "terrain": "vegetation", "sky": "sky", "person": "pedestrian", "rider": "cyclist",
           "car": "vehicle", "truck": "vehicle", "bus": "vehicle", "train": "vehicle", "motorcycle": "cyclist",
           "bicycle": "cyclist"}

pytestmark = pytest.mark.timeout(180)


def _torch_input(frames: list[np.ndarray]):
    """The reference preprocessing, written independently of the Segmenter's."""
    import torch

    blobs = []
    for frame in frames:
        small = cv2.resize(frame, SIZE[::-1], interpolation=cv2.INTER_AREA)[:, :, ::-1].astype(np.float32) / 255.0
        blobs.append(((small - MEAN) / STD).transpose(2, 0, 1))
    return torch.tensor(np.stack(blobs), dtype=torch.float32)


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory, camvid_root) -> Path:
    """6 real val frames with their annotations (SegNet layout: val/ + valannot/)."""
    root = tmp_path_factory.mktemp("external-frames")
    names = sorted((camvid_root / "val").glob("*.png"))[:6]
    for sub, src in (("val", "val"), ("valannot", "valannot")):
        (root / sub).mkdir()
        for f in names:
            shutil.copy(camvid_root / src / f.name, root / sub / f.name)
    return root


@pytest.fixture(scope="module")
def lraspp(frames_dir):
    """(torch network, exported ONNX file) of a 19-class LRASPP-MobileNetV3."""
    import logging
    import warnings

    import torch
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=19)

    class Logits(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x)["out"]

    model = Logits(net)
    for module in model.modules():  # batch-norm statistics of real frames: varied labels, not one class
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    frames = [read_image(p) for p in sorted((frames_dir / "val").glob("*.png"))]
    with torch.no_grad():
        model.train()(_torch_input(frames))
    model.eval()
    path = frames_dir / "onnx" / "lraspp.onnx"  # per fixture instance: another module in this worker makes its own
    path.parent.mkdir()
    logging.getLogger("torch").setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, *SIZE),), str(path), dynamo=False, input_names=["image"],
                          output_names=["logits"], opset_version=17)
    return model, path


def write_card(folder: Path, onnx: Path, **changes) -> Path:
    """``folder/lraspp.onnx`` + ``folder/lraspp.json``; ``changes`` replace card keys (None removes one)."""
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "lraspp.onnx"
    if not model.exists():
        shutil.copy(onnx, model)
    card = {"name": "lraspp-cityscapes", "classes": CITYSCAPES,
            "input": {"mean": list(MEAN), "std": list(STD), "channels": "RGB", "working_size": list(SIZE)},
            "output": "logits", "mapping": "cityscapes-to-camvid"}
    card.update(changes)
    card = {k: v for k, v in card.items() if v is not None}
    model.with_suffix(".json").write_text(json.dumps(card))
    return model


@pytest.fixture(scope="module")
def onnx_model(lraspp, tmp_path_factory) -> Path:
    return write_card(tmp_path_factory.mktemp("model"), lraspp[1])


@pytest.fixture(scope="module")
def segmenter(onnx_model):
    from model.inference import Segmenter

    return Segmenter(onnx_model, threads=2)


def test_labels_equal_torch_on_real_frames(lraspp, segmenter, frames_dir):
    import torch

    frames = [read_image(p) for p in sorted((frames_dir / "val").glob("*.png"))]
    with torch.no_grad():
        reference = lraspp[0](_torch_input(frames)).argmax(1).numpy().astype(np.uint8)
    ours = [segmenter.segment(f).labels for f in frames]
    on_lanes = [p.labels for _, p in segmenter.segment_stream(enumerate(frames))]  # submit(): the lanes
    for frame, ref, labels, lane in zip(frames, reference, ours, on_lanes, strict=True):
        ref = cv2.resize(ref, frame.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        assert labels.shape == frame.shape[:2]
        assert np.mean(labels == ref) >= 0.995
        assert np.array_equal(labels, lane)
    assert len(np.unique(np.stack(ours))) >= 5  # a varied prediction, not one class everywhere
    assert segmenter.backend == "onnx" and segmenter.label_set.names == tuple(CITYSCAPES)
    assert segmenter.mapping.name == "cityscapes-to-camvid"
    confident = segmenter.segment(frames[0], confidence=True)
    assert confident.confidence.shape == frames[0].shape[:2] and 0 < confident.confidence.min() <= 1


def _hand_matrix(segmenter, frames_dir) -> np.ndarray:
    lut = np.full(256, CAMVID.void_index, np.int64)
    for i, name in enumerate(CITYSCAPES):
        lut[i] = CAMVID.names.index(BY_HAND[name])
    n = CAMVID.count
    matrix = np.zeros((n, n), np.int64)
    for image in sorted((frames_dir / "val").glob("*.png")):
        truth = read_label(frames_dir / "valannot" / image.name).astype(np.int64)
        predicted = lut[segmenter.segment(read_image(image)).labels]
        keep = truth != CAMVID.void_index
        matrix += np.bincount(truth[keep] * n + predicted[keep], minlength=n * n).reshape(n, n)
    return matrix


def test_eval_scores_equal_a_hand_mapped_confusion_matrix(onnx_model, segmenter, frames_dir, capsys):
    code = main(["eval", "--images", str(frames_dir / "val"), "--annotations", str(frames_dir / "valannot"),
                 "--model", str(onnx_model), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    m = _hand_matrix(segmenter, frames_dir)
    assert list(result["per_class"]) == list(CAMVID.names)  # scored in CamVid's classes, not the model's 19
    tp = np.diag(m).astype(float)
    ious = []
    for c, name in enumerate(CAMVID.names):
        union = m[c].sum() + m[:, c].sum() - m[c, c]
        if c == CAMVID.void_index or union == 0:
            assert result["per_class"][name] is None
            continue
        ious.append(tp[c] / union)
        assert result["per_class"][name]["iou"] == pytest.approx(tp[c] / union, abs=1e-12)
    assert result["pixel_accuracy"] == pytest.approx(tp.sum() / m.sum(), abs=1e-12)
    assert result["mean_iou"] == pytest.approx(np.mean(ious), abs=1e-12)
    assert result["frames"] == 6


def test_export_csv_and_predict_pngs_are_in_the_mapped_classes(onnx_model, frames_dir, tmp_path, capsys):
    csv_path, masks = tmp_path / "val.csv", tmp_path / "masks"
    assert main(["export", str(frames_dir / "val"), "-o", str(tmp_path / "val.mp4"), "--model", str(onnx_model),
                 "--metrics-csv", str(csv_path), "--masks", str(masks), "--quality", "draft"]) == 0
    rows = list(csv.reader(csv_path.open()))
    camvid = [n.replace("/", "_").replace(" ", "_") for n in CAMVID.names[:11]]
    every = [n.replace("/", "_").replace(" ", "_") for n in CAMVID.names]  # the shares count void too
    assert rows[0][7:] == ([f"iou_{n}" for n in camvid] + [f"dice_{n}" for n in camvid]  # CamVid's, not the model's 19
                           + ["mean_confidence", "low_confidence_share", "flicker"] + [f"share_{n}" for n in every])
    capsys.readouterr()
    assert main(["eval", "--images", str(frames_dir / "val"), "--annotations", str(frames_dir / "valannot"),
                 "--predictions", str(masks), "--json"]) == 0  # the masks are CamVid values: eval scores them as such
    from_masks = json.loads(capsys.readouterr().out)
    assert main(["eval", "--images", str(frames_dir / "val"), "--annotations", str(frames_dir / "valannot"),
                 "--predictions", str(masks), "--model", str(onnx_model), "--json"]) == 0  # read in the model's mapped classes
    assert json.loads(capsys.readouterr().out)["per_class"] == from_masks["per_class"]
    assert main(["eval", "--images", str(frames_dir / "val"), "--annotations", str(frames_dir / "valannot"),
                 "--model", str(onnx_model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mean_iou"] == pytest.approx(from_masks["mean_iou"], abs=1e-12)
    out = tmp_path / "pred"
    assert main(["predict", str(frames_dir / "val"), "-o", str(out), "--model", str(onnx_model), "--mapping", "none"]) == 0
    colour = cv2.imread(str(next((out / "colour").glob("*.png"))))
    labels = cv2.imread(str(next((out / "labels").glob("*.png"))), cv2.IMREAD_UNCHANGED)
    assert labels.max() >= CAMVID.count  # no mapping: the model's own 19 classes
    generated = np.asarray(generated_palette(19), np.uint8)[:, ::-1]  # the card has no palette: generated, BGR
    assert np.array_equal(colour, generated[labels])


def _one_line_failure(argv, capfd) -> str:
    code = main(argv)
    err = capfd.readouterr().err.strip().splitlines()
    assert code != 0
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize(("case", "expected"), [
    ("no card", "no model card lraspp.json beside it"),
    ("missing output", "missing key 'output'"),
    ("18 classes", "names 18 classes"),
    ("ignore index out of range", "'ignore_index' 40 is out of range"),
    ("card size differs from the graph's", "the model takes 180x240 (h x w) images but the card"),
    ("not JSON", "not valid JSON"),
    ("mapping without map", "missing key 'map'"),
    ("mapping index out of range", "model class index 30 is out of range"),
    ("mapping to an unknown class", "'lane', which is not a class of the target"),
    ("mapping from another class count", "the mapping is from 11 classes but the model has 19"),
])
def test_bad_cards_and_mappings_are_one_line(lraspp, tmp_path, frames_dir, case, expected, capfd):
    folder = tmp_path / "m"
    changes: dict = {}
    if case == "missing output":
        changes = {"output": None}
    elif case == "18 classes":
        changes = {"classes": CITYSCAPES[:18], "mapping": None}
    elif case == "ignore index out of range":
        changes = {"ignore_index": 40}
    elif case == "card size differs from the graph's":
        changes = {"input": {"mean": list(MEAN), "std": list(STD), "working_size": [360, 480]}}
    model = write_card(folder, lraspp[1], **changes)
    mapping = tmp_path / "mapping.json"
    extra: list[str] = []
    if case == "no card":
        model.with_suffix(".json").unlink()
    elif case == "not JSON":
        model.with_suffix(".json").write_text("{classes: [road]")
    elif case.startswith("mapping"):
        body = {"mapping without map": {"to": "camvid"},
                "mapping index out of range": {"map": {"30": "road"}},
                "mapping to an unknown class": {"map": {"road": "lane"}},
                "mapping from another class count": {"from": list(CAMVID.names[:11]), "map": {"road": "road"}}}[case]
        mapping.write_text(json.dumps(body))
        extra = ["--mapping", str(mapping)]
    line = _one_line_failure(["eval", "--images", str(frames_dir / "val"), "--annotations", str(frames_dir / "valannot"),
                              "--model", str(model), *extra], capfd)
    assert expected in line
    assert str(mapping if extra else model.parent) in line  # names the file


def test_the_window_draws_the_models_classes_and_scores_the_mapped_ones(qtbot, onnx_model, frames_dir):
    from camvid_viewer.ui.main_window import MainWindow
    from camvid_viewer.ui.settings import ViewerSettings

    window = MainWindow(settings=ViewerSettings(organization="camvid-viewer-tests"), model_path=str(onnx_model))
    qtbot.addWidget(window)
    window.show()
    s = window.session
    qtbot.waitUntil(lambda: s.model is not None, timeout=60_000)
    with qtbot.waitSignal(window.source_opened, timeout=60_000):
        window.open_path(str(frames_dir / "val"))
    qtbot.waitUntil(lambda: s.result is not None and s.result.frame_matrix is not None, timeout=60_000)
    assert s.label_set.names == tuple(CITYSCAPES)  # the legend: the model's own 19
    assert s.running.class_names == CAMVID.names  # the metrics: CamVid's, through the mapping
    assert s.result.frame_matrix.shape == (CAMVID.count, CAMVID.count)
    label = window.findChild(type(window.mapping.label), "status_mapping")
    assert "cityscapes-to-camvid (19 -> 11 classes)" in label.text()
    assert window.mapping.in_use.text().startswith("In use: cityscapes-to-camvid")
    window.mapping.choose("none")  # scored in the model's own classes: no CamVid truth matches them
    assert s.running.class_names == tuple(CITYSCAPES) and label.text() == ""
    messages: list[str] = []
    window.message.connect(messages.append)
    window.mapping.choose("identity")  # 19 classes cannot map one to one onto CamVid's 12: one line, mapping kept
    assert len(messages) == 1 and "identity needs at most 12 model classes" in messages[0]
    assert s.running.class_names == tuple(CITYSCAPES)
    bare = onnx_model.parent.parent / "no-card" / "bare.onnx"  # Model > Open on an ONNX file with no card
    bare.parent.mkdir()
    shutil.copy(onnx_model, bare)
    with qtbot.waitSignal(window.message, timeout=60_000) as said:
        window.load_model(str(bare))
    assert "no model card bare.json beside it" in said.args[0] and "\n" not in said.args[0]
    assert s.model.name == "lraspp-cityscapes"  # the model that ran stays
    window.close()


def test_labels_out_bgr_and_any_size_graphs_agree_with_the_logits_graph(tmp_path, frames_dir):
    """One small network three ways: logits of any size (RGB), labels out, and BGR input."""
    import logging
    import warnings

    import torch

    from model.inference import Segmenter, working_size

    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 5, 1)).eval()
    mean, std = [0.3, 0.5, 0.7], [0.2, 0.25, 0.3]  # unequal, so a channel swap would show

    class Labels(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x).argmax(1)

    class FromBgr(Labels):
        def forward(self, x):
            return self.net(x.flip(1))

    base = {"classes": ["a", "b", "c", "d", "e"], "output": "logits"}
    variants = {"logits": (net, {"input": {"mean": mean, "std": std, "working_height": 90}}),
                "labels": (Labels(), {"input": {"mean": mean, "std": std, "working_height": 90}, "output": "labels"}),
                "bgr": (FromBgr(), {"input": {"mean": mean[::-1], "std": std[::-1], "channels": "BGR",
                                              "working_height": 90}})}
    frame = read_image(sorted((frames_dir / "val").glob("*.png"))[0])
    results = {}
    logging.getLogger("torch").setLevel(logging.CRITICAL)
    for name, (module, card) in variants.items():
        path = tmp_path / f"{name}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (torch.zeros(1, 3, 90, 120),), str(path), dynamo=False, input_names=["x"],
                              output_names=["y"], opset_version=17,
                              dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}, "y": {0: "n"}})
        path.with_suffix(".json").write_text(json.dumps({**base, **card}))
        segmenter = Segmenter(path, threads=1)
        results[name] = segmenter.segment(frame, confidence=True)
    h, w = working_size(frame.shape[:2], 90)
    small = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)[:, :, ::-1].astype(np.float32) / 255.0
    with torch.no_grad():
        reference = net(torch.tensor(((small - mean) / std).transpose(2, 0, 1)[None], dtype=torch.float32))
    reference = cv2.resize(reference.argmax(1)[0].numpy().astype(np.uint8), frame.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    assert results["logits"].labels.shape == frame.shape[:2]
    assert np.mean(results["logits"].labels == reference) >= 0.995
    assert np.mean(results["labels"].labels == results["logits"].labels) >= 0.999
    assert np.mean(results["bgr"].labels == results["logits"].labels) >= 0.999
    assert np.all(results["labels"].confidence == 1.0)  # a labels-out graph has no probabilities
    assert len(np.unique(reference)) >= 2


def test_a_batch_sends_the_card_and_mapping_with_the_model(onnx_model, tmp_path):
    """What travels to each Ray worker besides the model's bytes (the batch itself: README, test_batch.py)."""
    from model.class_mapping import MappingError
    from model.onnx_card import travelling_card

    sent = travelling_card(onnx_model, None, None)
    assert json.loads(sent["card_text"])["classes"] == CITYSCAPES
    assert sent["mapping"] == "cityscapes-to-camvid" and sent["mapping_text"] is None
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"map": {"road": "road"}}))
    sent = travelling_card(onnx_model, None, str(mine))
    assert sent["mapping"] is None and json.loads(sent["mapping_text"]) == {"map": {"road": "road"}}
    with pytest.raises(MappingError, match="identity needs at most 12"):
        travelling_card(onnx_model, None, "identity")  # checked here, not on every worker
