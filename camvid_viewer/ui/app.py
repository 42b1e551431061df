"""Start the viewer window (``python main.py [PATH]``); without a display, say so in one line.

Usage:
    python main.py                      the window, shipped model loaded, welcome view
    python main.py ../shared/camvid/val the window on a frame folder (truth found in valannot/)
    python main.py drive.mp4            the window on a video
    python main.py --model seg.onnx --mapping cityscapes-to-camvid drive.mp4   any model (ONNX: its card beside it)
"""

from __future__ import annotations

__all__ = ["run_gui", "display_problem"]

import os
import sys

#: Qt platform plugins that draw without a window system (or bring their own).
_SELF_CONTAINED = {"offscreen", "minimal", "minimalegl", "vnc", "eglfs", "linuxfb", "vkkhrdisplay", "windows", "cocoa", "direct2d"}

NO_DISPLAY = (
    "camvid-viewer: no display found (DISPLAY and WAYLAND_DISPLAY are unset), so the window cannot open; "
    "the headless commands work without one: python main.py --help"
)


def display_problem(*, environ: dict | None = None, platform: str | None = None) -> str | None:
    """One line saying why the window cannot open here, or ``None`` when it can."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    qpa = environ.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0].strip().lower()
    if qpa in _SELF_CONTAINED:
        return None
    if qpa == "xcb":
        return None if environ.get("DISPLAY") else NO_DISPLAY
    if qpa.startswith("wayland"):
        return None if environ.get("WAYLAND_DISPLAY") else NO_DISPLAY
    if platform.startswith("win") or platform == "darwin":
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return NO_DISPLAY


def run_gui(argv: list[str] | None = None) -> int:
    """Open the window (on ``argv[0]`` when given); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    problem = display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    model_args, argv = _model_options(argv)
    if model_args is None:
        return 2
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print(f"camvid-viewer: expected at most one PATH to open (and --model FILE, --card FILE, --mapping NAME|FILE), "
              f"got {' '.join(argv)}; see python main.py --help", file=sys.stderr)
        return 2

    from PyQt6.QtWidgets import QApplication

    from camvid_viewer.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName("camvid-viewer")
    app.setApplicationName("CamVid viewer")
    window = MainWindow(load_model=False)
    window.session.card_choice = (model_args.model, model_args.card) if model_args.card else None
    window.session.mapping_choice = model_args.mapping
    window.load_model(model_args.model)
    window.show()
    if argv:
        window.open_path(argv[0])
    return app.exec()


def _model_options(argv: list[str]):
    """``--model FILE``, ``--card FILE``, ``--mapping NAME|FILE`` out of ``argv``: (options, the rest),
    or (None, argv) after printing one line for a missing value."""
    import argparse

    parser = argparse.ArgumentParser(add_help=False)
    for option in ("--model", "--card", "--mapping"):
        parser.add_argument(option)
    try:
        options, rest = parser.parse_known_args(argv)
    except SystemExit:
        print("camvid-viewer: --model, --card and --mapping each take a value; see python main.py --help", file=sys.stderr)
        return None, argv
    return options, rest
