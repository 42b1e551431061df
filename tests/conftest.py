"""Shared fixtures: real CamVid location, a small random checkpoint, thread limits."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if "CAMVID_VIEWER_CACHE" not in os.environ:
    # One graph cache for the whole run, never the user's: set here in pytest's first process,
    # inherited by its xdist workers, removed when that process exits (CI passes its own).
    os.environ["CAMVID_VIEWER_CACHE"] = tempfile.mkdtemp(prefix="camvid-viewer-tests-")
    atexit.register(shutil.rmtree, os.environ["CAMVID_VIEWER_CACHE"], ignore_errors=True)

from model.data import default_camvid_root  # noqa: E402

CAMVID = default_camvid_root()
needs_camvid = pytest.mark.skipif(CAMVID is None, reason="real CamVid not found: set CAMVID_ROOT or put it at ../shared/camvid")


@pytest.fixture(autouse=True)
def no_graph_export_outlives_its_test():
    """torch's exporter sets process-wide state (its "exporting" flag and node-meta dict) that other
    torch calls read: a window's background graph export still running when the next test in this
    worker trained made that test's ``torch.manual_seed`` fail (KeyError 'custom'). So each test's
    background calls finish, and no export (a lane's, too) is in flight, before the next starts."""
    yield
    deadline = time.monotonic() + 120
    for thread in threading.enumerate():
        if thread.name.startswith("call-") and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
    backend = sys.modules.get("model.onnx_backend")
    if backend is not None and backend._EXPORT_LOCK.acquire(timeout=max(0.0, deadline - time.monotonic())):
        backend._EXPORT_LOCK.release()


@pytest.fixture(scope="session")
def camvid_root() -> Path:
    if CAMVID is None:
        pytest.skip("real CamVid not found: set CAMVID_ROOT or put it at ../shared/camvid")
    return CAMVID


@pytest.fixture
def camvid_subset(tmp_path, camvid_root) -> Path:
    """A SegNet-layout copy of 6 train and 4 val frames (real CamVid) in a tmp dir."""
    root = tmp_path / "camvid_small"
    for split, count in (("train", 6), ("val", 4)):
        images = sorted((camvid_root / split).glob("*.png"))[:count]
        for sub, src_dir in ((split, camvid_root / split), (f"{split}annot", camvid_root / f"{split}annot")):
            (root / sub).mkdir(parents=True)
            for image in images:
                shutil.copy(src_dir / image.name, root / sub / image.name)
    return root


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory) -> Path:
    """A small, untrained but valid checkpoint (EfficientNet-Lite0, narrow conv head)."""
    import torch

    from model.checkpoint import save_checkpoint
    from model.classes import CLASS_NAMES, PALETTE_RGB, VOID_INDEX
    from model.networks import Architecture, build_model

    torch.manual_seed(0)
    arch = Architecture(head_width=16)
    model = build_model(arch, pretrained=False)
    card = {
        "name": "random-test-model",
        "architecture": arch.to_dict(),
        "classes": list(CLASS_NAMES),
        "palette": [list(c) for c in PALETTE_RGB],
        "void_index": VOID_INDEX,
        "input": {"colour": "RGB", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "working_height": 360},
        "training": {},
        "val_metrics": None,
    }
    path = tmp_path_factory.mktemp("ckpt") / "random.safetensors"
    return save_checkpoint(path, model, card)
