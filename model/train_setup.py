"""What a training run sets up before its first step: optimizer, resume state, DDP, weight average, teacher.

Kept apart from the loop in ``model/train.py`` so each file reads in one sitting.
"""

from __future__ import annotations

import os

import torch

from model.checkpoint import CheckpointError, load_checkpoint, optimizer_state_from


def make_optimizer(model, cfg):
    """AdamW or SGD; biases and norm weights without weight decay."""
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r} (adamw, sgd)")


def weight_average(model, decay: float | None):
    """An exponential moving average of ``model``'s weights and batch-norm statistics (or None).

    Why: on a drive held out of training the score swings by 2-3 mIoU points from one epoch to
    the next (docs/BENCHMARKS.md); the average of the last few hundred steps is the steadier
    network to keep. Updated after every optimizer step; what a run evaluates and saves.
    """
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def load_teacher(path: str, device, *, classes: int, mean, std):
    """The frozen network of checkpoint ``path`` to distil from: same classes and input normalisation
    as the student (it sees the student's batch), evaluated, never trained."""
    ckpt = load_checkpoint(path)
    card = ckpt.card
    if len(card.get("classes", [])) != classes:
        raise CheckpointError(f"{path}: the teacher predicts {len(card.get('classes', []))} classes, this run trains {classes}")
    given = card.get("input", {})
    if [float(v) for v in given.get("mean", [])] != [float(v) for v in mean] or [float(v) for v in given.get("std", [])] != [float(v) for v in std]:
        raise CheckpointError(f"{path}: the teacher normalises its input otherwise (mean/std {given.get('mean')}/{given.get('std')}); "
                              "it must see the frames as the student does")
    teacher = ckpt.build().float().to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def resume_state(cfg, model, optimizer) -> tuple[int, int, dict | None, float]:
    """Load ``cfg.resume`` into ``model`` and ``optimizer``; (epoch, step, best, elapsed seconds)."""
    ckpt = load_checkpoint(cfg.resume)
    if ckpt.architecture.to_dict() != cfg.architecture.to_dict():
        raise CheckpointError(f"{cfg.resume}: holds a {ckpt.architecture.backbone}/{ckpt.architecture.head} network, this run trains {cfg.backbone}/{cfg.head}")
    model.load_state_dict(ckpt.build().state_dict())
    state = optimizer_state_from(ckpt)
    if state is None:
        raise CheckpointError(f"{cfg.resume}: holds no training state (use the .last.safetensors file to resume)")
    optimizer.load_state_dict(state)
    ts = ckpt.card["train_state"]
    return int(ts["epoch"]), int(ts["step"]), ts.get("best"), float(ts.get("elapsed_s", 0.0))


def init_distributed(device):
    """Join the torchrun process group; (rank, this rank's device)."""
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch.distributed.init_process_group(backend)
    rank = torch.distributed.get_rank()
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    return rank, device
