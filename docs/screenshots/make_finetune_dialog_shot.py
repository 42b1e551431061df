"""Screenshot of the fine-tune dialog after a short run: before/after on the held-out labelled frames.

Usage:
    xvfb-run -s "-screen 0 1400x900x24" .venv/bin/python docs/screenshots/make_finetune_dialog_shot.py
    .venv/bin/python docs/screenshots/make_finetune_dialog_shot.py --frames 10 --out shot.png

Plays the user: copies ``--frames`` val frames of CamVid (drive 0016E5)
and their labels into ``~/footage/0016E5`` + ``0016E5annot`` (the folders edit
mode saves into), fills the dialog as Model > Fine-tune on my labels... does (the shipped model,
that footage, CamVid to replay), runs a short fine-tune (a few steps per epoch: a picture, not a
benchmark), and grabs the dialog to docs/screenshots/finetune_dialog.png.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _footage(camvid: Path, target: Path, count: int) -> tuple[Path, Path]:
    frames, labels = target / "0016E5", target / "0016E5annot"
    frames.mkdir(parents=True)
    labels.mkdir()
    for image in sorted((camvid / "val").glob("0016E5_*.png"))[::8][:count]:  # spread over the drive
        shutil.copy(image, frames / image.name)
        shutil.copy(camvid / "valannot" / image.name, labels / image.name)
    return frames, labels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots" / "finetune_dialog.png"))
    parser.add_argument("--frames", type=int, default=10, help="labelled frames of the user's footage")
    parser.add_argument("--steps", type=int, default=6, help="steps per epoch (the real run takes all)")
    args = parser.parse_args()

    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from camvid_viewer.ui.finetune_dialog import FinetuneDialog
    from model.data import default_camvid_root
    from model.inference import default_model_path

    camvid = default_camvid_root()
    if camvid is None:
        print("make_finetune_dialog_shot: real CamVid not found (set CAMVID_ROOT)", file=sys.stderr)
        return 2
    app = QApplication(sys.argv)
    from neutral_home import neutral_home, scratch_folder

    home = neutral_home(camvid)  # fields and log show the neutral home, not this machine's paths
    with scratch_folder(home / "footage") as footage, scratch_folder(home / "models") as models:
        frames, labels = _footage(camvid, footage, args.frames)
        parent = models / "camvid-lite0.safetensors"  # the window's model, among the user's models
        shutil.copy(default_model_path(), parent)
        dialog = FinetuneDialog(models_dir=models, max_steps_per_epoch=args.steps)
        dialog.prefill(init=parent, data=frames, annotations=labels, replay=home / "camvid")
        dialog.batch_edit.setText("4")
        dialog.crop_edit.setText("224x320")
        dialog.device_box.setCurrentText("cpu")
        dialog.show()
        status = {"code": 1}

        def on_finished(outcome: str) -> None:
            if outcome == "done":
                QTimer.singleShot(500, shoot)  # the table's last paint
            else:
                app.quit()

        def shoot() -> None:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            dialog.grab().save(args.out)
            print(f"wrote {args.out}", file=sys.stderr)
            status["code"] = 0
            app.quit()

        dialog.run_finished.connect(on_finished)
        QTimer.singleShot(600_000, app.quit)  # never hang a headless run
        if not dialog.start():
            print(f"make_finetune_dialog_shot: {dialog.message_label.text()}", file=sys.stderr)
            return 2
        app.exec()
        dialog.shutdown()
    return status["code"]


if __name__ == "__main__":
    sys.exit(main())
