"""Two models side by side in the window: the A | B view and the difference view (real window under Xvfb).

Usage (from the repository root; needs Xvfb and ImageMagick's ``import``)::

    CAMVID_VIEWER_CONFIG_DIR=$(mktemp -d) xvfb-run -a -s "-screen 0 1400x900x24" \\
        .venv/bin/python docs/screenshots/make_compare_shots.py

Model A is the shipped model; model B is the same weights run at a 180 px working height (a
copy of the checkpoint whose card says so, in ``~/models``): the trade a user weighs when a
smaller input would run faster. The window opens ``~/camvid/val``, compares A with B
(Model > Compare with...), plays the first 12 frames so the compare dock and timeline have
running figures, and photographs frame 11 as ``compare_a_b.png`` (A | B) and
``compare_difference.png`` (where A is right and B wrong, and the reverse).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from neutral_home import neutral_home, scratch_folder  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402
from shot_window import pump, shot_window  # noqa: E402

from model.data import default_camvid_root  # noqa: E402

FRAMES = 12


def low_resolution_copy(folder: Path, height: int = 180) -> Path:
    """The shipped checkpoint with ``working_height`` set to ``height`` in its card."""
    from model.checkpoint import load_checkpoint, save_checkpoint
    from model.inference import default_model_path

    shipped = load_checkpoint(default_model_path())
    card = {k: v for k, v in shipped.card.items() if k != "int8"}  # its calibration was for 360 px
    card["input"] = {**card.get("input", {}), "working_height": height}
    card["name"] = f"camvid-lite0 at {height} px"
    return save_checkpoint(folder / f"camvid-lite0-{height}px.safetensors", shipped.build(), card)


def main() -> int:
    root = default_camvid_root()
    if root is None:
        print("make_compare_shots: real CamVid not found (set CAMVID_ROOT)", file=sys.stderr)
        return 2
    home = neutral_home(root)
    with scratch_folder(home / "models") as models:
        second = low_resolution_copy(models)
        app = QApplication([sys.argv[0]])
        window = shot_window(app, backend="auto", precision="fp32")
        pump(app, lambda: window.session.model is not None)
        window.open_path(str(home / "camvid" / "val"))
        pump(app, lambda: window.session.result is not None)
        comparison = window.comparison
        comparison.compare_with(str(second))
        pump(app, lambda: window.session.result is not None and window.session.result.second is not None)
        window.set_mode("every-frame")
        window.set_speed(None)
        window.play(start=0)
        pump(app, lambda: window.session.index >= FRAMES - 1)
        window.pause()
        pump(app, lambda: window.session.shows_named_frame and window.session.result.second is not None
             and not window.pipeline.busy)
        comparison.timeline_dock.set_order("drop")
        for view, name in (("a-b", "compare_a_b.png"), ("difference", "compare_difference.png")):
            comparison.set_view(view)
            window.repaint()
            pump(app, lambda: False, 0.5)
            subprocess.run(["import", "-window", "root", str(HERE / name)], check=True)
            print("wrote", HERE / name)
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
