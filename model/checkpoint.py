"""Checkpoints: safetensors weights + a JSON card in the file's metadata. Never unpickles.

torch is imported only where tensors are touched, so :func:`read_card` stays light for the GUI.

The card holds what a reader needs to rebuild and use the network: architecture,
classes, palette, input normalisation, working scale, training config, val metrics
and the project version. Training state (optimizer, epoch) for ``--resume`` is
stored under ``optim.*`` tensor names and the card's ``train_state``.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError", "Checkpoint", "save_checkpoint", "load_checkpoint", "read_card", "check_card",
    "file_sha256", "atomic_write",
]

import hashlib
import json
import math
import os
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FORMAT = "camvid-viewer-checkpoint/1"
WORKING_HEIGHTS = (32, 4320)  # the frame heights inference accepts
MAX_CLASSES = 255  # label maps are uint8
# The FCN-8 head's final 1x1 classifiers; their first dimension is the network's class count.
_CLASSIFIER = re.compile(r"head\.score(8|16|32)\.score\.(weight|bias)")


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
    """Write weights (+ optional optimizer state) and the card, atomically.

    The card is checked against the weights first (as :func:`load_checkpoint` does). Any OS
    error while writing (disk full, read-only folder, no permission) is a one-line
    :class:`CheckpointError`, and no partial or temporary file is left.
    """
    from safetensors.torch import save

    from model import __version__

    state = model.state_dict()
    tensors = {k: (v.half() if half and v.is_floating_point() else v).detach().contiguous().cpu() for k, v in state.items()}
    card = dict(card, format=FORMAT, project_version=__version__, weights_dtype="float16" if half else "float32")
    if optimizer_state is not None:
        flat, layout = _flatten_optimizer(optimizer_state)
        tensors.update(flat)
        card["train_state"] = dict(card.get("train_state", {}), optimizer_layout=layout)
    check_card(card, path=path, outputs=_classifier_outputs(Path(path), tensors))
    # Serialised here and written by Python: safetensors' own file writer drops write errors
    # (a full disk leaves a short file and no exception), so a failed write could not be seen.
    data = save(tensors, metadata={"card": json.dumps(card)})
    try:
        with atomic_write(path) as tmp, open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot write the checkpoint ({exc.strerror or exc})") from None
    return Path(path)


def read_card(path: str | Path) -> dict:
    """The card alone, read from the safetensors header (no tensors, no torch import).

    Validated: architecture, classes, palette present; as many class names and palette
    entries as the architecture's classes; each palette entry 3 whole numbers 0..255; the void
    index ``None`` or a class; the working height a whole number in 32..4320; mean and std
    3 finite numbers (std > 0). A card that fails is a one-line :class:`CheckpointError`.
    """
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
    card = _parse_card(path, meta)
    check_card(card, path=path)
    return card


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load a checkpoint file; its card is validated against the tensors (see :func:`read_card`),
    and the class count must equal the classifier tensors' output channels."""
    from safetensors import safe_open

    path = _check_file(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception:  # noqa: BLE001
        raise CheckpointError(f"{path}: not a checkpoint (not a safetensors file, or truncated)") from None
    card = _parse_card(path, meta)
    check_card(card, path=path, outputs=_classifier_outputs(path, tensors))
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
    except (KeyError, ValueError, TypeError):
        raise CheckpointError(f"{path}: a safetensors file but not a camvid-viewer checkpoint (no model card)") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT or "architecture" not in card:
        found = card.get("format") if isinstance(card, dict) else None
        raise CheckpointError(f"{path}: unknown checkpoint format {found!r}")
    return card


def _classifier_outputs(path: Path, tensors: dict) -> int:
    """The class count the weights produce: the first dimension of the head's classifiers."""
    counts = {int(v.shape[0]) for k, v in tensors.items() if _CLASSIFIER.fullmatch(k) and len(v.shape) >= 1}
    if len(counts) != 1:
        what = "no classifier tensors (head.score*.score)" if not counts else f"classifiers of {sorted(counts)} outputs"
        raise CheckpointError(f"{path}: weights hold {what}; not an FCN-8 checkpoint of this tool")
    return counts.pop()


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_card(card: dict, *, path: str | Path, outputs: int | None = None) -> None:
    """Raise :class:`CheckpointError` naming ``path`` and the first unusable card field
    (the rules are in :func:`read_card`); ``outputs``: the network's class count, when known."""

    def refuse(what: str):
        raise CheckpointError(f"{path}: model card {what}")

    for key in ("architecture", "classes", "palette"):
        if key not in card:
            refuse(f"has no '{key}'")
    n = _check_architecture(card["architecture"], refuse)
    if outputs is not None and outputs != n:
        refuse(f"says {n} classes, the network's classifier has {outputs} outputs")
    classes, palette = card["classes"], card["palette"]
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        refuse("classes is not a list of names")
    if len(classes) != n:
        refuse(f"names {len(classes)} classes, the network has {n} outputs")
    if not isinstance(palette, list) or len(palette) != n:
        refuse(f"palette has {len(palette) if isinstance(palette, list) else 'no list of'} colours, the network has {n} classes")
    for i, colour in enumerate(palette):
        if not (isinstance(colour, list) and len(colour) == 3 and all(_is_int(v) and 0 <= v <= 255 for v in colour)):
            refuse(f"palette entry {i} is {colour!r}, expected 3 whole numbers 0..255")
    void = card.get("void_index")
    if void is not None and not (_is_int(void) and 0 <= void < n):
        refuse(f"void_index {void!r} is not one of the classes 0..{n - 1} (or null)")
    _check_input(card.get("input", {}), refuse)
    if card.get("int8") is not None:
        from model.quantize import check_int8_entry

        try:
            check_int8_entry(card["int8"], where=str(path))
        except ValueError as exc:
            raise CheckpointError(str(exc)) from None


def _check_architecture(arch, refuse) -> int:
    """The architecture's fields that size tensors; returns its class count."""
    if not isinstance(arch, dict):
        refuse("architecture is not an object")
    n = arch.get("num_classes")
    if not _is_int(n) or not 1 <= n <= MAX_CLASSES:
        refuse(f"architecture.num_classes {n!r} is not a class count (1..{MAX_CLASSES})")
    if not isinstance(arch.get("backbone", ""), str) or arch.get("head", "conv") not in ("conv", "plain"):
        refuse(f"architecture {arch.get('backbone')!r}/{arch.get('head')!r} is not a backbone name and a conv or plain head")
    for key in ("head_width", "vgg_fc_channels"):
        if key in arch and not (_is_int(arch[key]) and 1 <= arch[key] <= 65536):
            refuse(f"architecture.{key} {arch[key]!r} is not a whole number in 1..65536")
    return n


def _check_input(spec, refuse) -> None:
    if not isinstance(spec, dict):
        refuse("input is not an object")
    low, high = WORKING_HEIGHTS
    height = spec.get("working_height", 360)
    if not _is_int(height) or not low <= height <= high:
        refuse(f"input.working_height {height!r} is not a whole number in {low}..{high}")
    for key in ("mean", "std"):
        values = spec.get(key, [0.5, 0.5, 0.5])
        if not (isinstance(values, list) and len(values) == 3 and all(_is_number(v) for v in values)):
            refuse(f"input.{key} {values!r} is not 3 finite numbers")
        if key == "std" and min(values) <= 0:
            refuse(f"input.std {values!r} has a value <= 0")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
