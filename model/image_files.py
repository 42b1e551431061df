"""Reading image and label files safely: the size is checked from the header before decoding.

A file whose header claims more than :func:`max_image_pixels` (a decompression bomb) is
refused before OpenCV allocates it; a truncated PNG is refused outright; what libpng or
libjpeg print about a damaged file is muted, so the one-line :class:`DataError` is the message.
"""

from __future__ import annotations

__all__ = ["DataError", "DEFAULT_MAX_PIXELS", "read_image", "read_label", "image_header_size",
           "check_image_size", "max_image_pixels"]

import io
import os
import struct
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from model.classes import NUM_CLASSES

#: Default for :func:`max_image_pixels`: 64 megapixels (a CamVid frame is 0.35).
DEFAULT_MAX_PIXELS = 64_000_000
# JPEG start-of-frame markers (every coding process; not DHT, JPG, DAC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class DataError(Exception):
    """A dataset problem, with a message that names the file and what is wrong."""


_MUTE_LOCK = threading.Lock()
_MUTE_DEPTH = [0, -1]  # threads decoding now, the saved stderr descriptor


@contextmanager
def _native_stderr_muted():
    """Silence what libpng/libjpeg print on damaged files ("libpng error: ..."), C-level, while
    OpenCV decodes: the one-line error raised here is the message. Nested and threaded calls
    share one redirect; where stderr cannot be redirected, nothing changes."""
    with _MUTE_LOCK:
        if _MUTE_DEPTH[0] == 0:
            try:
                sys.stderr.flush()
                saved = os.dup(2)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                os.close(devnull)
                _MUTE_DEPTH[1] = saved
            except OSError:
                _MUTE_DEPTH[1] = -1
        _MUTE_DEPTH[0] += 1
    try:
        yield
    finally:
        with _MUTE_LOCK:
            _MUTE_DEPTH[0] -= 1
            if _MUTE_DEPTH[0] == 0 and _MUTE_DEPTH[1] >= 0:
                os.dup2(_MUTE_DEPTH[1], 2)
                os.close(_MUTE_DEPTH[1])
                _MUTE_DEPTH[1] = -1


def read_image(path: str | Path) -> np.ndarray:
    """A BGR uint8 frame; unreadable, truncated or oversized (:func:`check_image_size`) files
    raise :class:`DataError`, the size checked from the header before anything is decoded."""
    path = Path(path)
    data = _read_bytes(path)
    check_image_size(path, data=data)
    with _native_stderr_muted():
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
    with _native_stderr_muted():
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
