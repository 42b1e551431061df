"""An ONNX model with Cityscapes' 19 classes in the window, scored as CamVid (real window under Xvfb).

Usage (from the repository root; needs Xvfb and ImageMagick's ``import``)::

    CAMVID_VIEWER_CONFIG_DIR=$(mktemp -d) xvfb-run -a -s "-screen 0 1400x900x24" \\
        .venv/bin/python docs/screenshots/make_onnx_model_shot.py

No Cityscapes-trained weights ship with this project (and none can be downloaded here), so the
model is a stand-in built for the picture: the shipped CamVid model with its 12 class scores
spread over Cityscapes' 19 classes (vehicle -> car, pedestrian -> person, cyclist -> bicycle,
traffic light -> traffic sign, ...), exported to ONNX with a card in ``~/models``. The window
opens it like any ONNX model: the legend lists its 19 classes in Cityscapes' colours, the
metrics dock scores it in CamVid's through ``cityscapes-to-camvid``, and the status bar says so.
The picture is ``onnx_model.png``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from neutral_home import neutral_home, scratch_folder  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402
from shot_window import pump, shot_window  # noqa: E402

from model.data import default_camvid_root  # noqa: E402

CITYSCAPES = {  # name: official colour (RGB)
    "road": (128, 64, 128), "sidewalk": (244, 35, 232), "building": (70, 70, 70), "wall": (102, 102, 156),
    "fence": (190, 153, 153), "pole": (153, 153, 153), "traffic light": (250, 170, 30), "traffic sign": (220, 220, 0),
    "vegetation": (107, 142, 35), "terrain": (152, 251, 152), "sky": (70, 130, 180), "person": (220, 20, 60),
    "rider": (255, 0, 0), "car": (0, 0, 142), "truck": (0, 0, 70), "bus": (0, 60, 100), "train": (0, 80, 100),
    "motorcycle": (0, 0, 230), "bicycle": (119, 11, 32),
}
#: Which Cityscapes class each CamVid class's score goes to in the stand-in (void: none).
SPREAD = {"sky": "sky", "building": "building", "column/pole": "pole", "road": "road", "sidewalk": "sidewalk",
          "vegetation": "vegetation", "traffic light": "traffic sign", "fence": "fence", "vehicle": "car",
          "pedestrian": "person", "cyclist": "bicycle"}


def stand_in_model(folder: Path) -> Path:
    """``folder/cityscapes-standin.onnx`` and its card (see the module docstring)."""
    import torch

    from model.checkpoint import load_checkpoint
    from model.classes import CAMVID
    from model.inference import default_model_path
    from model.onnx_backend import export_onnx

    checkpoint = load_checkpoint(default_model_path())
    names = list(CITYSCAPES)
    spread = torch.full((len(names), CAMVID.count), 0.0)
    bias = torch.full((len(names),), -20.0)  # classes no CamVid score feeds stay far below
    for camvid, city in SPREAD.items():
        spread[names.index(city), CAMVID.names.index(camvid)] = 1.0
        bias[names.index(city)] = 0.0

    class CityscapesStandIn(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return torch.einsum("kc,nchw->nkhw", spread, self.inner(x)) + bias[None, :, None, None]

    target = folder / "cityscapes-standin.onnx"
    export_onnx(CityscapesStandIn(checkpoint.build()).eval(), target, (360, 480))
    target.with_suffix(".json").unlink(missing_ok=True)  # the export's hash sidecar: the card goes there
    norm = checkpoint.card["input"]
    card = {"name": "cityscapes-standin", "classes": names, "palette": [list(c) for c in CITYSCAPES.values()],
            "input": {"mean": norm["mean"], "std": norm["std"], "channels": "RGB", "working_size": [360, 480]},
            "output": "logits", "mapping": "cityscapes-to-camvid"}
    target.with_suffix(".json").write_text(json.dumps(card, indent=1))
    return target


def main() -> int:
    root = default_camvid_root()
    if root is None:
        print("make_onnx_model_shot: real CamVid not found (set CAMVID_ROOT)", file=sys.stderr)
        return 2
    home = neutral_home(root)
    with scratch_folder(home / "models") as models:
        model = stand_in_model(models)
        app = QApplication([sys.argv[0]])
        window = shot_window(app, model_path=str(model))
        pump(app, lambda: window.session.model is not None)
        window.open_path(str(home / "camvid" / "val"))
        pump(app, lambda: window.session.result is not None)
        window.set_mode("every-frame")
        window.play(start=0)
        pump(app, lambda: window.session.index >= 12)
        window.pause()
        pump(app, lambda: window.session.shows_named_frame)
        window.legend_dock.raise_()
        window.repaint()
        pump(app, lambda: False, 0.5)
        subprocess.run(["import", "-window", "root", str(HERE / "onnx_model.png")], check=True)
        print("wrote", HERE / "onnx_model.png")
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
