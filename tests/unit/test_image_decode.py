"""Frames decode to exactly OpenCV's pixels, through libspng where it is faster, and damaged
files are still refused."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from model import image_files
from model.image_files import DataError, read_image


def test_real_camvid_frames_decode_through_libspng_to_opencvs_pixels(camvid_root):
    files = sorted((camvid_root / "val").glob("*.png"))[::25] + sorted((camvid_root / "train").glob("*.png"))[::90]
    for path in files:
        assert image_files._decode_rgb_png(path.read_bytes()) is not None, path  # the fast path was taken
        assert np.array_equal(read_image(path), cv2.imread(str(path), cv2.IMREAD_COLOR)), path


@pytest.mark.parametrize("kind", ["grey", "grey16", "rgba", "rgb16"])
def test_other_pngs_give_opencvs_pixels(tmp_path, kind):
    rng = np.random.default_rng(0)
    image = {
        "grey": rng.integers(0, 256, (37, 53), dtype=np.uint8),
        "grey16": rng.integers(0, 65536, (37, 53), dtype=np.uint16),
        "rgba": rng.integers(0, 256, (37, 53, 4), dtype=np.uint8),
        "rgb16": rng.integers(0, 65536, (37, 53, 3), dtype=np.uint16),
    }[kind]
    path = tmp_path / f"{kind}.png"
    assert cv2.imwrite(str(path), image)
    assert np.array_equal(read_image(path), cv2.imread(str(path), cv2.IMREAD_COLOR))


def test_a_damaged_png_is_refused_not_decoded_as_garbage(tmp_path):
    path = tmp_path / "frame.png"
    assert cv2.imwrite(str(path), np.random.default_rng(1).integers(0, 256, (60, 80, 3), dtype=np.uint8))
    data = bytearray(path.read_bytes())
    data[data.find(b"IDAT") + 40] ^= 0xFF  # one flipped bit pattern inside the pixel data: its CRC no longer matches
    path.write_bytes(bytes(data))
    assert image_files._decode_rgb_png(bytes(data)) is None
    with pytest.raises(DataError, match="frame.png: unreadable"):
        read_image(path)
