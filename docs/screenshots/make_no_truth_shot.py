"""The window on a dashcam clip without truth: the model's own signals (real window under Xvfb).

Usage (from the repository root; needs Xvfb and ImageMagick's ``import``)::

    CAMVID_VIEWER_CONFIG_DIR=$(mktemp -d) xvfb-run -a -s "-screen 0 1400x900x24" \\
        .venv/bin/python docs/screenshots/make_no_truth_shot.py [CHECKPOINT]

The clip is made from 60 consecutive real CamVid val frames at 960x540, 25 fps (an MP4 in
``~/clips``, no annotations), played to the end; the picture is ``no_truth.png``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

import cv2  # noqa: E402
from neutral_home import neutral_home, scratch_folder  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402
from shot_window import pump, shot_window  # noqa: E402

from model.data import default_camvid_root  # noqa: E402


def write_clip(root: Path, target: Path, frames: int = 60) -> None:
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (960, 540))
    for image in sorted((root / "val").glob("*.png"))[:frames]:
        writer.write(cv2.resize(cv2.imread(str(image)), (960, 540)))
    writer.release()


def main() -> int:
    root = default_camvid_root()
    if root is None:
        print("make_no_truth_shot: real CamVid not found (set CAMVID_ROOT)", file=sys.stderr)
        return 2
    home = neutral_home(root)
    with scratch_folder(home / "clips") as clips:
        clip = clips / "dashcam.mp4"
        write_clip(home / "camvid", clip)
        app = QApplication([sys.argv[0]])
        window = shot_window(app, model_path=sys.argv[1] if len(sys.argv) > 1 else None, backend="auto")
        pump(app, lambda: window.session.model is not None)
        window.open_path(str(clip))
        pump(app, lambda: window.session.result is not None)
        window.analysis_dock.timeline_dock.show()
        window.analysis_dock.raise_()
        window.analysis_dock.tabs.setCurrentWidget(window.analysis_dock.worst)
        window.metrics_dock.motion_box.setChecked(True)  # flicker after motion compensation
        window.set_mode("every-frame")
        window.set_speed(None)
        window.play(start=0)
        pump(app, lambda: not window.session.playing)
        window.repaint()
        pump(app, lambda: False, 0.5)
        subprocess.run(["import", "-window", "root", str(HERE / "no_truth.png")], check=True)
        print("wrote", HERE / "no_truth.png")
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
