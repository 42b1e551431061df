"""Label maps to pictures (camvid_viewer.rendering.views): pure functions, no QApplication."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from camvid_viewer.rendering import (
    VIEWS,
    blend,
    colourise,
    draw_legend,
    draw_metrics_text,
    error_map,
    render_view,
    side_by_side,
)
from model.classes import CLASS_NAMES, VOID_INDEX, palette_bgr

PALETTE = palette_bgr()


@pytest.fixture
def scene():
    """A grey 40x60 frame; labels: left half road (3), right half sky (0); truth: top row void, a car."""
    frame = np.full((40, 60, 3), 100, np.uint8)
    labels = np.zeros((40, 60), np.uint8)
    labels[:, :30] = 3
    truth = labels.copy()
    truth[:5] = 11
    truth[20:30, 40:50] = 8
    return frame, labels, truth


def test_colourise_uses_palette_and_hides_classes(scene):
    _, labels, _ = scene
    out = colourise(labels, palette_bgr=PALETTE)
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    assert tuple(out[0, 0]) == tuple(PALETTE[3]) and tuple(out[0, 59]) == tuple(PALETTE[0])
    hidden = colourise(labels, palette_bgr=PALETTE, hidden={3})
    assert tuple(hidden[0, 0]) == (0, 0, 0)


def test_blend_opacity_and_hidden_classes(scene):
    frame, labels, _ = scene
    before = frame.copy()
    assert np.array_equal(blend(frame, labels, palette_bgr=PALETTE, opacity=0.0), frame)
    assert np.array_equal(blend(frame, labels, palette_bgr=PALETTE, opacity=1.0), colourise(labels, palette_bgr=PALETTE))
    half = blend(frame, labels, palette_bgr=PALETTE, opacity=0.5)
    expected = (PALETTE[3].astype(int) + 100) / 2
    assert np.abs(half[10, 10].astype(int) - expected).max() <= 1
    hidden = blend(frame, labels, palette_bgr=PALETTE, opacity=0.7, hidden={0})
    assert np.array_equal(hidden[:, 30:], frame[:, 30:])  # sky hidden: the frame shows through
    assert not np.array_equal(hidden[:, :30], frame[:, :30])
    assert np.array_equal(frame, before)  # inputs untouched
    with pytest.raises(ValueError, match="do not match"):
        blend(frame, labels[:20], palette_bgr=PALETTE)


def test_side_by_side_panels(scene):
    frame, labels, truth = scene
    three = side_by_side(frame, labels, truth, palette_bgr=PALETTE)
    assert three.shape == (40, 180, 3)
    assert np.array_equal(three[:, :60], frame)
    assert np.array_equal(three[:, 60:120], colourise(labels, palette_bgr=PALETTE))
    assert np.array_equal(three[:, 120:], colourise(truth, palette_bgr=PALETTE))
    assert side_by_side(frame, labels, None, palette_bgr=PALETTE).shape == (40, 120, 3)
    assert side_by_side(frame, labels, None, palette_bgr=PALETTE, gap=4).shape == (40, 124, 3)


def test_error_map_modes(scene):
    frame, labels, truth = scene
    by_truth = error_map(frame, labels, truth, palette_bgr=PALETTE, void_index=VOID_INDEX)
    assert tuple(by_truth[25, 45]) == tuple(PALETTE[8])  # wrong (sky predicted on a car): true class colour
    assert tuple(by_truth[10, 10]) == (30, 30, 30)  # correct: the frame dimmed
    assert tuple(by_truth[0, 0]) == (128, 128, 128)  # void: grey
    by_prediction = error_map(frame, labels, truth, palette_bgr=PALETTE, void_index=VOID_INDEX, mode="prediction")
    assert tuple(by_prediction[25, 45]) == tuple(PALETTE[0])
    with pytest.raises(ValueError, match="mode"):
        error_map(frame, labels, truth, palette_bgr=PALETTE, void_index=VOID_INDEX, mode="nope")


def test_legend_shows_swatches_of_visible_classes():
    black = np.zeros((360, 480, 3), np.uint8)
    out = draw_legend(black, class_names=CLASS_NAMES, palette_bgr=PALETTE, hidden={8}, void_index=VOID_INDEX)
    assert out.shape == black.shape and not black.any()

    def has_colour(image, colour):
        return bool(np.all(image == np.asarray(colour, np.uint8), axis=2).any())

    assert has_colour(out, PALETTE[4])  # sidewalk swatch
    assert not has_colour(out, PALETTE[8])  # vehicle hidden
    assert has_colour(out, (255, 255, 255))  # names in white
    ys, xs = np.nonzero(out.any(axis=2))
    assert xs.max() < 240 and ys.min() > 100  # a box in the bottom-left corner, not over the whole frame


def test_legend_fits_small_frames():
    out = draw_legend(np.zeros((120, 160, 3), np.uint8), class_names=CLASS_NAMES, palette_bgr=PALETTE, void_index=VOID_INDEX)
    assert out.shape == (120, 160, 3) and out.any()


def test_metrics_text_is_readable_on_bright_frames():
    white = np.full((360, 480, 3), 255, np.uint8)
    out = draw_metrics_text(white, mean_iou=0.612, pixel_accuracy=None)
    band = out[:30, :200]
    assert (band < 120).mean() > 0.3  # a dark band behind the text...
    assert (band == 255).all(axis=2).any()  # ...with white text on it
    assert np.array_equal(out[200:], white[200:])


def test_render_view_dispatch(scene):
    frame, labels, truth = scene
    kw = dict(palette_bgr=PALETTE, opacity=0.5, hidden=frozenset(), legend=False, class_names=CLASS_NAMES, void_index=VOID_INDEX)
    assert np.array_equal(render_view("overlay", frame, labels, truth, **kw), blend(frame, labels, palette_bgr=PALETTE))
    assert render_view("side-by-side", frame, labels, truth, **kw).shape == (40, 180, 3)
    assert np.array_equal(render_view("mask", frame, labels, None, **kw), colourise(labels, palette_bgr=PALETTE))
    assert np.array_equal(render_view("error", frame, labels, truth, **kw), error_map(frame, labels, truth, palette_bgr=PALETTE, void_index=VOID_INDEX))
    assert np.array_equal(render_view("error", frame, labels, None, **kw), render_view("overlay", frame, labels, None, **kw))
    assert set(VIEWS) == {"overlay", "side-by-side", "mask", "error"}
    with pytest.raises(ValueError, match="unknown view"):
        render_view("sepia", frame, labels, truth, **kw)


def test_overlay_on_a_real_camvid_frame(camvid_root):
    name = sorted((camvid_root / "val").glob("*.png"))[0].name
    frame = cv2.imread(str(camvid_root / "val" / name))
    truth = cv2.imread(str(camvid_root / "valannot" / name), cv2.IMREAD_GRAYSCALE)
    out = render_view("overlay", frame, truth, truth, palette_bgr=PALETTE, opacity=0.6, hidden=frozenset(),
                      legend=True, class_names=CLASS_NAMES, void_index=VOID_INDEX)
    assert out.shape == frame.shape
    road = truth == 3
    assert road.any()
    diff = np.abs(out.astype(int) - frame.astype(int)).sum(axis=2)
    assert (diff[road] > 20).mean() > 0.9  # road pixels tinted
