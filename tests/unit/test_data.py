"""Dataset discovery, pairing, reading and transforms, on real CamVid and on broken files."""

import shutil

import numpy as np
import pytest

from model.data import (
    CamVidDataset,
    DataError,
    TrainTransform,
    detect_splits,
    list_images,
    natural_key,
    pair_by_stem,
    read_label,
)


def test_natural_order():
    names = ["f10.png", "f2.png", "f1.png"]
    assert sorted(names, key=natural_key) == ["f1.png", "f2.png", "f10.png"]


def test_segnet_layout_on_real_camvid(camvid_root):
    splits = {s.name: s for s in detect_splits(camvid_root)}
    assert {"train", "val"} <= set(splits)
    pairs = pair_by_stem(splits["val"].images, splits["val"].annotations)
    assert len(pairs) == 101
    ds = CamVidDataset(pairs[:3])
    image, label = ds[0]
    assert tuple(image.shape) == (3, 360, 480)
    assert tuple(label.shape) == (360, 480)
    assert label.dtype.is_floating_point is False
    assert int(label.max()) <= 11


def test_origin_notebook_layout(tmp_path, camvid_root):
    root = tmp_path / "dataset1"
    for split, src in (("train", "train"), ("test", "val")):
        (root / f"images_prepped_{split}").mkdir(parents=True)
        (root / f"annotations_prepped_{split}").mkdir(parents=True)
        for p in sorted((camvid_root / src).glob("*.png"))[:2]:
            shutil.copy(p, root / f"images_prepped_{split}" / p.name)
            shutil.copy(camvid_root / f"{src}annot" / p.name, root / f"annotations_prepped_{split}" / p.name)
    names = [s.name for s in detect_splits(root)]
    assert names == ["train", "test"]
    ds = CamVidDataset.from_root(root, "test")
    assert len(ds) == 2


def test_transform_keeps_labels_as_indices(camvid_root):
    pairs = pair_by_stem(camvid_root / "train", camvid_root / "trainannot")[:2]
    ds = CamVidDataset(pairs, transform=TrainTransform(crop=(128, 160)), seed=3)
    a = ds[0]
    b = ds[0]
    assert tuple(a[0].shape) == (3, 128, 160) and tuple(a[1].shape) == (128, 160)
    assert (a[0] == b[0]).all()  # same seed + epoch + index -> same draw
    ds.set_epoch(1)
    assert not (ds[0][0] == a[0]).all()
    assert set(np.unique(a[1].numpy())) <= set(range(12))


def _two_folders(tmp_path):
    images, annots = tmp_path / "img", tmp_path / "ann"
    images.mkdir()
    annots.mkdir()
    return images, annots


def _png(path, array):
    import cv2

    assert cv2.imwrite(str(path), array)


def test_bad_data_errors_name_the_file(tmp_path):
    images, annots = _two_folders(tmp_path)
    with pytest.raises(DataError, match="no image files"):
        pair_by_stem(images, annots)
    _png(images / "a.png", np.zeros((4, 6, 3), np.uint8))
    with pytest.raises(DataError, match="a.png: frame has no annotation"):
        pair_by_stem(images, annots)
    _png(annots / "a.png", np.full((4, 6), 12, np.uint8))
    with pytest.raises(DataError, match=r"a.png: label value 12 > 11"):
        CamVidDataset(pair_by_stem(images, annots))
    _png(annots / "a.png", np.zeros((5, 6), np.uint8))
    with pytest.raises(DataError, match="annotation is 6x5"):
        CamVidDataset(pair_by_stem(images, annots))
    data = (images / "a.png").read_bytes()
    (images / "a.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="a.png: truncated"):
        CamVidDataset(pair_by_stem(images, annots))
    (images / "a.png").write_bytes(b"not an image at all")
    with pytest.raises(DataError, match="a.png"):
        CamVidDataset(pair_by_stem(images, annots))


def test_skip_bad_counts_instead_of_failing(tmp_path):
    images, annots = _two_folders(tmp_path)
    for name in ("a", "b"):
        _png(images / f"{name}.png", np.zeros((4, 6, 3), np.uint8))
    _png(annots / "a.png", np.zeros((4, 6), np.uint8))
    _png(annots / "b.png", np.full((4, 6), 200, np.uint8))
    ds = CamVidDataset(pair_by_stem(images, annots), skip_bad=True)
    assert len(ds) == 1 and ds.skipped == 1


def test_colour_annotation_rejected(tmp_path):
    path = tmp_path / "c.png"
    img = np.zeros((3, 3, 3), np.uint8)
    img[..., 2] = 5
    _png(path, img)
    with pytest.raises(DataError, match="colour image"):
        read_label(path)


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        list_images(tmp_path / "nope")
