"""Training: ``TrainConfig`` -> best-on-val FCN-8 checkpoint, single process or under torchrun.

Usage:
    python main.py train --data ../shared/camvid --epochs 40 --out runs/lite0.safetensors
    torchrun --nproc_per_node 2 main.py train --data ../shared/camvid --epochs 2
"""

from __future__ import annotations

__all__ = ["TrainConfig", "train_one_epoch", "evaluate", "main", "lr_at", "class_weights_from", "no_layout_error"]

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from model.checkpoint import (
    check_card,
    load_checkpoint,
    read_card,
    save_checkpoint,
)
from model.classes import CLASS_NAMES, NUM_CLASSES, PALETTE_RGB, VOID_INDEX
from model.data import CamVidDataset, DataError, TrainTransform, detect_splits, pair_by_stem
from model.drives import parse_drive_split, split_by_drive
from model.finetune import finetune_data
from model.losses import distillation_loss, segmentation_loss
from model.metrics import ConfusionMatrix
from model.networks import Architecture, build_model
from model.progress import ProgressReporter
from model.run_records import drives_record, finetune_record, same_drive_val
from model.train_setup import (
    init_distributed,
    load_teacher,
    make_optimizer,
    resume_state,
    weight_average,
)

#: what the datasets normalise frames with (``model.data``'s default), recorded in every card
INPUT_MEAN = INPUT_STD = (0.5, 0.5, 0.5)


@dataclass
class TrainConfig:
    """One training run; every field has a command-line flag of the same name."""

    data: str = ""  # dataset root (SegNet layout, origin layout) or an images folder
    annotations: str | None = None  # annotation folder when ``data`` is a plain images folder
    out: str = "runs/model.safetensors"  # best checkpoint; the last epoch goes to <out>.last.safetensors
    backbone: str = "efficientnet-lite0"  # efficientnet-lite0/1/2 or vgg16
    head: str = "conv"  # conv (small conv stacks) or plain (1x1 score layers)
    head_width: int = 96  # channels of the conv head
    pretrained: bool = True  # ImageNet start for EfficientNet-Lite backbones
    backbone_weights: str | None = None  # torchvision-format VGG-16 weights file
    epochs: int = 40  # passes over the training frames
    batch_size: int = 8  # frames per step (per process under torchrun)
    lr: float = 1e-3  # peak learning rate
    weight_decay: float = 1e-4  # decoupled (AdamW) or L2 (SGD) weight decay
    optimizer: str = "adamw"  # adamw or sgd
    schedule: str = "cosine"  # cosine (linear warm-up + cosine) or onecycle
    warmup_epochs: float = 1.0  # warm-up length for the cosine schedule
    crop: tuple[int, int] = (288, 384)  # training crop, height x width
    scale: tuple[float, float] = (0.75, 1.5)  # scale jitter range
    augment: bool = True  # scale jitter, crop, flip and colour jitter; off = centre crops
    photometric: str = "strong"  # strong: colour jitter + gamma, white balance, hue, blur, noise; or basic jitter only
    class_weighting: str = "sqrt"  # none, sqrt (sqrt of median-frequency) or median (median-frequency)
    loss: str = "ce"  # ce, ohem (hard pixels only) or lovasz (ce + Lovasz-softmax); see model/losses.py
    ema: float | None = None  # decay of a moving average of the weights, evaluated and kept instead (restarts at a resume)
    teacher: str | None = None  # a checkpoint of the same classes (a larger network) whose softened predictions are a second target
    distill_weight: float = 1.0  # weight of that distillation term beside the loss (model/losses.py)
    train_splits: tuple[str, ...] = ("train",)  # splits trained on
    val_split: str | None = "val"  # split used to pick the best epoch; drive:NAME[,NAME] holds drives out; None for none
    working_height: int = 360  # frame height inference resizes to (stored in the card)
    seed: int = 0  # seeds weights, order and augmentation
    device: str = "auto"  # auto, cpu or cuda
    workers: int = 0  # DataLoader worker processes
    resume: str | None = None  # a <out>.last checkpoint to continue from
    skip_bad: bool = False  # count bad frames instead of stopping
    max_steps_per_epoch: int | None = None  # cut epochs short (tests, smoke runs)
    int8: bool = True  # at the end, calibrate the best checkpoint for int8 and check it (not with max_steps_per_epoch)
    progress: str = "text"  # text (tqdm) or json (one object per line)
    extra: dict = field(default_factory=dict)  # free-form notes copied into the card
    command: str | None = None  # the command line that started the run, recorded in the card
    init: str | None = None  # fine-tune: start from this checkpoint, on the labelled frames of data + annotations
    replay: str | None = None  # fine-tune: a CamVid root whose train frames are replayed beside the user's
    holdout: float = 0.2  # fine-tune: share of the user's labelled frames held out to score (at least one)

    @property
    def architecture(self) -> Architecture:
        return Architecture(backbone=self.backbone, head=self.head, head_width=self.head_width, num_classes=NUM_CLASSES)

    @property
    def last_path(self) -> Path:
        out = Path(self.out)
        return out.with_name(out.name.removesuffix(".safetensors") + ".last.safetensors")


def lr_at(step: int, total: int, cfg: TrainConfig, steps_per_epoch: int) -> float:
    """Learning rate at ``step`` of ``total`` for the configured schedule."""
    if cfg.schedule == "onecycle":
        peak = max(1, int(0.3 * total))
        if step < peak:
            return cfg.lr * (0.04 + 0.96 * step / peak)
        t = (step - peak) / max(1, total - peak)
        return cfg.lr * (1e-4 + (1 - 1e-4) * 0.5 * (1 + math.cos(math.pi * t)))
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def class_weights_from(labels: list[np.ndarray], mode: str) -> torch.Tensor | None:
    """Median-frequency weights (or their square root) from training label maps; void gets 0."""
    if mode == "none":
        return None
    counts = np.zeros(NUM_CLASSES, np.float64)
    for label in labels:
        counts += np.bincount(label.reshape(-1), minlength=NUM_CLASSES)[:NUM_CLASSES]
    counts[VOID_INDEX] = 0
    freq = counts / counts.sum()
    present = freq > 0
    weights = np.zeros(NUM_CLASSES)
    weights[present] = np.median(freq[present]) / freq[present]
    if mode == "sqrt":
        weights = np.sqrt(weights)
    elif mode != "median":
        raise ValueError(f"unknown class weighting {mode!r} (none, sqrt, median)")
    return torch.tensor(weights, dtype=torch.float32)


def _mixed_precision(device):
    """bfloat16 autocast on CUDA (training, the teacher, evaluation alike); plain float32 on the CPU."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def train_one_epoch(model, loader, optimizer, cfg, *, epoch, step0, total_steps, weights, device, report,
                    average=None, teacher=None) -> tuple[int, float]:
    """One pass over ``loader``; returns the next global step and the mean loss. ``average``: a
    weight average (``train_setup.weight_average``) updated after every step; ``teacher``: a
    frozen network distilled from (``cfg.distill_weight``)."""
    model.train()
    losses = []
    for i, (images, labels) in enumerate(loader):
        if cfg.max_steps_per_epoch is not None and i >= cfg.max_steps_per_epoch:
            break
        step = step0 + i
        lr = lr_at(step, total_steps, cfg, len(loader))
        for group in optimizer.param_groups:
            group["lr"] = lr
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with _mixed_precision(device):
            logits = model(images)
        loss = segmentation_loss(cfg.loss, logits.float(), labels, weight=weights, ignore_index=VOID_INDEX)
        if teacher is not None:
            with torch.no_grad(), _mixed_precision(device):
                taught = teacher(images)
            loss = loss + cfg.distill_weight * distillation_loss(logits.float(), taught.float())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}; try a lower --lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if average is not None:
            average.update_parameters(getattr(model, "module", model))  # DDP wraps the network
        losses.append(loss.item())
        report.step(epoch=epoch, step=step + 1, loss=losses[-1], lr=lr)
    return step0 + len(losses), float(np.mean(losses)) if losses else float("nan")


@torch.no_grad()
def evaluate(model, dataset, device, *, batch_size: int = 4) -> dict:
    """Full-frame scores on ``dataset`` from one confusion matrix, void ignored."""
    model.eval()
    cm = ConfusionMatrix()
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(len(dataset), start + batch_size))]
        shapes = {tuple(x.shape) for x, _ in items}
        groups = [items] if len(shapes) == 1 else [[it] for it in items]
        for group in groups:
            images = torch.stack([x for x, _ in group]).to(device)
            with _mixed_precision(device):
                pred = model(images).argmax(1).cpu().numpy()
            for p, (_, y) in zip(pred, group, strict=True):
                cm.update(p, y.numpy())
    return cm.compute().to_json(frames=len(dataset))


def _datasets(cfg: TrainConfig):
    transform = TrainTransform(crop=tuple(cfg.crop), scale=tuple(cfg.scale), augment=cfg.augment, photometric=cfg.photometric)
    if cfg.annotations:
        pairs = pair_by_stem(cfg.data, cfg.annotations, skip_bad=cfg.skip_bad)
        return CamVidDataset(pairs, transform=transform, seed=cfg.seed, skip_bad=cfg.skip_bad), None
    splits = {s.name: s for s in detect_splits(cfg.data)}
    if not splits:
        raise no_layout_error(cfg.data)
    missing = [s for s in cfg.train_splits if s not in splits]
    if missing:
        raise DataError(f"{cfg.data}: no '{missing[0]}' split (found: {', '.join(splits)})")
    pairs = [p for s in cfg.train_splits for p in pair_by_stem(splits[s].images, splits[s].annotations, skip_bad=cfg.skip_bad)]
    held_out = parse_drive_split(cfg.val_split) if cfg.val_split else None
    val = None
    if held_out:
        pairs, held = split_by_drive(pairs, held_out, source=cfg.data)
        val = CamVidDataset(held, skip_bad=cfg.skip_bad)
    elif cfg.val_split and cfg.val_split in splits and cfg.val_split not in cfg.train_splits:
        s = splits[cfg.val_split]
        val = CamVidDataset(pair_by_stem(s.images, s.annotations, skip_bad=cfg.skip_bad), skip_bad=cfg.skip_bad)
    train = CamVidDataset(pairs, transform=transform, seed=cfg.seed, skip_bad=cfg.skip_bad)
    return train, val


def no_layout_error(data) -> DataError:
    """The error for a ``--data`` folder in none of the known layouts."""
    return DataError(f"{data}: no dataset layout found (expected train/ + trainannot/, "
                     "images_prepped_train/ + annotations_prepped_train/, or pass --annotations)")


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r} (auto, cpu, cuda)")
    return torch.device(name)


def _card(cfg: TrainConfig, *, epoch: int, step: int, val: dict | None, best: dict | None, elapsed: float,
          records: dict | None = None) -> dict:
    """The checkpoint's card; ``records``: ``drives`` trained on and held out, and ``finetune``."""
    config = asdict(cfg)
    config.pop("resume", None)
    command = config.pop("command", None)
    extra = {"training_command": command} if command else {}
    extra.update({key: value for key, value in (records or {}).items() if value})
    if parse_drive_split(cfg.val_split or "") or cfg.init:
        # held-out frames never pick an epoch: their figure is the last epoch's, an honest one
        extra["held_out_metrics"] = val
        extra["selection"] = "last epoch (held-out frames never select an epoch)"
    return extra | {
        "name": Path(cfg.out).stem,
        "architecture": cfg.architecture.to_dict(),
        "classes": list(CLASS_NAMES),
        "palette": [list(c) for c in PALETTE_RGB],
        "void_index": VOID_INDEX,
        "input": {"colour": "RGB", "mean": list(INPUT_MEAN), "std": list(INPUT_STD), "working_height": cfg.working_height},
        "training": config,
        "train_state": {"epoch": epoch, "step": step, "best": best, "elapsed_s": elapsed},
        "val_metrics": val,
    }


def main(cfg: TrainConfig) -> dict:
    """Train, evaluate each epoch, keep the best on val mIoU; returns the final summary."""
    # The card is built from the config: check it now, not after the first epoch's work.
    check_card(_card(cfg, epoch=0, step=0, val=None, best=None, elapsed=0.0), path=cfg.out, outputs=NUM_CLASSES)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = resolve_device(cfg.device)
    rank = 0
    if distributed:
        rank, device = init_distributed(device)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    report = ProgressReporter(cfg.progress, enabled=rank == 0)
    try:
        return _run(cfg, device, rank, distributed, report)
    finally:
        report.close()
        if distributed:
            torch.distributed.destroy_process_group()


def _run(cfg, device, rank, distributed, report) -> dict:
    finetune = None
    if cfg.init:
        transform = TrainTransform(crop=tuple(cfg.crop), scale=tuple(cfg.scale), augment=cfg.augment,
                                   photometric=cfg.photometric)
        finetune = finetune_data(cfg, transform, cfg.working_height)
        train_set, val_set = finetune.train, finetune.held_out
        model = load_checkpoint(cfg.init).build().float().to(device)
    else:
        train_set, val_set = _datasets(cfg)
        model = build_model(cfg.architecture, pretrained=cfg.pretrained, backbone_weights=cfg.backbone_weights).to(device)
    # the parent scored on the held-out frames before any step (and before a resume loads later weights)
    tuned = finetune_record(cfg, finetune, lambda ds: evaluate(model, ds, device)) if finetune is not None else None
    optimizer = make_optimizer(model, cfg)
    start_epoch, step, best, elapsed0 = 0, 0, None, 0.0
    if cfg.resume:
        start_epoch, step, best, elapsed0 = resume_state(cfg, model, optimizer)
    average = weight_average(model, cfg.ema)
    teacher = load_teacher(cfg.teacher, device, classes=NUM_CLASSES, mean=INPUT_MEAN, std=INPUT_STD) if cfg.teacher else None
    kept = average.module if average is not None else model  # what is evaluated and saved as the model
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    loader, sampler, gen = _loader(cfg, train_set, distributed)
    steps_per_epoch = min(len(loader), cfg.max_steps_per_epoch or len(loader))
    total = steps_per_epoch * cfg.epochs
    weights = class_weights_from(train_set.labels, cfg.class_weighting)
    weights = weights.to(device) if weights is not None else None
    report.start(config=asdict(cfg), frames=len(train_set), val_frames=len(val_set) if val_set else 0,
                 steps_per_epoch=steps_per_epoch, total_steps=total, start_epoch=start_epoch, skipped=train_set.skipped)
    records = {"drives": drives_record(cfg, train_set, val_set), "finetune": tuned}
    t0 = time.monotonic() - elapsed0
    for epoch in range(start_epoch, cfg.epochs):
        train_set.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        gen.manual_seed(cfg.seed * 1000 + epoch)
        report.epoch_start(epoch=epoch + 1, epochs=cfg.epochs, steps=steps_per_epoch)
        step, loss = train_one_epoch(net, loader, optimizer, cfg, epoch=epoch + 1, step0=step,
                                     total_steps=total, weights=weights, device=device, report=report, average=average,
                                     teacher=teacher)
        _check_finite(model, epoch + 1)  # on every rank: DDP ranks hold the same weights
        if rank == 0:
            best = _end_epoch(cfg, model, optimizer, val_set, device, report, epoch=epoch, start_epoch=start_epoch,
                              step=step, loss=loss, best=best, t0=t0, records=records, kept=kept)
        if distributed:
            torch.distributed.barrier()
    summary = {"best_path": str(cfg.out), "last_path": str(cfg.last_path), "best_val": best}
    if rank == 0 and Path(cfg.out).is_file():
        same_drive = same_drive_val(cfg, lambda ds: evaluate(kept, ds, device))
        if same_drive is not None:  # into the card of the kept (last) epoch
            save_checkpoint(cfg.out, kept, read_card(cfg.out) | {"same_drive_val_metrics": same_drive})
            summary["same_drive_val"] = same_drive
    if rank == 0 and cfg.int8 and cfg.max_steps_per_epoch is None and Path(cfg.out).is_file():  # not smoke runs
        summary["int8"] = _calibrate_int8(cfg)
    report.done(**summary)
    return summary


def _calibrate_int8(cfg) -> dict:
    """``main.py quantize`` on the best checkpoint, in place: its card gets the int8 calibration and check."""
    from model.quantize_model import quantize_checkpoint

    if cfg.annotations is not None:
        return {"skipped": "a plain images folder has no drives to hold out; run main.py quantize on a dataset"}
    try:
        entry = quantize_checkpoint(cfg.out, data=cfg.data, out=cfg.out)
    except DataError as exc:
        return {"skipped": " ".join(str(exc).split())}
    check = entry["check"]
    return {"passed": entry["passed"], "equal_pixels": check["equal_pixels"],
            "miou_drop": check["miou_fp32"] - check["miou_int8"], "checked_on": check["frames_source"]}


def _check_finite(model, epoch: int) -> None:
    """A NaN or infinite weight (or batch-norm statistic) ends the run before it is saved."""
    if not all(torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point()):
        raise FloatingPointError(f"weights became NaN or infinite in epoch {epoch} (nothing saved for it); try a lower --lr")


def _loader(cfg, train_set, distributed):
    """The training DataLoader, its DistributedSampler (or None) and the generator that seeds shuffling."""
    sampler = torch.utils.data.DistributedSampler(train_set, shuffle=True, seed=cfg.seed) if distributed else None
    gen = torch.Generator().manual_seed(cfg.seed)
    loader = torch.utils.data.DataLoader(
        train_set, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler, generator=gen,
        num_workers=cfg.workers, drop_last=len(train_set) > cfg.batch_size, persistent_workers=cfg.workers > 0,
    )
    return loader, sampler, gen


def _end_epoch(cfg, model, optimizer, val_set, device, report, *, epoch, start_epoch, step, loss, best, t0, records=None,
               kept=None):
    """Validate ``kept`` (the weight average, or the model), write the resumable ``.last``
    checkpoint of the model (and ``kept`` as the best one when val mIoU improved, or every epoch
    when a drive is held out: that drive never selects), report the epoch; returns the best
    validation so far."""
    kept = model if kept is None else kept
    val = evaluate(kept, val_set, device) if val_set is not None else None
    improved = val is None or best is None or (val["mean_iou"] or 0) > (best["mean_iou"] or 0)
    if improved:
        best = dict(val or {}, epoch=epoch + 1)
    if parse_drive_split(cfg.val_split or "") or cfg.init:
        improved = True  # held-out frames (a drive, the user's) never select an epoch: the last one is kept
    elapsed = time.monotonic() - t0  # training time so far, this validation included
    card = _card(cfg, epoch=epoch + 1, step=step, val=val, best=best, elapsed=elapsed, records=records)
    save_checkpoint(cfg.last_path, model, card, optimizer_state=optimizer.state_dict())
    if improved:
        save_checkpoint(cfg.out, kept, card)
    done = epoch + 1 - start_epoch
    eta = elapsed / done * (cfg.epochs - epoch - 1) if done > 0 else None
    report.epoch_end(epoch=epoch + 1, epochs=cfg.epochs, loss=loss, val=val, best=improved, elapsed=elapsed, eta=eta)
    return best
