"""Checkpoints: safetensors weights + a JSON card in the file's metadata. Never unpickles.

torch is imported only where tensors are touched, so :func:`read_card` stays light for the GUI.

The card holds what a reader needs to rebuild and use the network: architecture,
classes, palette, input normalisation, working scale, training config, val metrics
and the project version. Training state (optimizer, epoch) for ``--resume`` is
stored under ``optim.*`` tensor names and the card's ``train_state``.
"""

from __future__ import annotations

__all__ = ["CheckpointError", "Checkpoint", "save_checkpoint", "load_checkpoint", "read_card", "file_sha256", "atomic_write"]

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FORMAT = "camvid-viewer-checkpoint/1"


class CheckpointError(Exception):
    """A file that cannot be used as a checkpoint; the message names it."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the card and its tensors (model weights and optional training state)."""

    path: Path
    card: dict
    weights: dict  # name -> torch.Tensor
    optimizer_tensors: dict  # name -> torch.Tensor

    @property
    def architecture(self):
        """The card's :class:`model.networks.Architecture`."""
        from model.networks import Architecture

        return Architecture.from_dict(self.card["architecture"])

    def build(self):
        """The network with these weights, float32, in eval mode."""
        from model.networks import build_model

        model = build_model(self.architecture, pretrained=False)
        try:
            model.load_state_dict({k: v.float() for k, v in self.weights.items()}, strict=True)
        except RuntimeError:
            raise CheckpointError(f"{self.path}: weights do not fit a {self.architecture.backbone} FCN-8 network (another architecture?)") from None
        return model.eval()


@contextmanager
def atomic_write(path: str | Path, suffix: str = ".tmp"):
    """Yield a temp path beside ``path``; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make shared outputs private
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(
    path: str | Path,
    model,
    card: dict,
    *,
    optimizer_state: dict | None = None,
    half: bool = False,
) -> Path:
    """Write weights (+ optional optimizer state) and the card, atomically."""
    from safetensors.torch import save_file

    from model import __version__

    state = model.state_dict()
    tensors = {k: (v.half() if half and v.is_floating_point() else v).detach().contiguous().cpu() for k, v in state.items()}
    card = dict(card, format=FORMAT, project_version=__version__, weights_dtype="float16" if half else "float32")
    if optimizer_state is not None:
        flat, layout = _flatten_optimizer(optimizer_state)
        tensors.update(flat)
        card["train_state"] = dict(card.get("train_state", {}), optimizer_layout=layout)
    with atomic_write(path) as tmp:
        save_file(tensors, str(tmp), metadata={"card": json.dumps(card)})
    return Path(path)


def read_card(path: str | Path) -> dict:
    """The card alone, read from the safetensors header (no tensors, no torch import)."""
    path = _check_file(path)
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 2 <= size <= 100_000_000:
                raise ValueError("header size")
            header = json.loads(f.read(size))
        meta = header.get("__metadata__") or {}
    except (OSError, ValueError, AttributeError):
        raise CheckpointError(f"{path}: not a checkpoint (not a safetensors file, or truncated)") from None
    return _parse_card(path, meta)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load and validate a checkpoint file."""
    from safetensors import safe_open

    path = _check_file(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            card = _parse_card(path, f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except CheckpointError:
        raise
    except Exception:  # noqa: BLE001
        raise CheckpointError(f"{path}: not a checkpoint (not a safetensors file, or truncated)") from None
    weights = {k: v for k, v in tensors.items() if not k.startswith("optim.")}
    optim = {k: v for k, v in tensors.items() if k.startswith("optim.")}
    return Checkpoint(path=path, card=card, weights=weights, optimizer_tensors=optim)


def optimizer_state_from(checkpoint: Checkpoint) -> dict | None:
    """Rebuild a ``torch.optim`` state dict saved with :func:`save_checkpoint`."""
    layout = checkpoint.card.get("train_state", {}).get("optimizer_layout")
    if not layout:
        return None
    state = {}
    for key, name in layout["tensors"].items():
        index, field = key.split("/", 1)
        state.setdefault(int(index), {})[field] = checkpoint.optimizer_tensors[name]
    return {"state": state, "param_groups": layout["param_groups"]}


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _flatten_optimizer(state: dict) -> tuple[dict, dict]:
    import torch

    flat, names = {}, {}
    for index, fields in state["state"].items():
        for field, value in fields.items():
            name = f"optim.{index}.{field}"
            flat[name] = torch.as_tensor(value).detach().contiguous().cpu()
            names[f"{index}/{field}"] = name
    return flat, {"tensors": names, "param_groups": state["param_groups"]}


def _check_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    return path


def _parse_card(path: Path, meta: dict) -> dict:
    try:
        card = json.loads(meta["card"])
    except (KeyError, ValueError):
        raise CheckpointError(f"{path}: a safetensors file but not a camvid-viewer checkpoint (no model card)") from None
    if card.get("format") != FORMAT or "architecture" not in card:
        raise CheckpointError(f"{path}: unknown checkpoint format {card.get('format')!r}")
    return card
