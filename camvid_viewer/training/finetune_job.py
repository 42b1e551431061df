"""The fine-tune dialog's pure logic (Model > Fine-tune on my labels...): its checks, its default
output file and the before/after table read from the new model's card. No Qt and no torch.

The run is ``main.py train --init MODEL --data FRAMES --annotations LABELS [--replay CAMVID]``
(:mod:`model.finetune`); its card holds ``finetune.held_out_before`` (the parent's scores on the
held-out labelled frames) and ``held_out_metrics`` (the fine-tuned model's, last epoch).
"""

from __future__ import annotations

__all__ = ["MIN_LABELLED", "SUMMARY_ROWS", "BeforeAfter", "LabelCount", "before_after", "build_finetune_request",
           "count_labels", "default_finetune_output"]

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from camvid_viewer.training.job import (
    BACKBONES,
    DEVICES,
    JobInputError,
    TrainRequest,
    _crop,
    _output,
    _rate,
    _whole,
    check_photometric,
    last_checkpoint_path,
    read_checkpoint_card,
)
from model.data import IMAGE_SUFFIXES, DataError, detect_splits, list_images
from model.outputs import OutputError, check_outputs

MIN_LABELLED = 2  # model.finetune.MIN_USER_FRAMES: one frame to learn from, one to score
SUMMARY_ROWS = {"mean_iou": "mean IoU", "pixel_accuracy": "pixel accuracy"}  # metrics key -> the table's row


@dataclass(frozen=True)
class LabelCount:
    """How many frames of a source have a label, and how a run would split them."""

    labelled: int
    held_out: int
    problem: str | None = None  # one line when the labels cannot be used

    def text(self) -> str:
        if self.problem:
            return self.problem
        return (f"{self.labelled} labelled frames: {self.labelled - self.held_out} to learn from, "
                f"{self.held_out} held out to score before and after")


def count_labels(*, data: str | Path, annotations: str | Path, holdout: float = 0.2) -> LabelCount:
    """Count the labels the run pairs with frames (a folder's by file stem, a video's by frame
    index, as :func:`model.finetune.labelled_pairs` does) without decoding any frame."""
    data, annotations = Path(data).expanduser(), Path(annotations).expanduser()
    if not data.exists():
        return LabelCount(0, 0, f"{data}: no such frame folder or video")
    if not annotations.is_dir():
        return LabelCount(0, 0, f"{annotations}: no such annotation folder (save corrected labels in edit mode first)")
    try:
        labels = list_images(annotations)
        if data.is_dir():
            stems = {p.stem for p in list_images(data)}
            count = sum(label.stem in stems for label in labels)
        elif data.suffix.lower() in IMAGE_SUFFIXES:
            return LabelCount(0, 0, f"{data}: expected a frame folder or a video file")
        else:
            count = sum(label.stem.isdigit() for label in labels)
    except (DataError, OSError) as exc:
        return LabelCount(0, 0, str(exc).splitlines()[0])
    held = 0 if holdout <= 0 else max(1, round(count * holdout))
    if count < MIN_LABELLED:
        return LabelCount(count, held, f"{annotations}: {count} labelled frame{'' if count == 1 else 's'} of "
                                       f"{data.name}; fine-tuning needs at least {MIN_LABELLED} (one to learn from, "
                                       "one to score): save corrected labels in edit mode first")
    return LabelCount(count, held)


def default_finetune_output(*, init: str | Path, models_dir: Path, now: datetime | None = None) -> Path:
    """A new file in ``models_dir``: ``<parent>-finetuned-<YYYYmmdd-HHMM>[-N].safetensors``, one
    that exists neither as a model nor as its ``.last`` file."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M")
    base = f"{Path(init).stem.removesuffix('.last')}-finetuned-{stamp}"
    for n in range(1, 1000):
        path = models_dir / f"{base}{'' if n == 1 else f'-{n}'}.safetensors"
        if not path.exists() and not last_checkpoint_path(out=path).exists():
            return path
    raise JobInputError(f"{models_dir}: too many fine-tuned models named {base}; choose an output file")


def build_finetune_request(
    *, init: str, data: str, annotations: str, replay: str, out: str, epochs: str, batch_size: str, lr: str,
    crop: str, augment: bool, device: str, holdout: str, max_steps_per_epoch: int | None = None,
    photometric: str | None = None,
) -> TrainRequest:
    """Check the fine-tune form; raise :class:`JobInputError` with one clear line."""
    check_photometric(photometric)
    if not init.strip():
        raise JobInputError("Start from: choose the model to fine-tune (a .safetensors checkpoint)")
    init_path = Path(init.strip()).expanduser()
    if init_path.suffix.lower() == ".onnx":
        raise JobInputError(f"{init_path}: an ONNX model has no weights this program can train; start from a "
                            ".safetensors checkpoint (the shipped model, or one you trained)")
    try:
        arch = read_checkpoint_card(path=init_path).get("architecture") or {}
    except ValueError as exc:
        raise JobInputError(str(exc)) from None
    if arch.get("backbone") not in BACKBONES:
        raise JobInputError(f"{init_path}: holds a {arch.get('backbone')!r} network, which this program cannot train")
    if not data.strip() or not annotations.strip():
        raise JobInputError("Frames and Labels: choose the frame folder or video and its annotation folder")
    share = _share(holdout)
    count = count_labels(data=data.strip(), annotations=annotations.strip(), holdout=share)
    if count.problem:
        raise JobInputError(count.problem)
    replay_path = Path(replay.strip()).expanduser() if replay.strip() else None
    if replay_path is not None and not any(s.name == "train" for s in _splits(replay_path)):
        raise JobInputError(f"{replay_path}: no train split to replay (expected train/ + trainannot/); clear the field for none")
    if device not in DEVICES:
        raise JobInputError(f"Device: unknown {device!r} (auto, cpu, cuda)")
    request = TrainRequest(
        data=Path(data.strip()).expanduser(), out=_output(out), backbone=arch["backbone"],
        epochs=_whole(epochs, "Epochs", 1, 10_000), batch_size=_whole(batch_size, "Batch size", 1, 1024),
        lr=_rate(lr), crop=_crop(crop), augment=augment, device=device, head=str(arch.get("head", "conv")),
        head_width=int(arch.get("head_width", 96)), max_steps_per_epoch=max_steps_per_epoch,
        init=init_path, annotations=Path(annotations.strip()).expanduser(), replay=replay_path, holdout=share,
        photometric=photometric,
    )
    _check_new_output(request)
    return request


def _share(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise JobInputError(f"Hold out: expected a share such as 0.2, got {text.strip()!r}") from None
    if not 0 <= value <= 0.9:
        raise JobInputError(f"Hold out: expected a share from 0 to 0.9, got {text.strip()}")
    return value


def _splits(root: Path) -> list:
    try:
        return detect_splits(root)
    except DataError as exc:
        raise JobInputError(str(exc).splitlines()[0]) from None


def _check_new_output(request: TrainRequest) -> None:
    """The new model may not touch an input, nor replace a file the user has."""
    last = last_checkpoint_path(out=request.out)
    try:
        check_outputs(inputs={"Frames": request.data, "Labels": request.annotations, "Start from": request.init,
                              "Replay": request.replay}, outputs={"Output file": request.out, "its .last file": last})
    except OutputError as exc:
        raise JobInputError(str(exc)) from None
    for path in (request.out, last):
        if path.exists():
            raise JobInputError(f"{path}: already exists; choose a new output file (a fine-tune never replaces a model)")


@dataclass(frozen=True)
class BeforeAfter:
    """The parent's and the fine-tuned model's scores on the same held-out labelled frames."""

    frames: int
    parent: str
    rows: tuple[tuple[str, float | None, float | None], ...]  # the means, then (class, IoU before, IoU after)


def before_after(*, card: dict) -> BeforeAfter | None:
    """Per-class IoU before and after, plus mean IoU and pixel accuracy, from a fine-tuned model's
    card; ``None`` when it holds no held-out scores (a run with ``--holdout 0``, or not a fine-tune)."""
    tuned = card.get("finetune") if isinstance(card.get("finetune"), dict) else None
    before, after = (tuned or {}).get("held_out_before"), card.get("held_out_metrics")
    if not isinstance(before, dict) or not isinstance(after, dict):
        return None

    def iou(metrics: dict, name: str) -> float | None:
        value = ((metrics.get("per_class") or {}).get(name) or {}).get("iou")
        return float(value) if isinstance(value, (int, float)) else None

    rows = [(title, before.get(key), after.get(key)) for key, title in SUMMARY_ROWS.items()]  # the headline first
    names = list(dict.fromkeys([*(after.get("per_class") or {}), *(before.get("per_class") or {})]))
    rows += [(name, iou(before, name), iou(after, name)) for name in names]
    parent = ((tuned or {}).get("parent") or {}).get("name") or "the parent model"
    return BeforeAfter(int(after.get("frames") or tuned.get("held_out_frames") or 0), str(parent), tuple(rows))
