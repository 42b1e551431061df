"""Class mappings and ONNX model cards: what they map, what they refuse (one line each)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model.class_mapping import (
    MAPPINGS_DIR,
    MappingError,
    load_mapping,
    mapping_from_dict,
    resolve_mapping,
    scored_classes,
    scored_labels,
)
from model.classes import CAMVID, LabelSet
from model.onnx_card import ModelCardError, card_from_dict, generated_palette

CITYSCAPES = json.loads((MAPPINGS_DIR / "cityscapes-to-camvid.json").read_text())["from"]


def cityscapes(void: int | None = None) -> LabelSet:
    return LabelSet(tuple(CITYSCAPES), tuple(map(tuple, generated_palette(19))), void)


def test_shipped_cityscapes_mapping_groups_as_segnet_does():
    mapping = resolve_mapping("cityscapes-to-camvid", cityscapes())
    table = {CITYSCAPES[i]: CAMVID.names[mapping.table[i]] for i in range(19)}
    assert table["wall"] == "building" and table["traffic sign"] == "traffic light"
    assert table["bus"] == table["train"] == table["car"] == "vehicle"
    assert table["rider"] == table["bicycle"] == table["motorcycle"] == "cyclist"
    assert mapping.target is CAMVID
    labels = np.array([[0, 13, 18]], np.uint8)  # road, car, bicycle
    assert mapping.apply(labels).tolist() == [[3, 8, 10]]
    assert mapping.describe() == "cityscapes-to-camvid (19 -> 11 classes)"


def test_unmapped_classes_and_the_models_ignore_index_are_void():
    data = {"to": "camvid", "map": {"road": "road", "car": 8, "terrain": None}}
    mapping = mapping_from_dict(data, cityscapes(void=18))
    void = CAMVID.void_index
    assert mapping.table[0] == 3 and mapping.table[13] == 8
    assert mapping.table[9] == void  # null
    assert mapping.table[1] == void  # not named
    assert mapping.table[18] == void  # the model's own ignore index
    assert "terrain" in mapping.void_sources and "bicycle" not in mapping.void_sources


def test_identity_maps_each_class_to_itself():
    mapping = resolve_mapping("identity", CAMVID)
    assert mapping.table[:12].tolist() == list(range(12))
    with pytest.raises(MappingError, match="at most 12 model classes"):
        resolve_mapping("identity", cityscapes())


class _Model:
    label_set = CAMVID
    mapping = None


def test_scorers_follow_the_models_mapping():
    model = _Model()
    labels = np.array([[1, 2]], np.uint8)
    assert scored_classes(model) is CAMVID and scored_labels(model, labels) is labels
    model.label_set = cityscapes()
    model.mapping = resolve_mapping("cityscapes-to-camvid", model.label_set)
    assert scored_classes(model) is CAMVID
    assert scored_labels(model, labels).tolist() == [[4, 1]]  # sidewalk, building in CamVid's values


@pytest.mark.parametrize(("data", "problem"), [
    ({"to": "camvid"}, "missing key 'map'"),
    ({"map": {"road": "road"}, "pallete": 1}, "unknown key 'pallete'"),
    ({"map": {"25": "road"}}, "model class index 25 is out of range"),
    ({"map": {"lane": "road"}}, "'lane' is not one of the model's classes"),
    ({"map": {"road": "motorway"}}, "'motorway', which is not a class of the target"),
    ({"map": {"road": 12}}, "maps to index 12, out of range"),
    ({"map": {"road": "road"}, "from": ["road"] * 18}, "from 18 classes but the model has 19"),
    ({"map": {"road": "road"}, "to": "ade20k"}, "mappings go to camvid"),
    ([1, 2], "a mapping is a JSON object"),
])
def test_bad_mappings_are_one_line_naming_the_file(tmp_path, data, problem):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(data))
    with pytest.raises(MappingError) as info:
        load_mapping(path, cityscapes())
    message = str(info.value)
    assert problem in message and str(path) in message and "\n" not in message


def _card(**changes) -> dict:
    card = {"classes": list(CITYSCAPES), "input": {"mean": [0.5] * 3, "std": [0.5] * 3, "working_height": 180},
            "output": "logits"}
    card.update(changes)
    return card


def test_a_card_without_palette_gets_distinct_generated_colours_and_says_so(tmp_path):
    card = card_from_dict(_card(), path=tmp_path / "m.json", model_path=tmp_path / "m.onnx")
    colours = card.label_set.palette_rgb
    assert len(set(colours)) == 19 and colours == tuple(map(tuple, generated_palette(19)))
    assert card.notes and "colours generated" in card.notes[0]
    assert card.channels == "RGB" and card.name == "m"


@pytest.mark.parametrize(("changes", "problem"), [
    ({"output": None}, "'output' is None"),
    ({"classes": []}, "'classes' must be a non-empty list"),
    ({"palette": [[0, 0, 0]] * 18}, "'palette' has 18 colours for 19 classes"),
    ({"ignore_index": 19}, "'ignore_index' 19 is out of range"),
    ({"input": {"mean": [0.5] * 3, "std": [0.5] * 3}, "mapping": 3}, "'mapping' must be"),
    ({"input": {"mean": [0.5] * 2, "std": [0.5] * 3, "working_height": 180}}, "'input.mean' must be three numbers"),
    ({"input": {"mean": [0.5] * 3, "std": [0.5, 0, 1], "working_height": 180}}, "'input.std' must be three numbers > 0"),
    ({"input": {"mean": [0.5] * 3, "std": [0.5] * 3, "channels": "YUV", "working_height": 180}}, "'input.channels'"),
    ({"input": {"mean": [0.5] * 3, "std": [0.5] * 3, "working_height": 10}}, "'input.working_height' must be"),
])
def test_bad_cards_are_one_line_naming_the_file(tmp_path, changes, problem):
    with pytest.raises(ModelCardError) as info:
        card_from_dict(_card(**changes), path=tmp_path / "m.json", model_path=tmp_path / "m.onnx")
    message = str(info.value)
    assert problem in message and "m.json" in message and "\n" not in message


def test_a_card_missing_a_key_names_it(tmp_path):
    card = _card()
    del card["input"]
    with pytest.raises(ModelCardError, match="missing key 'input'"):
        card_from_dict(card, path=tmp_path / "m.json", model_path=tmp_path / "m.onnx")


def test_the_window_takes_model_card_and_mapping_on_the_command_line():
    from camvid_viewer.ui.app import _model_options

    options, rest = _model_options(["clip.mp4", "--model", "seg.onnx", "--card", "seg.json", "--mapping", "identity"])
    assert (options.model, options.card, options.mapping, rest) == ("seg.onnx", "seg.json", "identity", ["clip.mp4"])
    options, rest = _model_options([])
    assert (options.model, options.card, options.mapping, rest) == (None, None, None, [])


def test_truth_views_draw_a_mapped_model_in_the_truths_classes():
    from camvid_viewer.rendering.mapped import labels_for_view

    model = _Model()
    model.label_set = cityscapes()
    model.mapping = resolve_mapping("cityscapes-to-camvid", model.label_set)
    labels = np.array([[13, 10]], np.uint8)  # car, sky
    drawn, classes, hidden = labels_for_view("overlay", model, labels, model.label_set, hidden={2})
    assert drawn is labels and classes is model.label_set and hidden == {2}  # the model's own
    drawn, classes, hidden = labels_for_view("error", model, labels, model.label_set, hidden={2})
    assert drawn.tolist() == [[8, 0]] and classes is CAMVID and hidden == frozenset()  # vehicle, sky: as scored
