"""The JSON card of an ONNX segmentation model: what the graph cannot say, checked in one line per problem.

``model.onnx`` + ``model.json`` (or ``--card FILE``)::

    {"name": "lraspp-cityscapes",
     "classes": ["road", "sidewalk", ...],               # required: one name per output class
     "palette": [[128, 64, 128], ...],                   # optional: generated when absent
     "input": {"mean": [0.485, 0.456, 0.406],            # required: per input channel, on 0..1 pixels
               "std": [0.229, 0.224, 0.225],
               "channels": "RGB",                         # RGB (default) or BGR: the graph's channel order
               "working_height": 360},                    # or "working_size": [h, w] for a fixed-size graph
     "output": "logits",                                  # required: logits or labels
     "ignore_index": null,                                # optional: a class index that is not scored
     "mapping": "cityscapes-to-camvid"}                   # optional: the mapping used by default

A model without a card is refused in one line: its normalisation and output cannot be guessed
safely. Within a card only the palette has a default (generated colours, said in ``notes``).
Reading a card needs no ONNX Runtime: a batch checks it (and its mapping) before any worker starts.
"""

from __future__ import annotations

__all__ = ["CARD_KEYS", "ExternalCard", "ModelCardError", "add_card_arguments", "card_from_dict", "card_path_for",
           "external_scored_classes", "generated_palette", "is_external_model", "read_external_card", "travelling_card"]

import colorsys
from dataclasses import dataclass, field
from pathlib import Path

from model.checkpoint import MAX_CLASSES, WORKING_HEIGHTS, CheckpointError
from model.class_mapping import read_json
from model.classes import LabelSet

CARD_KEYS = ("name", "classes", "palette", "input", "output", "ignore_index", "mapping", "description")
_INPUT_KEYS = ("mean", "std", "channels", "working_height", "working_size")


class ModelCardError(CheckpointError):
    """An ONNX model or its card that cannot be used; the message names the file."""


def is_external_model(path) -> bool:
    """An ONNX graph (by its suffix), as opposed to one of our safetensors checkpoints."""
    return path is not None and Path(path).suffix.lower() == ".onnx"


def card_path_for(model_path: str | Path, card: str | Path | None = None) -> Path:
    """The card named, else the one beside the model (``model.onnx`` -> ``model.json``)."""
    return Path(card) if card is not None else Path(model_path).with_suffix(".json")


@dataclass(frozen=True)
class ExternalCard:
    """A checked card: what the Segmenter needs to feed the graph and read its output."""

    path: Path
    name: str
    label_set: LabelSet
    mean: tuple[float, float, float]  # in the graph's channel order, on 0..1 pixels
    std: tuple[float, float, float]
    channels: str  # "RGB" or "BGR"
    working_height: int | None
    working_size: tuple[int, int] | None  # (h, w) of a fixed-size graph
    output: str  # "logits" or "labels"
    mapping: str | None
    raw: dict = field(repr=False)
    notes: tuple[str, ...] = ()  # defaults taken, said to the user


def read_external_card(model_path: str | Path, card: str | Path | None = None) -> ExternalCard:
    """Read and check the card of ``model_path``; every problem is one line naming the file."""
    path = card_path_for(model_path, card)
    if not path.is_file():
        if card is not None:
            raise ModelCardError(f"{path}: no such model card")
        raise ModelCardError(f"{model_path}: no model card {path.name} beside it (or pass --card FILE); an ONNX model "
                             "needs its classes, input mean/std and output kind (README: 'Any ONNX model')")
    return card_from_dict(read_json(path, "the model card", ModelCardError), path=path, model_path=Path(model_path))


def card_from_dict(data, *, path: Path, model_path: Path) -> ExternalCard:
    """:func:`read_external_card` for JSON already read."""

    def fail(problem: str):
        raise ModelCardError(f"{path}: {problem}")

    if not isinstance(data, dict):
        fail("a model card is a JSON object (classes, input, output)")
    unknown = sorted(set(data) - set(CARD_KEYS))
    if unknown:
        fail(f"unknown key {unknown[0]!r} (expected: {', '.join(CARD_KEYS)})")
    for key in ("classes", "input", "output"):
        if key not in data:
            fail(f"missing key {key!r}")
    classes = data["classes"]
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) and c for c in classes):
        fail("'classes' must be a non-empty list of class names")
    if len(classes) > MAX_CLASSES:
        fail(f"{len(classes)} classes; label maps hold at most {MAX_CLASSES}")
    notes = []
    palette = data.get("palette")
    if palette is None:
        palette = generated_palette(len(classes))
        notes.append(f"{path.name} has no palette: {len(classes)} colours generated")
    elif not isinstance(palette, list) or len(palette) != len(classes):
        fail(f"'palette' has {len(palette) if isinstance(palette, list) else 'no list of'} colours for {len(classes)} classes")
    ignore = data.get("ignore_index")
    if ignore is not None and (isinstance(ignore, bool) or not isinstance(ignore, int) or not 0 <= ignore < len(classes)):
        fail(f"'ignore_index' {ignore!r} is out of range (a class index 0..{len(classes) - 1}, or null)")
    try:
        label_set = LabelSet(tuple(classes), tuple(tuple(c) for c in palette), ignore)
    except (TypeError, ValueError) as exc:
        fail(f"'palette': {exc}")
    if data["output"] not in ("logits", "labels"):
        fail(f"'output' is {data['output']!r}; expected 'logits' or 'labels'")
    mapping = data.get("mapping")
    if mapping is not None and not isinstance(mapping, str):
        fail("'mapping' must be a mapping's name or a file path")
    mean, std, channels, height, size = _input_section(data["input"], fail)
    return ExternalCard(path=path, name=str(data.get("name") or model_path.stem), label_set=label_set, mean=mean, std=std,
                        channels=channels, working_height=height, working_size=size, output=data["output"],
                        mapping=mapping, raw=dict(data), notes=tuple(notes))


def _input_section(section, fail):
    if not isinstance(section, dict):
        fail("'input' must be an object with mean, std and working_height (or working_size)")
    unknown = sorted(set(section) - set(_INPUT_KEYS))
    if unknown:
        fail(f"unknown key 'input.{unknown[0]}' (expected: {', '.join(_INPUT_KEYS)})")
    triples = []
    for key in ("mean", "std"):
        value = section.get(key)
        if value is None:
            fail(f"missing key 'input.{key}' (three numbers, on pixels scaled to 0..1)")
        if (not isinstance(value, list) or len(value) != 3
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
            fail(f"'input.{key}' must be three numbers, got {value!r}")
        triples.append(tuple(float(v) for v in value))
    if any(s <= 0 for s in triples[1]):
        fail("'input.std' must be three numbers > 0")
    channels = str(section.get("channels", "RGB")).upper()
    if channels not in ("RGB", "BGR"):
        fail(f"'input.channels' is {section['channels']!r}; expected RGB or BGR")
    height, size = section.get("working_height"), section.get("working_size")
    low, high = WORKING_HEIGHTS
    if height is not None and size is not None:
        fail("give 'input.working_height' or 'input.working_size', not both")
    if height is not None and (isinstance(height, bool) or not isinstance(height, int) or not low <= height <= high):
        fail(f"'input.working_height' must be a whole number {low}..{high}, got {height!r}")
    if size is not None:
        if (not isinstance(size, list) or len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in size)
                or not all(low <= v <= high for v in size)):
            fail(f"'input.working_size' must be [height, width], whole numbers {low}..{high}, got {size!r}")
        size = (int(size[0]), int(size[1]))
    return triples[0], triples[1], channels, height, size


def generated_palette(count: int) -> list[list[int]]:
    """``count`` distinct colours, the same every time: hues spread by the golden ratio."""
    colours = []
    for i in range(count):
        hue = (i * 0.618033988749895) % 1.0
        value = 0.95 if i % 2 == 0 else 0.7
        r, g, b = colorsys.hsv_to_rgb(hue, 0.75, value)
        colours.append([round(r * 255), round(g * 255), round(b * 255)])
    return colours


def add_card_arguments(parser, *, mapping: bool = True) -> None:
    """``--card`` and ``--mapping`` (for the commands that score), for every command that takes ``--model``."""
    parser.add_argument("--card", metavar="FILE",
                        help="an ONNX --model's JSON card (default: the .json beside the .onnx)")
    if not mapping:
        return
    parser.add_argument("--mapping", metavar="NAME|FILE",
                        help="score the model's classes as CamVid's through this class mapping (shipped: "
                             "cityscapes-to-camvid, identity; default: the ONNX card's 'mapping', else none; 'none': none)")


def travelling_card(model_path: str | Path, card: str | Path | None, mapping: str | None) -> dict:
    """What a batch worker needs besides the model's bytes, checked here: the card's text (for an
    ONNX model) and the mapping, as a shipped name or a file's text (workers write both back)."""
    from model.class_mapping import resolve_mapping, shipped_mappings

    out: dict = {"card_text": None, "mapping": mapping, "mapping_text": None}
    base = None
    if is_external_model(model_path):
        checked = read_external_card(model_path, card)
        out["card_text"] = checked.path.read_text(encoding="utf-8")
        base = checked.path.parent
        mapping = mapping if mapping is not None else checked.mapping
        classes = checked.label_set
    elif card is not None:
        raise ModelCardError(f"{card}: --card is for an ONNX --model; {model_path} carries its own card")
    else:
        from model.checkpoint import read_card

        classes = LabelSet.from_card(read_card(model_path)) if mapping is not None else None
    if mapping is None or str(mapping).lower() == "none" or str(mapping) in shipped_mappings():
        out["mapping"] = mapping
        if mapping is not None and classes is not None:
            resolve_mapping(mapping, classes)  # a mapping that does not fit fails here, not on every worker
        return out
    resolved = resolve_mapping(mapping, classes, base=base)
    out["mapping"], out["mapping_text"] = None, resolved.path.read_text(encoding="utf-8")
    return out


def external_scored_classes(model_path: str | Path, card: str | Path | None = None, mapping=None) -> LabelSet:
    """The classes an ONNX model's saved labels are scored in, without loading the graph: its
    mapping's target (``mapping``, else the card's), else its own classes. ``predict`` writes
    label PNGs in these classes, so ``eval --predictions`` reads them back the same way."""
    from model.class_mapping import resolve_mapping

    checked = read_external_card(model_path, card)
    if mapping is None:
        resolved = resolve_mapping(checked.mapping, checked.label_set, base=checked.path.parent)
    else:
        resolved = resolve_mapping(mapping, checked.label_set)
    return resolved.target if resolved is not None else checked.label_set
