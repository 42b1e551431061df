"""camvid-viewer: live semantic segmentation of road video.

Usage:
    python main.py                     open the viewer with the shipped model
    python main.py VIDEO_OR_FOLDER     open the viewer on a source
    python main.py [PATH] --model seg.onnx [--card seg.json] [--mapping NAME|FILE|none]   ... with another model
    python main.py train|eval|quantize|predict|bench|export|batch|download-camvid ...   headless commands
"""

from __future__ import annotations

import sys

COMMANDS = ("train", "eval", "quantize", "predict", "bench", "export", "batch", "download-camvid")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS or argv[:1] in (["-h"], ["--help"]):
        from camvid_viewer.commands.parser import run_command

        return run_command(argv)
    from camvid_viewer.ui.app import run_gui

    return run_gui(argv)


if __name__ == "__main__":
    sys.exit(main())
