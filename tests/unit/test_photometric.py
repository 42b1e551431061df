"""Strong photometric augmentation on a real CamVid frame: seeded, label-preserving, and it changes light."""

import cv2
import numpy as np
import pytest

from model.data import TrainTransform


def test_strong_photometric_is_seeded_keeps_labels_and_varies_light(camvid_root):
    path = sorted((camvid_root / "train").glob("0006R0_*.png"))[0]
    image = cv2.imread(str(path))
    label = cv2.imread(str(camvid_root / "trainannot" / path.name), cv2.IMREAD_UNCHANGED)
    basic = TrainTransform(crop=(288, 384))
    strong = TrainTransform(crop=(288, 384), photometric="strong")
    a = strong(image, label, np.random.default_rng(7))
    b = strong(image, label, np.random.default_rng(7))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])  # one seed, one draw
    plain = basic(image, label, np.random.default_rng(7))
    assert np.array_equal(a[1], plain[1])  # geometry and labels are the basic transform's
    assert a[0].dtype == np.uint8 and a[0].shape == plain[0].shape
    brightness = [strong(image, label, np.random.default_rng(s))[0].mean() for s in range(12)]
    basic_brightness = [basic(image, label, np.random.default_rng(s))[0].mean() for s in range(12)]
    assert np.std(brightness) > np.std(basic_brightness)  # a wider spread of exposures
    with pytest.raises(ValueError, match="unknown photometric"):
        TrainTransform(photometric="extreme")
