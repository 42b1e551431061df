"""A neutral home folder for the screenshots, so no picture shows this machine's paths.

``HOME`` becomes ``/home/user`` (or a temp folder where that cannot be made) and
``~/camvid`` links to the real CamVid found by ``model.data.default_camvid_root()``: the window
then shows ``~/camvid/val``, and the dialogs' fields ``/home/user/...``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

#: A generic home that reads the same on every machine (the path the pictures show); never this one's.
NEUTRAL_HOME = Path("/home/user")


def neutral_home(camvid_root: Path) -> Path:
    """Set ``HOME`` to a neutral folder holding ``camvid`` (a link to ``camvid_root``); return it."""
    from model.onnx_backend import user_cache_dir

    # Keep the user's model cache (exported ONNX graphs): a cold cache would show in the timings.
    os.environ.setdefault("CAMVID_VIEWER_CACHE", str(user_cache_dir()))
    home = NEUTRAL_HOME
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError:
        home = Path(tempfile.mkdtemp(prefix="home-"))
    os.environ["HOME"] = str(home)
    link = home / "camvid"
    if not link.exists():
        link.symlink_to(Path(camvid_root).resolve(), target_is_directory=True)
    return home


@contextmanager
def scratch_folder(path: Path):
    """An empty folder at ``path`` for the block (a fixed, readable name in the pictures), removed after."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
