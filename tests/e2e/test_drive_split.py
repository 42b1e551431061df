"""Drive-held-out validation on real CamVid file names: no frame of a held-out drive is trained on,
and the card records the drives, the held-out figures and the command that made them."""

import json
import shutil

import pytest

from model.checkpoint import read_card
from model.data import pair_by_stem
from model.drives import count_by_drive, drive_of, drive_relations, split_by_drive
from model.image_files import DataError
from tests.e2e.test_train_cli import SMALL, run_cli


def test_real_camvid_drives_split_cleanly(camvid_root):
    pairs = pair_by_stem(camvid_root / "train", camvid_root / "trainannot")
    assert count_by_drive(p[0] for p in pairs) == {"0001TP": 62, "0006R0": 101, "0016E5": 204}
    train, held = split_by_drive(pairs, ("0001TP",), source=camvid_root)
    assert {drive_of(p[0]) for p in held} == {"0001TP"} and len(held) == 62
    assert "0001TP" not in {drive_of(p[0]) for p in train} and len(train) + len(held) == len(pairs)
    assert {drive_of(p[0]) for p in train} & {drive_of(p[0]) for p in held} == set()
    with pytest.raises(DataError, match=r"no frame of drive Seq05VD .*0001TP \(62 frames\)"):
        split_by_drive(pairs, ("Seq05VD",), source=camvid_root)
    with pytest.raises(DataError, match="leaves no frame to train on"):
        split_by_drive(pairs, ("0001TP", "0006R0", "0016E5"), source=camvid_root)


def test_drive_names_and_relations():
    assert drive_of("0016E5_07959.png") == "0016E5" and drive_of("Seq05VD_f00000.png") == "Seq05VD"
    assert drive_of("frame0001.png") is None and drive_of("_x.png") is None
    card = {"drives": {"trained_on": {"0006R0": 101}, "held_out": {"0001TP": 62}}}
    assert drive_relations({"0001TP": 3, "0006R0": 2, "?": 1}, card) == {
        "0001TP": "not trained on", "0006R0": "trained on", "?": "unknown"}
    assert drive_relations({"0001TP": 3}, {}) == {"0001TP": "unknown"}


@pytest.fixture
def three_drives(tmp_path, camvid_root):
    """3 train frames from each of CamVid's three drives, and 2 val frames (drive 0016E5)."""
    root = tmp_path / "drives"
    for split, take in (("train", {"0001TP": 3, "0006R0": 3, "0016E5": 3}), ("val", {"0016E5": 2})):
        for sub in (split, f"{split}annot"):
            (root / sub).mkdir(parents=True)
        for drive, count in take.items():
            for image in sorted((camvid_root / split).glob(f"{drive}_*.png"))[:count]:
                shutil.copy(image, root / split / image.name)
                shutil.copy(camvid_root / f"{split}annot" / image.name, root / f"{split}annot" / image.name)
    return root


def test_train_with_a_held_out_drive_records_it_in_the_card(three_drives, tmp_path):
    out = tmp_path / "held.safetensors"
    done = run_cli("train", "--data", str(three_drives), "--val-split", "drive:0001TP", "--epochs", "1",
                   "--max-steps-per-epoch", "1", "--out", str(out), "--progress", "json", *SMALL)
    assert done.returncode == 0, done.stderr
    card = read_card(out)
    assert card["drives"] == {"trained_on": {"0006R0": 3, "0016E5": 3}, "held_out": {"0001TP": 3}}
    assert card["held_out_metrics"]["frames"] == 3 and card["val_metrics"] == card["held_out_metrics"]
    assert 0 <= card["held_out_metrics"]["mean_iou"] <= 1
    assert card["same_drive_val_metrics"]["frames"] == 2 and card["same_drive_val_metrics"]["drives"] == {"0016E5": 2}
    assert "--val-split drive:0001TP" in card["training_command"]
    assert card["training_command"].startswith("python main.py train ")
    assert card["selection"].startswith("last epoch")

    scored = run_cli("eval", "--images", str(three_drives / "train"), "--annotations", str(three_drives / "trainannot"),
                     "--model", str(out), "--json", "--backend", "torch")
    assert scored.returncode == 0, scored.stderr
    drives = json.loads(scored.stdout)["drives"]
    assert {d: (v["frames"], v["relation"]) for d, v in drives.items()} == {
        "0001TP": (3, "not trained on"), "0006R0": (3, "trained on"), "0016E5": (3, "trained on")}
    # the held-out drive scored by eval is the figure the trainer wrote into the card
    assert drives["0001TP"]["mean_iou"] == pytest.approx(card["held_out_metrics"]["mean_iou"], abs=2e-3)
    table = run_cli("eval", "--images", str(three_drives / "train"), "--annotations", str(three_drives / "trainannot"),
                    "--model", str(out), "--backend", "torch").stdout
    assert any(line.startswith("0001TP") and line.endswith("not trained on") for line in table.splitlines())


def test_a_drive_the_data_lacks_is_one_line(three_drives, tmp_path):
    done = run_cli("train", "--data", str(three_drives), "--val-split", "drive:Seq05VD", "--epochs", "1",
                   "--out", str(tmp_path / "x.safetensors"), *SMALL)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert "no frame of drive Seq05VD" in done.stderr and "0001TP (3 frames)" in done.stderr
    assert not (tmp_path / "x.safetensors").exists()
