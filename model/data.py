"""Finding, pairing, reading and augmenting CamVid-style frames and label maps.

Labels stay class indices (uint8 on disk, int64 tensors in batches), never one-hot.
Every problem with a file raises :class:`DataError` whose message names the file.
"""

from __future__ import annotations

__all__ = [
    "DataError", "Split", "IMAGE_SUFFIXES", "natural_key", "list_images", "detect_splits",
    "pair_by_stem", "read_image", "read_label", "image_header_size", "check_image_size",
    "max_image_pixels", "load_pairs", "TrainTransform", "CamVidDataset",
]

import os
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model.classes import VOID_INDEX
from model.image_files import (
    DataError,
    check_image_size,
    image_header_size,
    max_image_pixels,
    read_image,
    read_label,
)
from model.photometric import PHOTOMETRIC, strong_photometric

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

# (split name, image folder, annotation folder) for the layouts we recognise.
_LAYOUTS: tuple[tuple[str, str, str], ...] = (
    ("train", "train", "trainannot"),
    ("val", "val", "valannot"),
    ("test", "test", "testannot"),
    ("train", "images_prepped_train", "annotations_prepped_train"),
    ("test", "images_prepped_test", "annotations_prepped_test"),
)


@dataclass(frozen=True)
class Split:
    """One split of a dataset: a folder of frames and the folder of their label maps."""

    name: str
    images: Path
    annotations: Path


def natural_key(path: str | Path) -> list:
    """Sort key that orders ``frame2`` before ``frame10``."""
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", Path(path).name)]


def list_images(folder: str | Path) -> list[Path]:
    """Image files of a folder in natural order (hidden files skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    files = [
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    ]
    return sorted(files, key=natural_key)


def detect_splits(root: str | Path) -> list[Split]:
    """The splits found under ``root``: SegNet layout, the origin notebook's layout, or neither."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such dataset folder")
    found = []
    for name, images, labels in _LAYOUTS:
        if (root / images).is_dir() and (root / labels).is_dir():
            found.append(Split(name, root / images, root / labels))
    return found


def pair_by_stem(images_dir: str | Path, annotations_dir: str | Path, *, skip_bad: bool = False) -> list[tuple[Path, Path]]:
    """Pair each frame with the annotation of the same file stem.

    A frame without annotation is an error (or skipped with ``skip_bad``).
    """
    images = list_images(images_dir)
    if not images:
        raise DataError(f"{images_dir}: no image files (png/jpg) in this folder")
    annotations = {p.stem: p for p in list_images(annotations_dir)}
    pairs = []
    for image in images:
        label = annotations.get(image.stem)
        if label is None:
            if skip_bad:
                continue
            raise DataError(f"{image}: frame has no annotation in {annotations_dir}")
        pairs.append((image, label))
    if not pairs:
        raise DataError(f"{annotations_dir}: no annotation matches any frame of {images_dir}")
    return pairs


def load_pairs(pairs: list[tuple[Path, Path]], *, skip_bad: bool = False) -> tuple[list, list, int]:
    """Read every pair into memory; returns (images, labels, skipped count)."""
    images, labels, skipped = [], [], 0
    for image_path, label_path in pairs:
        try:
            image = read_image(image_path)
            label = read_label(label_path)
            if image.shape[:2] != label.shape:
                raise DataError(
                    f"{label_path}: annotation is {label.shape[1]}x{label.shape[0]}, "
                    f"its frame {image_path.name} is {image.shape[1]}x{image.shape[0]}"
                )
        except DataError:
            if not skip_bad:
                raise
            skipped += 1
            continue
        images.append(image)
        labels.append(label)
    if not images:
        raise DataError("no usable frame: every pair was bad")
    return images, labels, skipped


class TrainTransform:
    """Scale jitter, random crop (padded with void), horizontal flip and colour jitter.

    Works on BGR uint8 frames and uint8 label maps with OpenCV; a seeded
    ``numpy.random.Generator`` makes it deterministic.
    """

    def __init__(
        self,
        crop: tuple[int, int] = (360, 480),
        scale: tuple[float, float] = (0.75, 1.5),
        flip: bool = True,
        colour: float = 0.3,
        augment: bool = True,
        photometric: str = "basic",
    ) -> None:
        if photometric not in PHOTOMETRIC:
            raise ValueError(f"unknown photometric augmentation {photometric!r} ({', '.join(PHOTOMETRIC)})")
        self.photometric = photometric
        self.crop = crop
        self.scale = scale
        self.flip = flip
        self.colour = colour
        self.augment = augment

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator):
        ch, cw = self.crop
        if self.augment:
            s = rng.uniform(*self.scale)
            h, w = label.shape
            size = (max(1, round(w * s)), max(1, round(h * s)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
            label = cv2.resize(label, size, interpolation=cv2.INTER_NEAREST)
        image, label = _pad_to(image, label, ch, cw)
        h, w = label.shape
        y = int(rng.integers(0, h - ch + 1)) if self.augment else (h - ch) // 2
        x = int(rng.integers(0, w - cw + 1)) if self.augment else (w - cw) // 2
        image = image[y : y + ch, x : x + cw]
        label = label[y : y + ch, x : x + cw]
        if self.augment and self.flip and rng.random() < 0.5:
            image = image[:, ::-1]
            label = label[:, ::-1]
        if self.augment and self.photometric == "strong":
            image = strong_photometric(image, rng)
        if self.augment and self.colour > 0:
            image = _colour_jitter(image, rng, self.colour)
        return np.ascontiguousarray(image), np.ascontiguousarray(label)


def _pad_to(image, label, height, width):
    ph, pw = max(0, height - label.shape[0]), max(0, width - label.shape[1])
    if ph or pw:
        image = cv2.copyMakeBorder(image, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=0)
        label = cv2.copyMakeBorder(label, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=VOID_INDEX)
    return image, label


def _colour_jitter(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    brightness = rng.uniform(1 - strength, 1 + strength)
    contrast = rng.uniform(1 - strength, 1 + strength)
    saturation = rng.uniform(1 - strength, 1 + strength)
    img = image.astype(np.float32) * brightness
    mean = img.mean()
    img = (img - mean) * contrast + mean
    grey = img.mean(axis=2, keepdims=True)
    img = (img - grey) * saturation + grey
    return np.clip(img, 0, 255).astype(np.uint8)


class CamVidDataset:
    """Frames and label maps held in memory, as ``(CHW float32 RGB normalised, HW int64)`` pairs.

    Args:
        pairs: (frame, annotation) paths, e.g. from :func:`pair_by_stem`.
        transform: a :class:`TrainTransform`, or ``None`` for full-size evaluation.
        mean, std: RGB normalisation in 0..1 units.
        seed: base seed for the per-sample augmentation streams.
        skip_bad: count bad pairs instead of raising.
    """

    def __init__(self, pairs, *, transform=None, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), seed=0, skip_bad=False):
        self.paths = list(pairs)
        self.images, self.labels, self.skipped = load_pairs(self.paths, skip_bad=skip_bad)
        self.transform = transform
        self.mean = np.asarray(mean, np.float32) * 255
        self.std = np.asarray(std, np.float32) * 255
        self.seed = seed
        self.epoch = 0

    @classmethod
    def from_root(cls, root, split: str, **kwargs) -> CamVidDataset:
        """The named split of a dataset root in any known layout."""
        splits = {s.name: s for s in detect_splits(root)}
        if split not in splits:
            known = ", ".join(splits) or "none"
            raise DataError(f"{root}: no '{split}' split (found: {known})")
        s = splits[split]
        return cls(pair_by_stem(s.images, s.annotations, skip_bad=kwargs.get("skip_bad", False)), **kwargs)

    def set_epoch(self, epoch: int) -> None:
        """New augmentation draws each epoch, reproducible from the seed."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        import torch

        image, label = self.images[index], self.labels[index]
        if self.transform is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            image, label = self.transform(image, label, rng)
        rgb = image[..., ::-1].astype(np.float32)
        chw = ((rgb - self.mean) / self.std).transpose(2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(chw)), torch.from_numpy(label.astype(np.int64))


def default_camvid_root() -> Path | None:
    """``$CAMVID_ROOT`` or ``../shared/camvid`` beside the project, if it exists."""
    env = os.environ.get("CAMVID_ROOT")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parent.parent.parent / "shared" / "camvid")
    for c in candidates:
        if c.is_dir():
            return c
    return None
