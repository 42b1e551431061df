"""Screenshot of the training dialog mid-run, on a small copy of real CamVid frames.

Usage:
    xvfb-run -s "-screen 0 1400x900x24" .venv/bin/python docs/screenshots/make_train_dialog_shot.py
    .venv/bin/python docs/screenshots/make_train_dialog_shot.py --epochs-before-shot 4 --out shot.png

Copies a few train/val frames of the dataset found by ``model.data.default_camvid_root()``
into a temp folder, starts a short run from the dialog, waits for some epochs of curves,
grabs the window to docs/screenshots/train_dialog.png, then stops the run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _subset(source: Path, target: Path, *, train: int, val: int) -> Path:
    for split, count in (("train", train), ("val", val)):
        images = sorted((source / split).glob("*.png"))[::7][:count]  # spread over the sequences
        for sub in (split, f"{split}annot"):
            (target / sub).mkdir(parents=True)
            for image in images:
                shutil.copy(source / sub / image.name, target / sub / image.name)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots" / "train_dialog.png"))
    parser.add_argument("--epochs-before-shot", type=int, default=4)
    args = parser.parse_args()

    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from camvid_viewer.ui.train_dialog import TrainDialog
    from model.data import default_camvid_root

    camvid = default_camvid_root()
    if camvid is None:
        print("make_train_dialog_shot: real CamVid not found (set CAMVID_ROOT)", file=sys.stderr)
        return 2
    app = QApplication(sys.argv)
    from neutral_home import neutral_home, scratch_folder

    home = neutral_home(camvid)  # fields and log show the neutral home, not this machine's paths
    with scratch_folder(home / "training") as tmp:
        data = _subset(camvid, tmp / "camvid_subset", train=32, val=8)
        dialog = TrainDialog(data_root=str(data), models_dir=tmp / "models", max_steps_per_epoch=8)
        dialog.epochs_edit.setText("8")
        dialog.batch_edit.setText("4")
        dialog.crop_edit.setText("160x224")
        dialog.device_box.setCurrentText("cpu")
        dialog.show()
        status = {"code": 1}

        def on_event(event) -> None:
            if event.kind == "step" and event.data["epoch"] == args.epochs_before_shot + 1 and status["code"]:
                # mid-epoch, after some epochs of validation curves: the moment the screenshot shows
                if event.data["step"] % 8 == 4:
                    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                    dialog.grab().save(args.out)
                    print(f"wrote {args.out}", file=sys.stderr)
                    status["code"] = 0
                    dialog.stop()

        dialog.event_received.connect(on_event)
        dialog.run_finished.connect(lambda outcome: app.quit())
        QTimer.singleShot(600_000, app.quit)  # never hang a headless run
        if not dialog.start():
            print(f"make_train_dialog_shot: {dialog.message_label.text()}", file=sys.stderr)
            return 2
        app.exec()
        dialog.shutdown()
    return status["code"]


if __name__ == "__main__":
    sys.exit(main())
