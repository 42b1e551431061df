"""What a training run's card records about its data: the drives trained on and held out, the
parent of a fine-tuned model, and the dataset's own val split scored beside a held-out drive.

``score(dataset) -> metrics`` is the trainer's evaluation of the model being trained.
"""

from __future__ import annotations

__all__ = ["drives_record", "finetune_record", "same_drive_val"]

from model.checkpoint import read_card
from model.data import CamVidDataset, detect_splits, pair_by_stem
from model.drives import count_by_drive, parse_drive_split
from model.finetune import parent_record


def drives_record(cfg, train_set, val_set) -> dict:
    """Frames per drive trained on (a fine-tuned model's parent's included) and held out."""
    trained = count_by_drive(dict.fromkeys(p[0] for p in train_set.paths))
    held = count_by_drive(p[0] for p in val_set.paths) if parse_drive_split(cfg.val_split or "") else {}
    if cfg.init:  # what the parent trained on, it has seen too
        trained = dict((read_card(cfg.init).get("drives") or {}).get("trained_on") or {}) | trained
    return {"trained_on": trained, "held_out": held}


def finetune_record(cfg, data, score) -> dict:
    """The parent model, what the run trains on, and the parent's scores on the held-out user frames."""
    return {"parent": parent_record(cfg.init, read_card(cfg.init)), "user_frames": data.user_frames,
            "held_out_frames": len(data.held_out or ()), "repeat": data.repeat, "replay_frames": data.replay_frames,
            "held_out_before": score(data.held_out) if data.held_out is not None else None}


def same_drive_val(cfg, score) -> dict | None:
    """With a drive held out, the dataset's own val split (when not trained on) scored at the end,
    labelled as what it is: frames of drives the model trained on. None when there is none."""
    if not (cfg.val_split and parse_drive_split(cfg.val_split)) or cfg.annotations or "val" in cfg.train_splits:
        return None
    split = next((s for s in detect_splits(cfg.data) if s.name == "val"), None)
    if split is None:
        return None
    dataset = CamVidDataset(pair_by_stem(split.images, split.annotations, skip_bad=cfg.skip_bad), skip_bad=cfg.skip_bad)
    metrics = score(dataset)
    metrics["drives"] = count_by_drive(p[0] for p in dataset.paths)
    return metrics
