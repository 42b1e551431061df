"""Fuzzing the readers with a few hundred damaged copies of a real PNG, a real MP4 and a real checkpoint.

Every mutation (truncation, flipped bytes, a random header, spliced garbage) must end in the
reader's own one-line error type or in a usable result: never another exception, never a hang.
A sample of them also goes through ``predict``, ``export`` and ``eval`` in-process, which must
exit 0 or print exactly one line and exit non-zero.
"""

from __future__ import annotations

import random
import shutil
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
from media_samples import val_frames, write_video
from test_bad_inputs import message_lines, run_main

from camvid_viewer.sources import MediaError, open_source
from model.checkpoint import CheckpointError, load_checkpoint, read_card
from model.data import DataError, read_image, read_label

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "resources" / "models" / "camvid-lite0.safetensors"


class Hang(Exception):
    """A reader took longer than the fuzz budget for one input."""


@contextmanager
def deadline(seconds: float):
    """Raise :class:`Hang` in the main thread if the block runs longer than ``seconds``."""
    def expire(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def mutations(data: bytes, count: int, *, seed: int, header: int = 512):
    """``count`` damaged copies of ``data``: (kind, bytes), reproducible from ``seed``."""
    rng = random.Random(seed)
    for i in range(count):
        kind = ("truncate", "flip", "header", "splice")[i % 4]
        if kind == "truncate":
            out = data[: rng.randrange(0, len(data))]
        elif kind == "flip":
            out = bytearray(data)
            for _ in range(rng.randint(1, 12)):
                # most flips land in the header, where parsers decide sizes and offsets
                at = rng.randrange(0, min(len(out), header)) if rng.random() < 0.7 else rng.randrange(0, len(out))
                out[at] ^= 1 << rng.randrange(8)
            out = bytes(out)
        elif kind == "header":
            n = rng.randint(1, header)
            out = bytes(rng.getrandbits(8) for _ in range(n)) + data[n:]
        else:
            at = rng.randrange(0, len(data))
            out = data[:at] + bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096))) + data[at:]
        yield kind, out


@pytest.fixture(scope="module")
def real_png(camvid_root) -> bytes:
    return sorted((camvid_root / "val").glob("*.png"))[0].read_bytes()


@pytest.fixture(scope="module")
def real_label(camvid_root) -> bytes:
    return sorted((camvid_root / "valannot").glob("*.png"))[0].read_bytes()


@pytest.fixture(scope="module")
def real_mp4(tmp_path_factory, camvid_root) -> bytes:
    path = tmp_path_factory.mktemp("fuzz-mp4") / "clip.mp4"
    return write_video(path, val_frames(camvid_root, 8)).read_bytes()


def test_damaged_pngs_give_data_errors_only(tmp_path, real_png, real_label):
    bad = 0
    for i, (kind, data) in enumerate(mutations(real_png, 120, seed=1)):
        path = tmp_path / f"frame{i}.png"
        path.write_bytes(data)
        with deadline(10):
            try:
                image = read_image(path)
                assert image.ndim == 3 and image.dtype.name == "uint8", kind
            except DataError as exc:
                assert str(path) in str(exc) and "\n" not in str(exc), kind
                bad += 1
    for i, (kind, data) in enumerate(mutations(real_label, 80, seed=2)):
        path = tmp_path / f"label{i}.png"
        path.write_bytes(data)
        with deadline(10):
            try:
                read_label(path)
            except DataError as exc:
                assert "\n" not in str(exc), kind
                bad += 1
    assert bad > 50  # the mutations really damage files


def test_damaged_mp4s_give_media_errors_only(tmp_path, real_mp4):
    refused = 0
    for i, (kind, data) in enumerate(mutations(real_mp4, 100, seed=3, header=2048)):
        path = tmp_path / f"clip{i}.mp4"
        path.write_bytes(data)
        with deadline(20):
            try:
                with open_source(path) as source:
                    for index in range(source.frame_count):
                        try:
                            source.read(index)
                        except MediaError as exc:
                            assert "\n" not in str(exc), kind
                    list(source.frames(0, source.frame_count))
            except MediaError as exc:
                assert str(path) in str(exc) and "\n" not in str(exc), (kind, str(exc))
                refused += 1
        path.unlink()
    assert refused > 20


def test_damaged_checkpoints_give_checkpoint_errors_only(tmp_path):
    data = SHIPPED.read_bytes()
    refused = 0
    for i, (kind, damaged) in enumerate(mutations(data, 60, seed=4, header=4096)):
        path = tmp_path / f"model{i}.safetensors"
        path.write_bytes(damaged)
        with deadline(30):
            try:
                read_card(path)
                load_checkpoint(path).build()
            except CheckpointError as exc:
                assert str(path) in str(exc) and "\n" not in str(exc), (kind, str(exc))
                refused += 1
        path.unlink()
    assert refused > 20


@pytest.fixture
def workspace(tmp_path, camvid_root, monkeypatch) -> Path:
    for sub, src in (("frames", "val"), ("framesannot", "valannot")):
        (tmp_path / sub).mkdir()
        for f in sorted((camvid_root / src).glob("*.png"))[:3]:
            shutil.copy(f, tmp_path / sub / f.name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_damaged_files_through_the_commands(workspace, real_png, real_label, real_mp4, capfd):
    """A sample of mutations through predict, export and eval: exit 0, or one line and non-zero."""
    frame = sorted((workspace / "frames").glob("*.png"))[1]
    label = sorted((workspace / "framesannot").glob("*.png"))[1]
    good_frame, good_label = frame.read_bytes(), label.read_bytes()

    def check(kind: str, argv: list[str]) -> None:
        capfd.readouterr()
        with deadline(240):
            code = run_main(argv)
        out, err = capfd.readouterr()
        assert "Traceback" not in err, (kind, argv, err)
        if code != 0:
            assert len(message_lines(err)) == 1, (kind, argv, err)

    for i, (kind, data) in enumerate(mutations(real_png, 6, seed=5)):
        frame.write_bytes(data)
        check(kind, ["predict", "frames", "-o", f"pred{i}", "--backend", "onnx"])
        check(kind, ["export", "frames", "-o", f"exp{i}.mp4", "--quality", "draft"])
    frame.write_bytes(good_frame)
    for kind, data in mutations(real_label, 4, seed=6):
        label.write_bytes(data)
        check(kind, ["eval", "--images", "frames", "--annotations", "framesannot"])
    label.write_bytes(good_label)
    for i, (kind, data) in enumerate(mutations(real_mp4, 4, seed=7, header=2048)):
        Path(f"clip{i}.mp4").write_bytes(data)
        check(kind, ["predict", f"clip{i}.mp4", "-o", f"vid{i}", "--on-bad-frame", "skip"])
