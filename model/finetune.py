"""Fine-tuning a model on a user's own corrected frames: ``train --init MODEL --data ... --replay DIR``.

A few corrected frames of the user's footage teach the model that road; CamVid frames replayed
beside them keep it from forgetting the rest. Each epoch shows the user's frames about as often
as the replayed ones, and part of the user's frames is held out to score the model before and
after. Frames of any size are resized to the model's working height first, so the model learns
them at the scale it will see them at.
"""

from __future__ import annotations

__all__ = ["FinetuneData", "finetune_data", "labelled_pairs", "parent_record"]

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2

from model.data import (
    IMAGE_SUFFIXES,
    CamVidDataset,
    DataError,
    detect_splits,
    list_images,
    pair_by_stem,
)
from model.drives import parse_drive_split, split_by_drive

MIN_USER_FRAMES = 2  # one to learn from and one to score
REPLAY_FRAMES = 160  # replayed frames at most, spread over the replay set: an epoch stays about a minute


@dataclass
class FinetuneData:
    """What a fine-tuning run trains on and scores on."""

    train: CamVidDataset  # the user's frames (repeated) and the replayed ones
    held_out: CamVidDataset | None  # the user's frames it never trains on (none with a holdout of 0)
    user_frames: int
    repeat: int  # each user frame appears this many times per epoch
    replay_frames: int


def labelled_pairs(data: str | Path, annotations: str | Path, *, workdir: Path) -> list[tuple[Path, Path]]:
    """(frame, label) pairs for every label in ``annotations``: frames of a folder by file stem, or
    frames of a video by index (labels named ``000120.png``, as the window saves them), decoded
    into ``workdir``. Frames without a label are not an error: the user labels a few."""
    data, annotations = Path(data), Path(annotations)
    labels = list_images(annotations)
    if not labels:
        raise DataError(f"{annotations}: no label PNGs in this folder")
    if data.is_dir():
        frames = {p.stem: p for p in list_images(data)}
        pairs = [(frames[label.stem], label) for label in labels if label.stem in frames]
        if not pairs:
            raise DataError(f"{annotations}: no label matches a frame of {data} by file name")
        return pairs
    if not data.exists():
        raise DataError(f"{data}: no such frame folder or video")
    if data.suffix.lower() in IMAGE_SUFFIXES or not data.is_file():
        raise DataError(f"{data}: expected a frame folder or a video file")
    return _video_pairs(data, labels, workdir)


def _video_pairs(video: Path, labels: list[Path], workdir: Path) -> list[tuple[Path, Path]]:
    indexed = {int(p.stem): p for p in labels if p.stem.isdigit()}
    if not indexed:
        raise DataError(f"{labels[0].parent}: no label is named by a frame index (e.g. 000120.png) for the video {video.name}")
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise DataError(f"{video}: cannot be opened as a video")
    pairs, index = [], 0
    try:
        wanted = sorted(indexed)
        while wanted and index <= wanted[-1]:
            ok, frame = capture.read()
            if not ok:
                break
            if index in indexed:
                path = workdir / f"{index:06d}.png"
                cv2.imwrite(str(path), frame)
                pairs.append((path, indexed[index]))
            index += 1
    finally:
        capture.release()
    if len(pairs) < len(indexed):
        missing = sorted(set(indexed) - {int(p[0].stem) for p in pairs})
        raise DataError(f"{indexed[missing[0]]}: names frame {missing[0]}, but {video.name} has {index} frames")
    return pairs


def finetune_data(cfg, transform, working_height: int) -> FinetuneData:
    """The user's labelled frames split into training and held-out ones, plus the replayed frames."""
    with tempfile.TemporaryDirectory(prefix="camvid-finetune-") as tmp:
        pairs = labelled_pairs(cfg.data, cfg.annotations, workdir=Path(tmp))
        if len(pairs) < MIN_USER_FRAMES:
            raise DataError(f"{cfg.annotations}: {len(pairs)} labelled frame; fine-tuning needs at least "
                            f"{MIN_USER_FRAMES} (one to learn from, one to score)")
        train_pairs, held_pairs = _hold_out(pairs, cfg)
        user = _at_height(CamVidDataset(train_pairs, skip_bad=cfg.skip_bad), working_height)
        held = _at_height(CamVidDataset(held_pairs, skip_bad=cfg.skip_bad), working_height) if held_pairs else None
    replay = _replay(cfg.replay, cfg.skip_bad, working_height)
    replay_images = replay.images if replay is not None else []
    repeat = max(1, math.ceil(len(replay_images) / len(user.images))) if replay_images else 1
    train = CamVidDataset.__new__(CamVidDataset)
    train.__dict__.update(user.__dict__)
    train.paths = user.paths * repeat + (replay.paths if replay is not None else [])
    train.images = user.images * repeat + replay_images
    train.labels = user.labels * repeat + (replay.labels if replay is not None else [])
    train.transform, train.seed = transform, cfg.seed
    return FinetuneData(train=train, held_out=held, user_frames=len(user.images), repeat=repeat,
                        replay_frames=len(replay_images))


def _hold_out(pairs: list, cfg) -> tuple[list, list]:
    """A drive split when asked for (``drive:NAME``), else every k-th frame of the user's: about
    ``cfg.holdout`` of them (at least one; none with a holdout of 0), spread over the footage."""
    drives = parse_drive_split(cfg.val_split) if cfg.val_split else None
    if drives:
        return split_by_drive(pairs, drives, source=cfg.annotations)
    if cfg.holdout <= 0:
        return pairs, []
    held_count = max(1, round(len(pairs) * cfg.holdout))
    step = len(pairs) / held_count
    held_at = {min(len(pairs) - 1, int(step * i + step / 2)) for i in range(held_count)}
    return [p for i, p in enumerate(pairs) if i not in held_at], [p for i, p in enumerate(pairs) if i in held_at]


def _replay(root, skip_bad: bool, working_height: int) -> CamVidDataset | None:
    if root is None:
        return None
    split = next((s for s in detect_splits(root) if s.name == "train"), None)
    if split is None:
        raise DataError(f"{root}: no train split to replay (expected train/ + trainannot/)")
    pairs = pair_by_stem(split.images, split.annotations, skip_bad=skip_bad)
    pairs = pairs[:: max(1, math.ceil(len(pairs) / REPLAY_FRAMES))]
    return _at_height(CamVidDataset(pairs, skip_bad=skip_bad), working_height)


def _at_height(dataset: CamVidDataset, height: int) -> CamVidDataset:
    """Frames (and labels) resized to ``height``, aspect kept: the scale the model infers at."""
    for i, (image, label) in enumerate(zip(dataset.images, dataset.labels, strict=True)):
        if image.shape[0] != height:
            width = max(8, round(image.shape[1] * height / image.shape[0]))
            dataset.images[i] = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
            dataset.labels[i] = cv2.resize(label, (width, height), interpolation=cv2.INTER_NEAREST)
    return dataset


def parent_record(path: str | Path, card: dict) -> dict:
    """The card's note of the model a fine-tuned one started from."""
    from model.checkpoint import file_sha256

    return {"name": card.get("name") or Path(path).stem, "file": Path(path).name, "sha256": file_sha256(path),
            "held_out_metrics": card.get("held_out_metrics"), "val_metrics": card.get("val_metrics")}
