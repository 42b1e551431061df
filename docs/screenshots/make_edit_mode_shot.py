"""Edit mode on a dashcam clip without truth: correcting a frame's labels (real window under Xvfb).

Usage (from the repository root; needs Xvfb and ImageMagick's ``import``)::

    CAMVID_VIEWER_CONFIG_DIR=$(mktemp -d) xvfb-run -a -s "-screen 0 1400x900x24" \\
        .venv/bin/python docs/screenshots/make_edit_mode_shot.py [CHECKPOINT]

The clip is 40 consecutive real CamVid val frames at 960x540 (an MP4 in ``~/clips``, no
annotations), played once so the Labels dock can rank the frames worth correcting; the least
confident one is opened in edit mode, a polygon and a brush stroke are drawn with the window's
own tools, and the picture (``edit_mode.png``) shows them unsaved.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from make_no_truth_shot import write_clip  # noqa: E402
from neutral_home import neutral_home, scratch_folder  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402
from shot_window import pump as shot_pump  # noqa: E402
from shot_window import shot_window  # noqa: E402

from model.data import default_camvid_root  # noqa: E402


def main() -> int:
    root = default_camvid_root()
    if root is None:
        print("make_edit_mode_shot: real CamVid not found (set CAMVID_ROOT)", file=sys.stderr)
        return 2
    home = neutral_home(root)
    with scratch_folder(home / "clips") as clips:
        clip = clips / "dashcam.mp4"
        write_clip(home / "camvid", clip, frames=40)
        app = QApplication([sys.argv[0]])
        window = shot_window(app, model_path=sys.argv[1] if len(sys.argv) > 1 else None, backend="auto")

        def pump(done, seconds=180.0):
            shot_pump(app, done, seconds)

        pump(lambda: window.session.model is not None)
        window.open_path(str(clip))
        pump(lambda: window.session.result is not None)
        editor = window.editor
        editor.dock.show()
        window.tabifyDockWidget(window.legend_dock, editor.dock)  # the Labels dock in the legend's place
        editor.dock.raise_()
        window.set_mode("every-frame")
        window.set_speed(None)
        window.play(start=0)
        pump(lambda: not window.session.playing)
        worth = editor.dock.worth_frames()
        window.seek(worth[0] if worth else 0)
        pump(lambda: window.session.shows_named_frame)
        editor.actions.toggle.trigger()
        # The road's kerb on the left as sidewalk (class 4), a polygon; a pole (class 2), a brush stroke.
        editor.set_tool("polygon")
        editor.set_class(4)
        editor.layer.polygon = [(0, 430), (260, 395), (330, 420), (0, 520)]
        editor.close_polygon()
        editor.set_tool("brush")
        editor.set_class(2)
        editor.set_radius(7)
        editor.edit.begin_stroke()
        editor.layer.show_boxes(editor.edit.brush((640, 120), (646, 330), radius=7, value=2))
        editor.edit.end_stroke()
        editor._changed()
        window.repaint()
        pump(lambda: False, 0.5)
        subprocess.run(["import", "-window", "root", str(HERE / "edit_mode.png")], check=True)
        print("wrote", HERE / "edit_mode.png")
        editor.may_leave = lambda index=None: True  # the edits were only for the picture
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
