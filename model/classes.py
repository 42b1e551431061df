"""Label sets: the classes a model predicts or a dataset labels (names, colours, void index).

:class:`LabelSet` is what the viewer, the analysis and the exporter draw and score with; a
model's comes from its card (:meth:`LabelSet.from_card`), a dataset's from the format it is
read in. CamVid's own table is defined here once, as the constants below and :data:`CAMVID`:
the label set of CamVid data and of the shipped model's card.
"""

from __future__ import annotations

__all__ = ["LabelSet", "label_set_of", "CAMVID", "CLASS_NAMES", "NUM_CLASSES", "VOID_INDEX", "PALETTE_RGB", "palette_bgr"]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Label value -> class name (SegNet's 11 classes + void), as in the CamVid README.
CLASS_NAMES: tuple[str, ...] = (
    "sky",
    "building",
    "column/pole",
    "road",
    "sidewalk",
    "vegetation",
    "traffic light",
    "fence",
    "vehicle",
    "pedestrian",
    "cyclist",
    "void",
)
NUM_CLASSES = len(CLASS_NAMES)
#: Pixels labelled void are ignored by training and (by default) by scoring.
VOID_INDEX = 11

#: SegNet's CamVid colours, RGB, indexed by label value.
PALETTE_RGB: tuple[tuple[int, int, int], ...] = (
    (128, 128, 128),
    (128, 0, 0),
    (192, 192, 128),
    (128, 64, 128),
    (60, 40, 222),
    (128, 128, 0),
    (192, 128, 128),
    (64, 64, 128),
    (64, 0, 128),
    (64, 64, 0),
    (0, 128, 192),
    (0, 0, 0),
)


def palette_bgr(palette_rgb=PALETTE_RGB) -> np.ndarray:
    """The palette as a (N, 3) uint8 BGR lookup table, ready for ``lut[labels]`` on OpenCV frames."""
    return np.asarray(palette_rgb, dtype=np.uint8)[:, ::-1].copy()


@dataclass(frozen=True)
class LabelSet:
    """Label value ``i`` is class ``names[i]``, drawn in ``palette_rgb[i]``.

    Truth pixels of ``void_index`` are not scored; ``None`` scores every class.
    """

    names: tuple[str, ...]
    palette_rgb: tuple[tuple[int, int, int], ...]
    void_index: int | None = None

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        palette = tuple(tuple(int(v) for v in colour) for colour in self.palette_rgb)
        if len(palette) != len(names):
            raise ValueError(f"{len(names)} class names but {len(palette)} palette colours")
        if any(len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in palette):
            raise ValueError("each palette colour must be 3 whole numbers 0..255")
        if self.void_index is not None and not 0 <= int(self.void_index) < len(names):
            raise ValueError(f"void index {self.void_index} is not one of the {len(names)} classes")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "palette_rgb", palette)
        object.__setattr__(self, "void_index", None if self.void_index is None else int(self.void_index))

    @property
    def count(self) -> int:
        return len(self.names)

    @property
    def palette_bgr(self) -> np.ndarray:
        """(N, 3) uint8 BGR lookup table for ``lut[labels]`` on OpenCV frames (a new array each time)."""
        return np.asarray(self.palette_rgb, dtype=np.uint8).reshape(-1, 3)[:, ::-1].copy()

    @property
    def scored(self) -> tuple[int, ...]:
        """Every class index except void."""
        return tuple(i for i in range(self.count) if i != self.void_index)

    def index_of(self, name: str) -> int | None:
        """The index of the class called ``name``, or ``None`` when there is none."""
        return self.names.index(name) if name in self.names else None

    @classmethod
    def from_card(cls, card: Mapping) -> LabelSet:
        """A model card's classes and palette; void is the card's ``void_index`` when the card
        has one (``null``: none), else the class named ``void``, else none."""
        names: Sequence[str] = tuple(card.get("classes") or ())
        if "palette" not in card:
            raise ValueError("the model card has no palette")
        void = card["void_index"] if "void_index" in card else (names.index("void") if "void" in names else None)
        return cls(tuple(names), tuple(map(tuple, card["palette"])), void)


#: CamVid's classes (SegNet's 11 + void): CamVid label PNGs and the shipped model's card.
CAMVID = LabelSet(CLASS_NAMES, PALETTE_RGB, VOID_INDEX)


def label_set_of(*owners) -> LabelSet | None:
    """The label set of the first owner that has one: its ``label_set`` attribute, else its
    card's classes (a card without ``classes`` and ``palette`` names none), else ``None``.

    Call as ``label_set_of(model, truth)``: the model's classes win; a model whose card names
    none is scored in the classes of the data it is compared with.
    """
    for owner in owners:
        if owner is None:
            continue
        own = getattr(owner, "label_set", None)
        if isinstance(own, LabelSet):
            return own
        card = getattr(owner, "card", None)
        if isinstance(card, Mapping) and card.get("classes") and "palette" in card:
            return LabelSet.from_card(card)
    return None
