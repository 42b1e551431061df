"""Hostile and broken inputs to model/: decompression bombs, bad model cards, failed writes, NaN.

Each is refused with one line that names the file, before any work is wasted on it.
"""

import errno
import json
import struct
import zlib
from pathlib import Path

import pytest

from model.checkpoint import CheckpointError, load_checkpoint, read_card, save_checkpoint
from model.data import DataError, check_image_size, image_header_size, read_image, read_label

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "resources" / "models" / "camvid-lite0.safetensors"


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A well-formed PNG of a few hundred bytes whose header claims ``width`` x ``height`` grey pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 2, 9)  # the first two rows; a decoder would want them all
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b""))
    return path


def bomb_headers(folder: Path) -> dict[str, Path]:
    """Headers claiming billions of pixels in the other formats the readers accept (JPEG, BMP, TIFF both byte orders)."""
    jpeg = b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0" + b"\0" * 9
    jpeg += b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 60_000, 50_000, 1) + b"\x01\x11\x00" + b"\xff\xd9"
    bmp = b"BM" + struct.pack("<IHHI", 0, 0, 0, 54) + struct.pack("<IiiHH", 40, 100_000, -100_000, 1, 24) + b"\0" * 24
    tiff_le = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 2)
    tiff_le += struct.pack("<HHII", 256, 4, 1, 100_000) + struct.pack("<HHII", 257, 4, 1, 100_000) + b"\0" * 4
    tiff_be = b"MM\0*" + struct.pack(">I", 8) + struct.pack(">H", 2)
    tiff_be += struct.pack(">HHIHH", 256, 3, 1, 60_000, 0) + struct.pack(">HHII", 257, 4, 1, 100_000) + b"\0" * 4
    files = {"bomb.jpg": jpeg, "bomb.bmp": bmp, "bomb-le.tif": tiff_le, "bomb-be.tiff": tiff_be}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}


def test_bomb_png_is_refused_before_decoding_by_both_readers(tmp_path):
    bomb = bomb_png(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 1000
    assert image_header_size(bomb) == (100_000, 100_000)
    for reader in (read_image, read_label):
        with pytest.raises(DataError) as err:
            reader(bomb)
        message = str(err.value)
        assert "\n" not in message and message.startswith(f"{bomb}: ")
        assert "100000x100000" in message and "megapixel limit" in message


def test_bomb_headers_of_every_format_are_refused(tmp_path):
    sizes = {"bomb.jpg": (50_000, 60_000), "bomb.bmp": (100_000, 100_000), "bomb-le.tif": (100_000, 100_000),
             "bomb-be.tiff": (60_000, 100_000)}
    for name, path in bomb_headers(tmp_path).items():
        assert image_header_size(path) == sizes[name], name
        with pytest.raises(DataError, match=rf"{name}: image claims {sizes[name][0]}x{sizes[name][1]} pixels"):
            read_image(path)


def test_real_frames_pass_and_the_limit_is_settable(camvid_root, tmp_path, monkeypatch):
    frame = sorted((camvid_root / "val").glob("*.png"))[0]
    label = camvid_root / "valannot" / frame.name
    image = read_image(frame)
    assert image_header_size(frame) == (image.shape[1], image.shape[0])
    assert check_image_size(label) == (480, 360)
    import cv2

    for ext in (".jpg", ".bmp", ".tif"):  # headers written by a real encoder
        copy = tmp_path / f"frame{ext}"
        cv2.imwrite(str(copy), image)
        assert image_header_size(copy) == (480, 360) == image_header_size(copy, data=copy.read_bytes())
    monkeypatch.setenv("CAMVID_VIEWER_MAX_PIXELS", "100000")
    with pytest.raises(DataError, match=r"image claims 480x360 pixels \(0.1728 megapixels\), over the 0.1-megapixel"):
        read_label(label)
    monkeypatch.setenv("CAMVID_VIEWER_MAX_PIXELS", "lots")
    with pytest.raises(DataError, match="CAMVID_VIEWER_MAX_PIXELS='lots': expected a whole number"):
        read_image(frame)


def test_unknown_or_damaged_headers_are_one_line(tmp_path):
    fake = tmp_path / "frame.jpg"
    fake.write_bytes(b"GIF89a" + b"\0" * 40)
    with pytest.raises(DataError, match=r"frame.jpg: not a PNG, JPEG, BMP or TIFF image"):
        read_image(fake)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(b"\xff\xd8\xff\xe0\x00")
    with pytest.raises(DataError, match="cut.jpg: not a PNG, JPEG, BMP or TIFF image, or its header is damaged"):
        image_header_size(cut)


def rewrite_card(src: Path, dst: Path, edit) -> Path:
    """Copy a checkpoint with its card changed by ``edit(card)``; tensors untouched."""
    data = src.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    card = json.loads(header["__metadata__"]["card"])
    edit(card)
    header["__metadata__"]["card"] = json.dumps(card)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    dst.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + size :])
    return dst


def _drop_palette(card):
    del card["palette"]


def _short_classes(card):
    card["classes"] = card["classes"][:-1]


def _void_out_of_range(card):
    card["void_index"] = 12


def _bad_colour(card):
    card["palette"][3] = [128, 300, 128]


def _tiny_working_height(card):
    card["input"]["working_height"] = 8


def _class_count_lie(card):
    card["architecture"]["num_classes"] = 5
    card["classes"], card["palette"], card["void_index"] = card["classes"][:5], card["palette"][:5], None


@pytest.mark.parametrize(
    "edit, message, card_only",
    [
        (_drop_palette, "model card has no 'palette'", True),
        (_short_classes, "model card names 11 classes, the network has 12 outputs", True),
        (_void_out_of_range, r"model card void_index 12 is not one of the classes 0..11 \(or null\)", True),
        (_bad_colour, r"model card palette entry 3 is \[128, 300, 128\], expected 3 whole numbers 0..255", True),
        (_tiny_working_height, "model card input.working_height 8 is not a whole number in 32..4320", True),
        (_class_count_lie, "model card says 5 classes, the network's classifier has 12 outputs", False),
    ],
)
def test_bad_cards_of_a_real_checkpoint_are_refused(tmp_path, edit, message, card_only):
    assert SHIPPED.is_file(), "the shipped model is part of the repository"
    bad = rewrite_card(SHIPPED, tmp_path / "edited.safetensors", edit)
    with pytest.raises(CheckpointError, match=rf"^{bad}: {message}$"):
        load_checkpoint(bad)
    if card_only:  # needs no tensors: read_card refuses it too
        with pytest.raises(CheckpointError, match=message):
            read_card(bad)
    else:
        read_card(bad)  # consistent on its own; only the tensors show the lie


def test_the_shipped_card_is_valid_as_it_is(tmp_path):
    same = rewrite_card(SHIPPED, tmp_path / "same.safetensors", lambda card: None)
    assert load_checkpoint(same).card == read_card(SHIPPED)


class _FullDisk:
    """A file whose writes stop part-way with ENOSPC, as on a full disk."""

    def __init__(self, path, mode):
        self.file = open(path, mode)  # noqa: SIM115

    def write(self, data):
        self.file.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def test_disk_full_while_saving_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    ckpt = load_checkpoint(SHIPPED)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr("model.checkpoint.open", _FullDisk, raising=False)
    with pytest.raises(CheckpointError, match=r"m.safetensors: cannot write the checkpoint \(No space left on device\)$"):
        save_checkpoint(out / "m.safetensors", ckpt.build(), ckpt.card)
    assert list(out.iterdir()) == []


def test_save_refuses_a_card_that_does_not_fit_the_weights(tmp_path):
    ckpt = load_checkpoint(SHIPPED)
    card = dict(ckpt.card, classes=ckpt.card["classes"][:3])
    with pytest.raises(CheckpointError, match="names 3 classes, the network has 12 outputs"):
        save_checkpoint(tmp_path / "m.safetensors", ckpt.build(), card)
    assert list(tmp_path.iterdir()) == []


def test_non_finite_weights_end_training_before_saving():
    import torch

    from model.train import _check_finite

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))
    _check_finite(net, 1)
    net[1].running_var[0] = float("inf")
    with pytest.raises(FloatingPointError, match="weights became NaN or infinite in epoch 2"):
        _check_finite(net, 2)

