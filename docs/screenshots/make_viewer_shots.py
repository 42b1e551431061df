"""Take the viewer screenshots (welcome, overlay, side by side, mask, error map) of the real window.

Usage (from the repository root; needs Xvfb and ImageMagick's ``import``)::

    CAMVID_VIEWER_CONFIG_DIR=$(mktemp -d) xvfb-run -a -s "-screen 0 1400x900x24" \\
        .venv/bin/python docs/screenshots/make_viewer_shots.py [CHECKPOINT]

Without CHECKPOINT the shipped model is used. Frames come from the real CamVid val split
(``model.data.default_camvid_root()``), so its truth is found in ``valannot/``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from neutral_home import neutral_home  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from camvid_viewer.ui.main_window import MainWindow  # noqa: E402
from model.data import default_camvid_root  # noqa: E402

FRAME = 40  # a labelled val frame with road, cars, cyclists and buildings


def main() -> int:
    root = default_camvid_root()
    if root is None:
        print("make_viewer_shots: real CamVid not found (set CAMVID_ROOT)", file=sys.stderr)
        return 2
    root = neutral_home(root) / "camvid"  # the window shows ~/camvid/val, not this machine's path
    app = QApplication([sys.argv[0]])
    window = MainWindow(model_path=sys.argv[1] if len(sys.argv) > 1 else None, backend="auto")
    window.resize(1400, 870)
    window.move(0, 0)
    window.show()

    def pump(done, seconds=120.0):
        end = time.time() + seconds
        while time.time() < end and not done():
            app.processEvents()
            time.sleep(0.02)
        for _ in range(25):  # let the last paint reach the X server
            app.processEvents()
            time.sleep(0.02)

    def shot(name):
        window.repaint()
        pump(lambda: False, 0.5)
        subprocess.run(["import", "-window", "root", str(HERE / f"{name}.png")], check=True)
        print("wrote", HERE / f"{name}.png")

    pump(lambda: window.session.model is not None)
    shot("welcome")
    window.open_path(str(root / "val"))
    pump(lambda: window.session.result is not None)
    window.seek(FRAME)
    pump(lambda: window.session.result is not None and window.session.result.index == FRAME)
    for view, name in (("overlay", "overlay"), ("side-by-side", "side-by-side"), ("mask", "mask"), ("error", "error-map")):
        window.session.set_view(view)
        shot(name)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
