"""Screenshot of the export dialog mid-export, on a small copy of real CamVid val frames.

Usage:
    xvfb-run -s "-screen 0 1400x900x24" .venv/bin/python docs/screenshots/make_export_dialog_shot.py
    .venv/bin/python docs/screenshots/make_export_dialog_shot.py --model my.safetensors --out shot.png

Copies some val frames (and their labels) of the dataset found by
``model.data.default_camvid_root()`` into a temp folder, opens the dialog on them as the
window would (overlay view, 60% opacity), starts an export, holds the model at a frame so the
progress bar stands mid-way, grabs the dialog to docs/screenshots/export_dialog.png, then
cancels (which leaves nothing behind). Without ``--model`` it uses the shipped model, or a
random checkpoint when there is none (the picture is of the dialog, not of the model).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _val_subset(camvid: Path, target: Path, count: int) -> Path:
    names = [p.name for p in sorted((camvid / "val").glob("*.png"))[:count]]
    for sub in ("val", "valannot"):
        (target / sub).mkdir(parents=True)
        for name in names:
            shutil.copy(camvid / sub / name, target / sub / name)
    return target / "val"


def _checkpoint(tmp: Path) -> Path:
    from model.inference import default_model_path

    if Path(default_model_path()).is_file():
        return Path(default_model_path())
    from model.checkpoint import save_checkpoint
    from model.classes import CLASS_NAMES, PALETTE_RGB, VOID_INDEX
    from model.networks import Architecture, build_model

    arch = Architecture(head_width=16)
    card = {"name": "camvid-lite0 (untrained stand-in)", "architecture": arch.to_dict(), "classes": list(CLASS_NAMES),
            "palette": [list(c) for c in PALETTE_RGB], "void_index": VOID_INDEX,
            "input": {"colour": "RGB", "mean": [0.5] * 3, "std": [0.5] * 3, "working_height": 360},
            "training": {}, "val_metrics": None}
    return save_checkpoint(tmp / "stand-in.safetensors", build_model(arch, pretrained=False), card)


class _HeldSegmenter:
    """The real model, held before frame ``hold_at`` until the screenshot is taken."""

    def __init__(self, segmenter, hold_at: int, gate: threading.Event) -> None:
        self.segmenter, self.hold_at, self.gate, self.calls = segmenter, hold_at, gate, 0

    def __getattr__(self, name):
        return getattr(self.segmenter, name)

    def segment(self, frame, **kwargs):
        self.calls += 1
        if self.calls >= self.hold_at:
            self.gate.wait(120)
        return self.segmenter.segment(frame, **kwargs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots" / "export_dialog.png"))
    parser.add_argument("--model", help="checkpoint (default: the shipped model, else a random stand-in)")
    parser.add_argument("--frames", type=int, default=40, help="val frames to copy")
    args = parser.parse_args()

    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from camvid_viewer.session import ViewerSession
    from camvid_viewer.sources import open_source
    from camvid_viewer.sources.truth import TruthIndex
    from camvid_viewer.ui.export_dialog import ExportDialog
    from model.data import default_camvid_root

    camvid = default_camvid_root()
    if camvid is None:
        print("make_export_dialog_shot: real CamVid not found (set CAMVID_ROOT)", file=sys.stderr)
        return 2
    app = QApplication(sys.argv)
    from neutral_home import neutral_home, scratch_folder

    home = neutral_home(camvid)  # the fields show the neutral home, not this machine's paths
    with scratch_folder(home / "drive") as tmp:
        images = _val_subset(camvid, tmp / "camvid", args.frames)
        model_path = Path(args.model) if args.model else _checkpoint(tmp)
        session = ViewerSession()
        source = open_source(str(images))
        session.set_source(source, TruthIndex.for_source(source, images.parent / "valannot"))
        session.model_path = str(model_path)
        session.set_view("overlay")
        session.set_opacity(0.6)
        session.set_legend(True)
        gate = threading.Event()

        def make_segmenter():
            from camvid_viewer.loaders import load_segmenter

            return _HeldSegmenter(load_segmenter(str(model_path), device="cpu"), args.frames // 3, gate)

        dialog = ExportDialog(session, segmenter_factory=make_segmenter)
        dialog.output_edit.setText(str(tmp / "exports" / "val-overlay.mp4"))
        dialog.csv_edit.setText(str(tmp / "exports" / "val-metrics.csv"))
        dialog.show()
        status = {"code": 1}

        def shoot() -> None:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            dialog.grab().save(args.out)
            print(f"wrote {args.out}", file=sys.stderr)
            status["code"] = 0
            dialog.cancel()
            gate.set()

        def on_progress(done: int, total: int) -> None:
            if done == args.frames // 3 - 1 and status["code"]:
                QTimer.singleShot(500, shoot)  # let the bar and the ETA repaint first

        dialog.progress_changed.connect(on_progress)
        dialog.export_finished.connect(lambda outcome: app.quit())
        QTimer.singleShot(600_000, app.quit)  # never hang a headless run
        if not dialog.start():
            print(f"make_export_dialog_shot: {dialog.message_label.text()}", file=sys.stderr)
            return 2
        app.exec()
        dialog.shutdown()
        gate.set()
        source.close()
        left = sorted(p.name for p in (tmp / "exports").iterdir()) if (tmp / "exports").exists() else []
        if left:
            print(f"make_export_dialog_shot: cancel left files behind: {left}", file=sys.stderr)
            return 1
    return status["code"]


if __name__ == "__main__":
    sys.exit(main())
