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

import io
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model.classes import NUM_CLASSES, VOID_INDEX

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Default for :func:`max_image_pixels`: 64 megapixels (a CamVid frame is 0.35).
DEFAULT_MAX_PIXELS = 64_000_000
# JPEG start-of-frame markers (every coding process; not DHT, JPG, DAC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}

# (split name, image folder, annotation folder) for the layouts we recognise.
_LAYOUTS: tuple[tuple[str, str, str], ...] = (
    ("train", "train", "trainannot"),
    ("val", "val", "valannot"),
    ("test", "test", "testannot"),
    ("train", "images_prepped_train", "annotations_prepped_train"),
    ("test", "images_prepped_test", "annotations_prepped_test"),
)


class DataError(Exception):
    """A dataset problem, with a message that names the file and what is wrong."""


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


def read_image(path: str | Path) -> np.ndarray:
    """A BGR uint8 frame; unreadable, truncated or oversized (:func:`check_image_size`) files
    raise :class:`DataError`, the size checked from the header before anything is decoded."""
    path = Path(path)
    data = _read_bytes(path)
    check_image_size(path, data=data)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{path}: unreadable or truncated image")
    return image


def read_label(path: str | Path, *, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """A single-channel uint8 label map whose values are class indices (< ``num_classes``);
    its size is checked from the header before decoding, as in :func:`read_image`."""
    path = Path(path)
    data = _read_bytes(path)
    check_image_size(path, data=data)
    label = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if label is None:
        raise DataError(f"{path}: unreadable or truncated annotation")
    if label.ndim == 3:
        # Some tools save grey labels as 3 identical channels; anything else is a colour image.
        if not (np.array_equal(label[..., 0], label[..., 1]) and np.array_equal(label[..., 0], label[..., -1])):
            raise DataError(f"{path}: annotation is a colour image, expected one channel of class indices")
        label = label[..., 0]
    if label.dtype != np.uint8:
        if label.max(initial=0) > 255:
            raise DataError(f"{path}: label value {int(label.max())} > {num_classes - 1}")
        label = label.astype(np.uint8)
    top = int(label.max(initial=0))
    if top >= num_classes:
        raise DataError(f"{path}: label value {top} > {num_classes - 1}")
    return label


def max_image_pixels() -> int:
    """Largest image (width x height) any reader here decodes: ``$CAMVID_VIEWER_MAX_PIXELS``,
    else :data:`DEFAULT_MAX_PIXELS` (64 megapixels)."""
    text = os.environ.get("CAMVID_VIEWER_MAX_PIXELS", "").strip() or str(DEFAULT_MAX_PIXELS)
    if not text.isdigit() or int(text) <= 0:
        raise DataError(f"CAMVID_VIEWER_MAX_PIXELS={text!r}: expected a whole number of pixels > 0")
    return int(text)


def image_header_size(path: str | Path, *, data: bytes | None = None) -> tuple[int, int]:
    """(width, height) as a PNG, JPEG, BMP or TIFF header claims it, nothing decoded; ``data``: the
    bytes, if already read. Other formats and headers too damaged to say raise :class:`DataError`."""
    path = Path(path)
    try:
        with io.BytesIO(data) if data is not None else open(path, "rb") as f:
            size = _header_size(f)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except struct.error:  # the header ends early
        size = None
    if size is None or min(size) <= 0:
        raise DataError(f"{path}: not a PNG, JPEG, BMP or TIFF image, or its header is damaged")
    return size


def check_image_size(path: str | Path, *, data: bytes | None = None) -> tuple[int, int]:
    """The header's (width, height), or :class:`DataError` when it claims more than
    :func:`max_image_pixels` (a decompression bomb is refused before anything is decoded)."""
    width, height = image_header_size(path, data=data)
    limit = max_image_pixels()
    if width * height > limit:
        raise DataError(
            f"{path}: image claims {width}x{height} pixels ({width * height / 1e6:.4g} megapixels), "
            f"over the {limit / 1e6:g}-megapixel limit (CAMVID_VIEWER_MAX_PIXELS raises it)"
        )
    return width, height


def _header_size(f) -> tuple[int, int] | None:
    head = f.read(32)
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head.startswith(b"BM"):  # OS/2 headers (size 12) hold 16-bit sizes; a negative height is top-down
        w, h = struct.unpack("<HH", head[18:22]) if head[14:15] == b"\x0c" else struct.unpack("<ii", head[18:26])
        return abs(w), abs(h)
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(f)
    if head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
        return _tiff_size(f, head)
    return None


def _jpeg_size(f) -> tuple[int, int] | None:
    """Walk the marker segments up to the first start-of-frame."""
    f.seek(2)
    while True:
        byte = f.read(1)
        while byte and byte != b"\xff":  # stray bytes between segments
            byte = f.read(1)
        while byte == b"\xff":  # fill bytes
            byte = f.read(1)
        if not byte or byte[0] in (0xD9, 0xDA):  # end of file or image data before any frame header
            return None
        if byte[0] == 0x01 or 0xD0 <= byte[0] <= 0xD8:  # markers without a length
            continue
        (length,) = struct.unpack(">H", f.read(2))
        if length < 2:
            return None
        if byte[0] in _JPEG_SOF:
            height, width = struct.unpack(">xHH", f.read(5))
            return width, height
        f.seek(length - 2, 1)


def _tiff_size(f, head: bytes) -> tuple[int, int] | None:
    """ImageWidth (256) and ImageLength (257) from the first IFD, classic or BigTIFF."""
    order = "<" if head[:2] == b"II" else ">"
    big = head[2:4] in (b"+\0", b"\0+")
    offset = struct.unpack(order + ("Q" if big else "I"), head[8:16] if big else head[4:8])[0]
    f.seek(offset)
    (count,) = struct.unpack(order + ("Q" if big else "H"), f.read(8 if big else 2))
    entry, value_at = (20, 12) if big else (12, 8)
    table = f.read(min(count, 4096) * entry)
    size = {}
    for i in range(0, len(table) - entry + 1, entry):
        tag, kind = struct.unpack(order + "HH", table[i : i + 4])
        fmt = {3: "H", 4: "I", 16: "Q"}.get(kind)
        if tag in (256, 257) and fmt:
            size[tag] = struct.unpack(order + fmt, table[i + value_at : i + value_at + struct.calcsize(fmt)])[0]
    return (size[256], size[257]) if len(size) == 2 else None


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise DataError(f"{path}: empty file")
    # PNG files end with an IEND chunk; OpenCV happily decodes a truncated one as partly grey.
    if path.suffix.lower() == ".png" and not data.rstrip(b"\0").endswith(b"IEND\xaeB`\x82"):
        raise DataError(f"{path}: truncated PNG file")
    return data


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
    ) -> None:
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
