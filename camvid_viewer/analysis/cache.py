"""The analysis cache: one ``.npz`` of per-frame results per (model, source, frames); never unpickled.

Headless (numpy only). :func:`cache_key` names the file from what decides the numbers: the
model's identity (checkpoint hash when known), the source files and annotation files (path,
size, mtime) and the frame list, so any change there means a new file rather than a stale one.
"""

from __future__ import annotations

__all__ = [
    "CACHE_VERSION",
    "default_cache_dir",
    "cache_key",
    "model_identity",
    "model_name",
    "read_cache",
    "write_cache",
]

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model.checkpoint import atomic_write, file_sha256

CACHE_VERSION = 1  # bump when the cached arrays change meaning

#: The per-frame arrays of a ``SourceEvaluation`` that the cache stores.
_CACHE_ARRAYS = ("indices", "matrices", "flicker", "flicker_compensated", "truth_change", "truth_change_compensated")


def default_cache_dir() -> Path:
    """``analysis/`` in the tool's cache root (``$CAMVID_VIEWER_CACHE``, else the user cache)."""
    from model.inference import user_cache_dir

    return user_cache_dir() / "analysis"


def model_name(segmenter) -> str:
    """The segmenter's ``name``, else its class name."""
    return str(getattr(segmenter, "name", type(segmenter).__name__))


def model_identity(segmenter) -> dict:
    """What decides a model's output: checkpoint hash when known, else its name and card."""
    own = getattr(segmenter, "analysis_identity", None)
    if callable(own):
        return own()
    identity: dict = {"name": model_name(segmenter), "working_height": getattr(segmenter, "working_height", None)}
    path = getattr(segmenter, "checkpoint_path", None) or getattr(segmenter, "path", None)
    if path and Path(path).is_file():
        identity["sha256"] = _file_sha256(Path(path))
    else:
        identity["card"] = json.dumps(getattr(segmenter, "card", None), sort_keys=True, default=str)
    if getattr(segmenter, "external_card", None) is not None:  # an ONNX model: its card decides its input
        identity["card"] = json.dumps(segmenter.card, sort_keys=True, default=str)
    mapping = getattr(segmenter, "mapping", None)
    if mapping is not None:  # scored through a mapping: other matrices
        identity["mapping"] = [int(v) for v in mapping.table]
    return identity


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def _file_sha256(path: Path) -> str:
    """``file_sha256`` remembered per (path, size, mtime): a checkpoint is hashed once per run."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = file_sha256(path)
    return _SHA_CACHE[key]


def _path_stamp(path: Path) -> list:
    """Path, size and mtime of a file, or of every file directly in a folder."""
    if path.is_dir():
        entries = sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(path) if e.is_file())
        return [str(path.resolve()), entries]
    if path.exists():
        st = path.stat()
        return [str(path.resolve()), st.st_size, st.st_mtime_ns]
    return [str(path)]


def cache_key(segmenter, source, frames: Sequence[int], truth_index=None) -> str:
    """Hex digest naming the cache file of (model, source file(s), truth files, frame list)."""
    truth_dir = None
    for attr in ("annotations_dir", "directory", "root", "path"):
        value = getattr(truth_index, attr, None)
        if value:
            truth_dir = Path(value)
            break
    payload = {
        "version": CACHE_VERSION,
        "model": model_identity(segmenter),
        "source": _path_stamp(Path(str(source.path))),
        "truth": _path_stamp(truth_dir) if truth_dir else None,
        "frames": [int(i) for i in frames],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def write_cache(path: Path, key: str, evaluation) -> None:
    """Store a complete ``SourceEvaluation`` under ``key``, atomically; a failed write is ignored."""
    arrays = {name: getattr(evaluation, name) for name in _CACHE_ARRAYS}
    try:
        with atomic_write(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(
                f,
                key=np.array(key),
                names=np.array(evaluation.names, dtype=str),
                class_names=np.array(evaluation.class_names, dtype=str),
                ignore_index=np.array(-1 if evaluation.ignore_index is None else evaluation.ignore_index, dtype=np.int64),
                skipped=np.array(evaluation.skipped, dtype=str),
                **arrays,
            )
    except OSError:
        pass  # a read-only cache folder costs a re-run next time, nothing else


def read_cache(path: Path, key: str) -> dict | None:
    """The cached ``SourceEvaluation`` fields (its per-frame arrays, names, classes, skipped frames),
    or None when the file is absent, corrupt or for another key (then the caller rebuilds it)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            arrays = {name: np.array(data[name]) for name in _CACHE_ARRAYS}
            names = tuple(str(s) for s in data["names"])
            class_names = tuple(str(s) for s in data["class_names"])
            ignore = int(data["ignore_index"])
            skipped = tuple(str(s) for s in data["skipped"])
        n = len(arrays["indices"])
        c = len(class_names)  # the matrices are sized by the classes stored with them
        if arrays["matrices"].shape != (n, c, c) or len(names) != n or not -1 <= ignore < c:
            return None
        if any(arrays[k].shape != (n,) for k in _CACHE_ARRAYS if k not in ("indices", "matrices")):
            return None
    except Exception:  # noqa: BLE001 - any unreadable cache is simply rebuilt
        return None
    return {
        "indices": arrays["indices"].astype(np.int64),
        "names": names,
        "matrices": arrays["matrices"].astype(np.int64),
        "flicker": arrays["flicker"].astype(np.float64),
        "flicker_compensated": arrays["flicker_compensated"].astype(np.float64),
        "truth_change": arrays["truth_change"].astype(np.float64),
        "truth_change_compensated": arrays["truth_change_compensated"].astype(np.float64),
        "class_names": class_names,
        "ignore_index": None if ignore < 0 else ignore,
        "skipped": skipped,
    }
