"""Bad inputs and faults against every headless command: one line, non-zero exit, nothing touched.

Each case runs ``main.py`` in-process inside a fresh workspace of real CamVid frames, their
annotations, a real H.264 clip made from them and a copy of the shipped model, and asserts:
a non-zero exit, exactly one message line on stderr, no traceback, no temp, partial or lock
file left, and every file that was there before byte-identical (nothing added or removed).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from media_samples import val_frames, write_video

from main import main

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "resources" / "models" / "camvid-lite0.safetensors"


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid-looking PNG of a few hundred bytes whose header claims ``width`` x ``height``."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def base(tmp_path_factory, camvid_root) -> Path:
    """The workspace every case copies: frames/ + framesannot/ (6 real val frames), clip.mp4, model."""
    ws = tmp_path_factory.mktemp("bad-inputs-base")
    files = sorted((camvid_root / "val").glob("*.png"))[:6]
    for sub, src in (("frames", "val"), ("framesannot", "valannot")):
        (ws / sub).mkdir()
        for f in files:
            shutil.copy(camvid_root / src / f.name, ws / sub / f.name)
    write_video(ws / "clip.mp4", val_frames(camvid_root, 6))
    shutil.copy(SHIPPED, ws / "model.safetensors")
    (ws / "notes.txt").write_text("not a video\n")
    (ws / "fake.mp4").write_text("this is text, not a video\n")
    (ws / "half.mp4").write_bytes((ws / "clip.mp4").read_bytes()[: (ws / "clip.mp4").stat().st_size // 2])
    (ws / "trunc.safetensors").write_bytes(SHIPPED.read_bytes()[:4096])
    (ws / "bomb.png").write_bytes(bomb_png())
    (ws / "existing.mp4").write_bytes(b"the user's earlier export")
    for split, names in (("train", files[:4]), ("val", files[4:])):  # a tiny SegNet-layout dataset
        for sub, src in ((split, "val"), (f"{split}annot", "valannot")):
            (ws / "ds" / sub).mkdir(parents=True, exist_ok=True)
            for f in names:
                shutil.copy(camvid_root / src / f.name, ws / "ds" / sub / f.name)
    (ws / "outdir").mkdir()
    (ws / "outdir" / "keep.txt").write_text("the user's file")
    return ws


@pytest.fixture
def ws(base, tmp_path, monkeypatch) -> Path:
    work = tmp_path / "ws"
    shutil.copytree(base, work, symlinks=True)
    monkeypatch.chdir(work)
    return work


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (hidden ones included) -> content hash ("dir"/"link" for others)."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(folder))
            if p.is_symlink():
                state[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                state[rel] = "dir"
            else:
                state[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return state


def message_lines(stderr: str) -> list[str]:
    """What a terminal shows: text after the last carriage return of each line, blanks dropped."""
    return [line.rsplit("\r", 1)[-1].strip() for line in stderr.split("\n") if line.rsplit("\r", 1)[-1].strip()]


def run_main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse errors exit 2 after one line
        return exc.code if isinstance(exc.code, int) else 1


# -- setups: each makes one bad thing inside the workspace before the snapshot ---------------

def truncate_frame(ws: Path) -> None:
    second = sorted((ws / "frames").glob("*.png"))[1]
    second.write_bytes(second.read_bytes()[:3000])


def bomb_frame(ws: Path) -> None:
    (ws / "frames" / sorted(p.name for p in (ws / "frames").glob("*.png"))[1]).write_bytes(bomb_png())


def bomb_annotation(ws: Path) -> None:
    (ws / "framesannot" / sorted(p.name for p in (ws / "framesannot").glob("*.png"))[0]).write_bytes(bomb_png())


def all_frames_broken(ws: Path) -> None:
    for f in (ws / "frames").glob("*.png"):
        f.write_bytes(b"\x89PNG\r\n\x1a\n broken")


def link_to_frames(ws: Path) -> None:
    (ws / "alias").symlink_to(ws / "frames", target_is_directory=True)


def live_lock(ws: Path) -> None:
    # pid 1 is always alive: another run is writing "busy"
    (ws / ".busy.lock").write_text("1")
    (ws / ".busy.mp4.lock").write_text("1")


def small_annotations(ws: Path) -> None:
    import cv2

    first = sorted((ws / "framesannot").glob("*.png"))[0]
    label = cv2.imread(str(first), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(first), cv2.resize(label, (64, 48), interpolation=cv2.INTER_NEAREST))


def empty_folder(ws: Path) -> None:
    (ws / "empty").mkdir()


def unrelated_annotations(ws: Path) -> None:
    (ws / "otherannot").mkdir()
    shutil.copy(sorted((ws / "framesannot").glob("*.png"))[0], ws / "otherannot" / "no_such_frame.png")


def bomb_train_annotation(ws: Path) -> None:
    (ws / "ds" / "trainannot" / sorted(p.name for p in (ws / "ds" / "trainannot").glob("*.png"))[0]).write_bytes(bomb_png())


EXPORT = ["export"]
PREDICT = ["predict"]
EVAL = ["eval"]
TRAIN = ["train", "--epochs", "1", "--max-steps-per-epoch", "1", "--crop", "64x96", "--batch-size", "2"]

# (id, argv, setup) -- at least 60 kinds of bad input or fault
CASES = [
    # outputs that would destroy inputs, collide, or are in use
    ("predict-out-is-input", PREDICT + ["frames", "-o", "frames", "--overwrite"], None),
    ("predict-out-is-parent-of-input", PREDICT + ["frames", "-o", ".", "--overwrite"], None),
    ("predict-out-inside-input", PREDICT + ["frames", "-o", "frames/pred"], None),
    ("predict-out-is-annotations", PREDICT + ["frames", "-o", "framesannot", "--overwrite"], None),
    ("predict-out-via-symlink", PREDICT + ["alias", "-o", "frames", "--overwrite"], link_to_frames),
    ("predict-out-is-model", PREDICT + ["frames", "-o", "model.safetensors", "--model", "model.safetensors", "--overwrite"], None),
    ("predict-out-exists", PREDICT + ["frames", "-o", "outdir"], None),
    ("predict-out-is-file", PREDICT + ["frames", "-o", "notes.txt", "--overwrite"], None),
    ("predict-out-locked", PREDICT + ["frames", "-o", "busy"], live_lock),
    ("predict-out-is-video-input", PREDICT + ["clip.mp4", "-o", "clip.mp4", "--overwrite"], None),
    ("export-out-is-a-hard-link-to-the-input", EXPORT + ["clip.mp4", "-o", "linked.mp4", "--overwrite"],
     lambda ws: os.link(ws / "clip.mp4", ws / "linked.mp4")),
    ("export-out-inside-input", EXPORT + ["frames", "-o", "frames/overlay.mp4"], None),
    ("export-out-is-input-video", EXPORT + ["clip.mp4", "-o", "clip.mp4", "--overwrite"], None),
    ("export-csv-is-output", EXPORT + ["frames", "-o", "o.mp4", "--metrics-csv", "o.mp4"], None),
    ("export-csv-is-input-video", EXPORT + ["clip.mp4", "-o", "o.mp4", "--metrics-csv", "clip.mp4", "--overwrite"], None),
    ("export-csv-inside-input", EXPORT + ["frames", "-o", "o.mp4", "--metrics-csv", "frames/m.csv"], None),
    ("export-masks-is-input", EXPORT + ["frames", "-o", "o.mp4", "--masks", "frames", "--overwrite"], None),
    ("export-masks-is-parent", EXPORT + ["frames", "-o", "o.mp4", "--masks", ".", "--overwrite"], None),
    ("export-masks-is-annotations", EXPORT + ["frames", "-o", "o.mp4", "--masks", "framesannot", "--overwrite"], None),
    ("export-masks-holds-video", EXPORT + ["frames", "-o", "outdir/o.mp4", "--masks", "outdir"], None),
    ("export-out-is-model", EXPORT + ["frames", "-o", "m.mp4", "--model", "m.mp4", "--overwrite"],
     lambda ws: shutil.copy(ws / "model.safetensors", ws / "m.mp4")),
    ("export-out-exists", EXPORT + ["frames", "-o", "existing.mp4"], None),
    ("export-out-locked", EXPORT + ["frames", "-o", "busy.mp4"], live_lock),
    ("export-out-not-mp4", EXPORT + ["frames", "-o", "o.avi"], None),
    ("export-two-inputs-one-name", EXPORT + ["frames", "other/frames", "-o", "outdir"],
     lambda ws: shutil.copytree(ws / "frames", ws / "other" / "frames")),
    ("export-two-inputs-out-is-file", EXPORT + ["frames", "clip.mp4", "-o", "notes.txt"], None),
    ("export-first-output-inside-second-input", EXPORT + ["frames", "shots", "-o", "shots"],
     lambda ws: shutil.copytree(ws / "frames", ws / "shots")),
    # bad sources
    ("predict-missing-input", PREDICT + ["nowhere", "-o", "p"], None),
    ("predict-empty-folder", PREDICT + ["empty", "-o", "p"], empty_folder),
    ("predict-text-as-video", PREDICT + ["fake.mp4", "-o", "p"], None),
    ("predict-half-written-mp4", PREDICT + ["half.mp4", "-o", "p"], None),
    ("predict-truncated-frame", PREDICT + ["frames", "-o", "p"], truncate_frame),
    ("predict-all-frames-broken-skip", PREDICT + ["frames", "-o", "p", "--on-bad-frame", "skip"], all_frames_broken),
    ("predict-bomb-frame", PREDICT + ["frames", "-o", "p"], bomb_frame),
    ("predict-bomb-file", PREDICT + ["bomb.png", "-o", "p"], None),
    ("predict-video-over-pixel-limit", PREDICT + ["clip.mp4", "-o", "p"], None),
    ("predict-pixel-limit-garbage", PREDICT + ["frames", "-o", "p"], None),
    ("export-missing-input", EXPORT + ["nowhere.mp4", "-o", "o.mp4"], None),
    ("export-text-as-video", EXPORT + ["fake.mp4", "-o", "o.mp4"], None),
    ("export-truncated-frame", EXPORT + ["frames", "-o", "o.mp4"], truncate_frame),
    ("export-bomb-frame", EXPORT + ["frames", "-o", "o.mp4"], bomb_frame),
    ("export-bomb-annotation", EXPORT + ["frames", "-o", "o.mp4", "--metrics-csv", "m.csv"], bomb_annotation),
    ("export-live-stream", EXPORT + ["rtsp://127.0.0.1:9/none", "-o", "o.mp4"], None),
    ("export-annotations-missing", EXPORT + ["frames", "-o", "o.mp4", "--annotations", "nowhere"], None),
    ("export-annotations-match-nothing", EXPORT + ["frames", "-o", "o.mp4", "--annotations", "otherannot"], unrelated_annotations),
    ("export-annotation-wrong-size", EXPORT + ["frames", "-o", "o.mp4", "--metrics-csv", "m.csv"], small_annotations),
    # bad options
    ("predict-bad-on-bad-frame", PREDICT + ["frames", "-o", "p", "--on-bad-frame", "ignore"], None),
    ("predict-bad-backend", PREDICT + ["frames", "-o", "p", "--backend", "tensorrt"], None),
    ("export-range-garbage", EXPORT + ["frames", "-o", "o.mp4", "--range", "a:b"], None),
    ("export-range-past-end", EXPORT + ["frames", "-o", "o.mp4", "--range", "50:60"], None),
    ("export-range-backwards", EXPORT + ["frames", "-o", "o.mp4", "--range", "4:2"], None),
    ("export-opacity-too-big", EXPORT + ["frames", "-o", "o.mp4", "--opacity", "2"], None),
    ("export-opacity-nan", EXPORT + ["frames", "-o", "o.mp4", "--opacity", "nan"], None),
    ("export-fps-zero", EXPORT + ["frames", "-o", "o.mp4", "--fps", "0"], None),
    ("export-fps-for-video", EXPORT + ["clip.mp4", "-o", "o.mp4", "--fps", "10"], None),
    ("export-bad-view", EXPORT + ["frames", "-o", "o.mp4", "--view", "sideways"], None),
    ("export-bad-quality", EXPORT + ["frames", "-o", "o.mp4", "--quality", "best"], None),
    ("bench-bad-size", ["bench", "--size", "big"], None),
    ("bench-bad-backend", ["bench", "--backend", "tpu"], None),
    # bad models
    ("predict-model-missing", PREDICT + ["frames", "-o", "p", "--model", "nowhere.safetensors"], None),
    ("predict-model-is-text", PREDICT + ["frames", "-o", "p", "--model", "notes.txt"], None),
    ("predict-model-truncated", PREDICT + ["frames", "-o", "p", "--model", "trunc.safetensors"], None),
    ("export-model-truncated", EXPORT + ["frames", "-o", "o.mp4", "--model", "trunc.safetensors"], None),
    ("eval-model-is-video", EVAL + ["--images", "frames", "--annotations", "framesannot", "--model", "clip.mp4"], None),
    ("bench-model-missing", ["bench", "--model", "nowhere.safetensors"], None),
    # eval
    ("eval-images-missing", EVAL + ["--images", "nowhere", "--annotations", "framesannot"], None),
    ("eval-annotations-missing", EVAL + ["--images", "frames", "--annotations", "nowhere"], None),
    ("eval-no-pairs", EVAL + ["--images", "frames", "--annotations", "otherannot"], unrelated_annotations),
    ("eval-predictions-missing", EVAL + ["--images", "frames", "--annotations", "framesannot", "--predictions", "nowhere"], None),
    ("eval-annotation-wrong-size", EVAL + ["--images", "frames", "--annotations", "framesannot"], small_annotations),
    ("eval-bomb-annotation", EVAL + ["--images", "frames", "--annotations", "framesannot"], bomb_annotation),
    ("eval-truncated-frame", EVAL + ["--images", "frames", "--annotations", "framesannot"], truncate_frame),
    # train
    ("train-data-missing", TRAIN + ["--data", "nowhere", "--out", "m.safetensors"], None),
    ("train-epochs-zero", ["train", "--data", ".", "--epochs", "0", "--out", "m.safetensors"], None),
    ("train-lr-negative", ["train", "--data", ".", "--lr", "-1", "--out", "m.safetensors"], None),
    ("train-weight-decay-nan", ["train", "--data", ".", "--weight-decay", "nan", "--out", "m.safetensors"], None),
    ("train-crop-garbage", ["train", "--data", ".", "--crop", "5", "--out", "m.safetensors"], None),
    ("train-working-height-5", ["train", "--data", ".", "--working-height", "5", "--out", "m.safetensors"], None),
    ("train-batch-size-zero", ["train", "--data", ".", "--batch-size", "0", "--out", "m.safetensors"], None),
    ("train-bad-backbone", ["train", "--data", ".", "--backbone", "resnet9000", "--out", "m.safetensors"], None),
    ("train-resume-missing", TRAIN + ["--data", "ds", "--resume", "nowhere.last.safetensors", "--out", "m.safetensors"], None),
    ("train-resume-is-text", TRAIN + ["--data", "ds", "--resume", "notes.txt", "--out", "m.safetensors"], None),
    ("train-out-is-folder", TRAIN + ["--data", "ds", "--out", "outdir"], None),
    ("train-out-inside-data", TRAIN + ["--data", "ds", "--out", "ds/train/m.safetensors"], None),
    ("train-out-is-a-frame", TRAIN + ["--data", "ds", "--out", "ds/val/0016E5_07969.png"], None),
    ("train-out-exists", TRAIN + ["--data", "ds", "--out", "model.safetensors"], None),
    ("train-val-split-typo", TRAIN + ["--data", "ds", "--val-split", "vall", "--out", "m.safetensors"], None),
    ("train-train-split-typo", TRAIN + ["--data", "ds", "--train-splits", "train,tset", "--out", "m.safetensors"], None),
    ("train-annotations-missing", TRAIN + ["--data", "frames", "--annotations", "nowhere", "--out", "m.safetensors"], None),
    ("train-bomb-annotation", TRAIN + ["--data", "ds", "--out", "m.safetensors"], "bomb_train_annotation"),
    # the environment
    ("predict-cache-unusable-and-model-missing", PREDICT + ["frames", "-o", "p", "--model", "nowhere.safetensors"], None),
    ("download-dest-is-file", ["download-camvid", "--dest", "notes.txt", "--url", "file:///nowhere.zip"], None),
    ("download-url-missing", ["download-camvid", "--dest", "camvid-new", "--url", "file:///nowhere/at/all.zip"], None),
]


#: Environment variables a case runs under (the workspace path is filled in for {ws}).
ENV = {
    "predict-video-over-pixel-limit": {"CAMVID_VIEWER_MAX_PIXELS": "1000"},
    "predict-pixel-limit-garbage": {"CAMVID_VIEWER_MAX_PIXELS": "lots"},
    "predict-cache-unusable-and-model-missing": {"CAMVID_VIEWER_CACHE": "{ws}/notes.txt/cache"},
}


def test_there_are_at_least_sixty_kinds():
    assert len({c[0] for c in CASES}) == len(CASES) >= 60


def _resolved(case):
    cid, argv, setup = case
    if isinstance(setup, str):
        setup = globals()[setup]
    return pytest.param(argv, setup, ENV.get(cid, {}), id=cid)


@pytest.mark.parametrize(("argv", "setup", "env"), [_resolved(c) for c in CASES])
def test_bad_input_is_refused_cleanly(ws, argv, setup, env, capfd, monkeypatch):
    if setup is not None:
        setup(ws)
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(ws=ws))
    capfd.readouterr()
    before = snapshot(ws)
    code = run_main(list(argv))
    out, err = capfd.readouterr()
    assert code != 0, f"exit 0 for {argv}; stderr: {err}"
    assert "Traceback" not in err and "Traceback" not in out, err
    lines = message_lines(err)
    assert len(lines) == 1, f"expected one message line, got {len(lines)}:\n{err}"
    after = snapshot(ws)
    assert after == before, f"files changed: added {sorted(set(after) - set(before))}, " \
                            f"removed {sorted(set(before) - set(after))}, " \
                            f"changed {sorted(k for k in before if k in after and before[k] != after[k])}"
