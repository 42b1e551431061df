"""Screenshots of the analysis views in the real window, on the CamVid val clip.

Usage (needs a display; Xvfb works)::

    xvfb-run -s "-screen 0 1920x1200x24" python docs/screenshots/make_analysis_shots.py
    xvfb-run -s "-screen 0 1920x1200x24" python docs/screenshots/make_analysis_shots.py --model runs/lite0.safetensors

Writes docs/screenshots/analysis_{timeline,confusion,error_split,confidence}.png.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))


def wait_for(app, predicate, timeout_s: float = 300.0) -> None:
    """Run the event loop until ``predicate()`` holds (no sleeps: the loop keeps processing events)."""
    from PyQt6.QtCore import QDeadlineTimer, QEventLoop

    deadline = QDeadlineTimer(int(timeout_s * 1000))
    while not predicate():
        if deadline.hasExpired():
            raise TimeoutError("timed out waiting for the window")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="checkpoint (default: the shipped model)")
    parser.add_argument("--source", help="labelled frame folder (default: CamVid val)")
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args(argv)

    import numpy as np
    from neutral_home import neutral_home
    from PyQt6.QtCore import QSettings, Qt
    from PyQt6.QtWidgets import QApplication

    from camvid_viewer.ui.main_window import MainWindow
    from camvid_viewer.ui.settings import ViewerSettings
    from model.classes import VOID_INDEX
    from model.data import default_camvid_root

    source = args.source or str(neutral_home(default_camvid_root()) / "camvid" / "val")  # shown as ~/camvid/val
    scratch = Path(tempfile.mkdtemp(prefix="analysis-shots-"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(scratch))
    app = QApplication.instance() or QApplication(sys.argv)
    window = MainWindow(settings=ViewerSettings(organization="camvid-viewer-shots"), model_path=args.model)
    dock = window.analysis_dock  # the window installs the analysis parts itself
    dock.cache_dir = scratch / "cache"
    window.resize(1700, 1100)
    window.show()
    app.processEvents()
    window.resizeDocks([dock], [820], Qt.Orientation.Horizontal)
    window.resizeDocks([dock.timeline_dock], [300], Qt.Orientation.Vertical)
    metrics = getattr(window, "metrics_dock", None)
    if metrics is not None:
        window.resizeDocks([metrics, dock], [150, 900], Qt.Orientation.Vertical)
    wait_for(app, lambda: window.session.model is not None)
    window.open_path(source)
    wait_for(app, lambda: window.session.source is not None and window.session.result is not None)
    window.legend_dock.hide()  # the analysis dock shares the legend's tab: show it alone, tall
    dock.show()
    dock.raise_()
    app.processEvents()
    if metrics is not None:
        window.resizeDocks([metrics, dock], [150, 900], Qt.Orientation.Vertical)

    done = []
    dock.evaluation_ready.connect(done.append)
    dock.evaluate()
    wait_for(app, lambda: bool(done) and not dock.busy)
    out = Path(args.out)

    dock.tabs.setCurrentWidget(dock.worst)
    worst = dock.worst.frame_at_row(0)
    window.seek(worst)
    wait_for(app, lambda: window.session.result is not None and window.session.result.index == worst)
    dock.timeline.set_class(4)  # sidewalk
    app.processEvents()
    window.grab().save(str(out / "analysis_timeline.png"))

    dock.tabs.setCurrentWidget(dock.confusion)
    app.processEvents()
    window.grab().save(str(out / "analysis_confusion.png"))

    if metrics is not None:
        metrics.hide()  # the pixel views want the dock's full height
    dock.tabs.setCurrentWidget(dock.pixels)
    dock.pixels.mode_box.setCurrentIndex(dock.pixels.mode_box.findData("error"))
    dock.pixels.refresh()
    result = window.session.result
    wrong = np.argwhere((result.labels != result.truth) & (result.truth != VOID_INDEX))
    if len(wrong):
        y, x = wrong[len(wrong) // 2]
        dock.pixels.show_readout(int(x), int(y))  # what hovering that pixel shows
    app.processEvents()
    window.grab().save(str(out / "analysis_error_split.png"))

    dock.pixels.mode_box.setCurrentIndex(dock.pixels.mode_box.findData("confidence"))
    dock.pixels.refresh()
    wait_for(app, lambda: dock.pixels.confidence is not None)
    dock.pixels.refresh()
    if len(wrong):
        dock.pixels.show_readout(int(x), int(y))
    app.processEvents()
    window.grab().save(str(out / "analysis_confidence.png"))
    window.close()
    print(f"wrote 4 screenshots to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
