"""Class mappings: a model's own classes scored in the classes of the truth it is compared with.

A model trained on another label set (Cityscapes' 19 classes) still draws in its own classes,
but is scored against CamVid truth through a mapping: each model class becomes one CamVid class,
or void (not scored) when it maps to nothing. The mapping is a small JSON file::

    {"name": "cityscapes-to-camvid", "to": "camvid",
     "from": ["road", "sidewalk", ...],                 # optional: the model classes it is for
     "map": {"road": "road", "wall": "building", "terrain": null, ...}}

Keys of ``map`` are model class names (or their indices as strings); values are target class
names, target indices, or ``null`` (void). Model classes not named in ``map`` are void too.
``{"name": "identity", "to": "camvid", "identity": true}`` maps class ``i`` to class ``i``.
Two ship in ``resources/mappings/`` and are named by their stem (``--mapping identity``).

Scorers ask :func:`scored_classes` for the classes they score in and :func:`scored_labels` for
a prediction in those classes; both follow the model's ``mapping`` attribute (``None``: none).
"""

from __future__ import annotations

__all__ = [
    "ClassMapping", "MappingError", "MAPPINGS_DIR", "TARGETS", "load_mapping", "resolve_mapping", "shipped_mappings",
    "read_json", "scored_classes", "scored_labels", "use_mapping",
]

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.classes import CAMVID, LabelSet, label_set_of

MAPPINGS_DIR = Path(__file__).resolve().parent.parent / "resources" / "mappings"
#: The label sets a mapping can map to, by the name its ``to`` key gives.
TARGETS: dict[str, LabelSet] = {"camvid": CAMVID}
_KEYS = {"name", "description", "to", "from", "map", "identity"}


class MappingError(ValueError):
    """A mapping file that cannot be used with this model; the message names the file."""


@dataclass(frozen=True)
class ClassMapping:
    """Model label ``i`` is scored as target label ``table[i]`` (the target's void when unmapped)."""

    name: str
    path: Path | None
    source: LabelSet  # the model's own classes
    target: LabelSet  # the truth's classes, what the scores are in
    table: np.ndarray  # (256,) uint8 lookup table

    def apply(self, labels: np.ndarray) -> np.ndarray:
        """``labels`` (model classes, uint8) in the target's classes."""
        return self.table[labels]

    @property
    def void_sources(self) -> tuple[str, ...]:
        """The model classes that map to nothing (scored as void)."""
        void = self.target.void_index
        return tuple(n for i, n in enumerate(self.source.names) if self.table[i] == void and i != self.source.void_index)

    def describe(self) -> str:
        """One line for the status bar and the menus: ``cityscapes-to-camvid (19 -> 11 classes, 2 void)``."""
        kept = len(self.target.scored)
        void = len(self.void_sources)
        return f"{self.name} ({self.source.count} -> {kept} classes" + (f", {void} void)" if void else ")")


def shipped_mappings() -> dict[str, Path]:
    """The mappings shipped in ``resources/mappings``, by name (file stem)."""
    return {p.stem: p for p in sorted(MAPPINGS_DIR.glob("*.json"))}


def resolve_mapping(spec: str | Path | None, model_classes: LabelSet, *, base: Path | None = None) -> ClassMapping | None:
    """``spec``: ``None`` or ``"none"`` (no mapping), a shipped mapping's name, or a JSON file
    (relative to ``base`` when given and the file is not found as it is)."""
    if spec is None or str(spec).lower() == "none":
        return None
    shipped = shipped_mappings()
    if str(spec) in shipped:
        return load_mapping(shipped[str(spec)], model_classes)
    path = Path(spec)
    if not path.is_file() and base is not None and (base / path).is_file():
        path = base / path
    if not path.is_file():
        names = ", ".join(shipped) or "none shipped"
        raise MappingError(f"{spec}: no such mapping file (shipped mappings: {names})")
    return load_mapping(path, model_classes)


def load_mapping(path: str | Path, model_classes: LabelSet) -> ClassMapping:
    """Read and check a mapping file against the model's classes; every problem is one line."""
    path = Path(path)
    return mapping_from_dict(read_json(path, "the mapping", MappingError), model_classes, path=path)


def read_json(path: Path, what: str, error: type[Exception]):
    """The JSON in ``path``; an unreadable file or bad JSON raises ``error`` in one line naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read {what} ({getattr(exc, 'strerror', None) or exc})") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None


def mapping_from_dict(data, model_classes: LabelSet, *, path: Path | None = None) -> ClassMapping:
    """:func:`load_mapping` for JSON already read (``path`` names it in errors)."""
    where = str(path) if path is not None else "mapping"

    def fail(problem: str):
        raise MappingError(f"{where}: {problem}")

    if not isinstance(data, Mapping):
        fail("a mapping is a JSON object with 'to' and 'map' (or 'identity': true)")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        fail(f"unknown key {unknown[0]!r} (expected: {', '.join(sorted(_KEYS))})")
    target_name = data.get("to", "camvid")
    if target_name not in TARGETS:
        fail(f"'to' is {target_name!r}; mappings go to {', '.join(TARGETS)}")
    target = TARGETS[target_name]
    void = target.void_index
    n = model_classes.count
    sources = data.get("from")
    if sources is not None:
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            fail("'from' must be a list of class names")
        if len(sources) != n:
            fail(f"the mapping is from {len(sources)} classes but the model has {n}")
    table = np.full(256, void, np.uint8)
    if data.get("identity") is True:
        if "map" in data:
            fail("give either 'identity': true or 'map', not both")
        if n > target.count:
            fail(f"identity needs at most {target.count} model classes ({target_name}'s), the model has {n}")
        table[:n] = np.arange(n)
    elif "map" not in data:
        fail("missing key 'map' (model class -> target class or null), or 'identity': true")
    else:
        entries = data["map"]
        if not isinstance(entries, Mapping):
            fail("'map' must be an object: model class -> target class (name, index or null)")
        own = list(sources) if sources is not None else list(model_classes.names)
        for key, value in entries.items():
            table[_source_index(key, own, n, fail)] = _target_index(key, value, target, fail)
    if model_classes.void_index is not None:
        table[model_classes.void_index] = void  # the model's own "no class" is never scored
    return ClassMapping(str(data.get("name") or (path.stem if path else "mapping")), path, model_classes, target, table)


def _source_index(key: str, own: list[str], n: int, fail) -> int:
    if key in own:
        return own.index(key)
    if key.isdigit():
        if int(key) >= n:
            fail(f"model class index {key} is out of range (the model has {n} classes, 0..{n - 1})")
        return int(key)
    fail(f"{key!r} is not one of the model's classes ({', '.join(own[:6])}{', ...' if len(own) > 6 else ''})")
    raise AssertionError  # fail raised


def _target_index(key: str, value, target: LabelSet, fail) -> int:
    if value is None:
        return target.void_index
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        fail(f"{key!r} maps to {value!r}; expected a class name, an index or null")
    if isinstance(value, int):
        if not 0 <= value < target.count:
            fail(f"{key!r} maps to index {value}, out of range (0..{target.count - 1})")
        return value
    index = target.index_of(value)
    if index is None:
        fail(f"{key!r} maps to {value!r}, which is not a class of the target ({', '.join(target.names)})")
    return index


def use_mapping(model, spec: str | Path | ClassMapping | None, *, base: Path | None = None) -> ClassMapping | None:
    """Set ``model.mapping`` from ``spec`` (see :func:`resolve_mapping`; a loaded mapping is
    checked against the model's classes); returns it."""
    classes = label_set_of(model)
    if isinstance(spec, ClassMapping):
        if classes is None or spec.source.names != classes.names:
            raise MappingError(f"{spec.path or spec.name}: this mapping is for other classes than {getattr(model, 'name', 'the model')}'s")
        model.mapping = spec
        return spec
    if spec is not None and str(spec).lower() != "none" and classes is None:
        raise MappingError(f"{spec}: the model names no classes to map")
    mapping = resolve_mapping(spec, classes, base=base) if classes is not None else None
    model.mapping = mapping
    return mapping


def scored_classes(model, truth=None) -> LabelSet | None:
    """The classes a model's output is scored in: its mapping's target, else its own (the truth's
    when it names none)."""
    mapping = getattr(model, "mapping", None)
    if isinstance(mapping, ClassMapping):
        return mapping.target
    return label_set_of(model, truth)


def scored_labels(model, labels: np.ndarray | None) -> np.ndarray | None:
    """``labels`` in :func:`scored_classes`: mapped when the model has a mapping, else as they are."""
    mapping = getattr(model, "mapping", None)
    if labels is None or not isinstance(mapping, ClassMapping):
        return labels
    return mapping.apply(labels)
