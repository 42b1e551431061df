"""The viewer window end to end (pytest-qt, offscreen) on real CamVid frames.

Every window here uses the small random checkpoint (``random_checkpoint``) on the torch
backend, and QSettings in a temporary folder, so nothing depends on the shipped model or
touches the user's settings.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from model.classes import VOID_INDEX
from model.data import read_image, read_label
from model.metrics import ConfusionMatrix

ROOT = Path(__file__).resolve().parents[2]
WAIT_MS = 60_000  # model calls on 2 busy cores can take a second each

pytestmark = pytest.mark.timeout(180)


# -- fixtures -------------------------------------------------------------------------------------
def _copy_split(camvid_root: Path, dest: Path, count: int, name: str = "val") -> Path:
    images = sorted((camvid_root / "val").glob("*.png"))[:count]
    for sub, src in ((name, "val"), (f"{name}annot", "valannot")):
        (dest / sub).mkdir(parents=True)
        for image in images:
            shutil.copy(camvid_root / src / image.name, dest / sub / image.name)
    return dest / name


@pytest.fixture
def val_folder(tmp_path, camvid_root) -> Path:
    """12 real val frames in SegNet layout (``val/`` + ``valannot/``), so truth is found by itself."""
    return _copy_split(camvid_root, tmp_path / "camvid", 12)


def _make_window(qtbot, checkpoint, **kwargs):
    from camvid_viewer.ui.main_window import MainWindow
    from camvid_viewer.ui.settings import ViewerSettings

    kwargs.setdefault("backend", "torch")
    window = MainWindow(settings=ViewerSettings(organization="camvid-viewer-tests"),
                        model_path=str(checkpoint) if checkpoint else None, **kwargs)
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def window(qtbot, random_checkpoint):
    window = _make_window(qtbot, random_checkpoint)
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=WAIT_MS)
    return window


@pytest.fixture
def bare_window(qtbot):
    """A window without a model: enough for decoding, seeking and bad-input checks, and fast."""
    return _make_window(qtbot, None, load_model=False)


def open_and_wait(qtbot, window, path) -> None:
    with qtbot.waitSignal(window.source_opened, timeout=WAIT_MS):
        window.open_path(str(path))
    wait_for_index(qtbot, window, 0 if not window.session.source.is_live else None)


def wait_for_index(qtbot, window, index) -> None:
    def shown():
        result = window.session.result
        return result is not None and (index is None or result.index == index)

    qtbot.waitUntil(shown, timeout=WAIT_MS)


def expect_message(qtbot, window, action, *fragments) -> str:
    with qtbot.waitSignal(window.message, timeout=WAIT_MS) as blocker:
        action()
    text = blocker.args[0]
    for fragment in fragments:
        assert fragment in text, text
    assert "\n" not in text and "Traceback" not in text
    return text


def play_to_end(qtbot, window, *, mode: str, speed) -> list[int]:
    shown: list[int] = []
    window.session.events.result.connect(lambda r: shown.append(r.index))
    window.set_mode(mode)
    window.set_speed(speed)
    with qtbot.waitSignal(window.pipeline.finished, timeout=WAIT_MS * 2) as blocker:
        window.play()
    assert blocker.args == ["end"]
    assert not window.session.playing
    return shown


def play_every_frame(qtbot, window) -> dict:
    """Play from frame 0 to the end, every frame, as fast as the model goes; the results by index."""
    shown = {}
    window.session.events.result.connect(lambda r: shown.__setitem__(r.index, r))
    window.set_mode("every-frame")
    window.set_speed(None)
    with qtbot.waitSignal(window.pipeline.finished, timeout=WAIT_MS * 2):
        window.play(start=0)
    return shown


# -- sources, stepping, metrics -------------------------------------------------------------------
def test_open_folder_step_and_dock_numbers_equal_model_metrics(qtbot, window, val_folder):
    from camvid_viewer.session import format_score

    open_and_wait(qtbot, window, val_folder)
    session, dock = window.session, window.metrics_dock
    assert session.truth is not None and session.truth.labelled_indices == list(range(12))
    assert window.playback_bar.slider.labelled == list(range(12))
    files = sorted(val_folder.glob("*.png"))
    running = ConfusionMatrix(ignore_index=VOID_INDEX)
    for index in range(3):
        if index:
            window.step(1)
            wait_for_index(qtbot, window, index)
        result = session.result
        assert np.array_equal(result.frame, read_image(files[index]))  # the frame the counter names
        assert window.playback_bar.counter.text().startswith(f"frame {index} / 11")
        frame = ConfusionMatrix(ignore_index=VOID_INDEX)
        frame.update(result.labels, read_label(val_folder.parent / "valannot" / files[index].name))
        running.update(result.labels, read_label(val_folder.parent / "valannot" / files[index].name))
        expected = frame.compute()
        assert dock.frame_scores == expected
        assert dock.pixel_accuracy_label.text() == format_score(expected.pixel_accuracy)
        assert dock.mean_iou_label.text() == format_score(expected.mean_iou)
        for row in range(12):
            assert dock.cell_text(row, 1) == format_score(expected.iou[row])
            assert dock.cell_text(row, 2) == format_score(expected.dice[row])
        assert dock.cell_text(VOID_INDEX, 1) == "n/a"
        assert dock.running_scores == running.compute()
    window.step(-1)  # stepping back does not score frame 1 twice
    wait_for_index(qtbot, window, 1)
    assert dock.running_scores == running.compute()
    assert "over 3 frame(s)" in dock.running_label.text()
    dock.reset_button.click()
    assert dock.running_scores is None and dock.running_label.text().startswith("Running: no frame")
    window.jump_labelled(1)
    wait_for_index(qtbot, window, 2)


def test_every_frame_playback_scores_all_frames_like_eval_cli(qtbot, window, tmp_path, camvid_root):
    """The dock's running figures equal ``main.py eval`` scoring the window's own predictions.

    ``eval --predictions`` scores saved label maps, so the CLI scores exactly what the window
    showed (no second model run, whose thread count could flip a few pixels).
    """
    val_folder = _copy_split(camvid_root, tmp_path / "small", 6)
    open_and_wait(qtbot, window, val_folder)
    predictions = {0: window.session.result.labels}
    window.session.events.result.connect(lambda r: predictions.__setitem__(r.index, r.labels))
    shown = play_to_end(qtbot, window, mode="every-frame", speed=None)
    assert shown == [1, 2, 3, 4, 5]  # every frame, in order, none dropped
    assert window.session.dropped == 0 and window.session.scored_indices == set(range(6))
    saved = tmp_path / "predicted"
    saved.mkdir()
    for index, image in enumerate(sorted(val_folder.glob("*.png"))):
        cv2.imwrite(str(saved / image.name), predictions[index])
    eval_cli = subprocess.run(
        [sys.executable, "main.py", "eval", "--images", str(val_folder), "--annotations", str(val_folder.parent / "valannot"),
         "--predictions", str(saved), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert eval_cli.returncode == 0, eval_cli.stderr
    report = json.loads(eval_cli.stdout)
    running = window.metrics_dock.running_scores
    assert report["frames"] == 6
    assert running.pixel_accuracy == report["pixel_accuracy"] and running.mean_iou == report["mean_iou"]
    for name, iou, dice in zip(running.class_names, running.iou, running.dice, strict=True):
        cli = report["per_class"][name]
        assert (iou is None) == (cli is None)
        if cli is not None:
            assert (iou, dice) == (cli["iou"], cli["dice"])


def test_realtime_playback_drops_frames_it_cannot_keep_up_with(qtbot, window, val_folder):
    open_and_wait(qtbot, window, val_folder)
    window.session.source.fps = 120.0  # far faster than a CPU model: frames must be dropped
    shown = play_to_end(qtbot, window, mode="realtime", speed=4.0)
    dropped = window.session.dropped
    assert dropped > 0 and len(shown) + dropped == 11
    assert shown == sorted(shown)
    assert window.status.labels["dropped"].text() == f"dropped {dropped}"
    assert "fps" in window.status.labels["fps"].text() and "ms/frame" in window.status.labels["model_ms"].text()
    assert "random-test-model" in window.status.labels["model"].text()


def _write_video(path: Path, frames: list[np.ndarray], fps: int = 15) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.gop_size = 8  # seeks land mid-GOP
        stream.options = {"preset": "veryfast", "crf": "20"}  # B-frames on
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture
def val_video(tmp_path, camvid_root) -> Path:
    """An H.264 clip of 30 val frames, with ``clipannot/`` holding labels named by frame index."""
    files = sorted((camvid_root / "val").glob("*.png"))[:30]
    video = tmp_path / "clip.mp4"
    _write_video(video, [read_image(f) for f in files])
    annot = tmp_path / "clipannot"
    annot.mkdir()
    for index in (0, 10, 20):
        shutil.copy(camvid_root / "valannot" / files[index].name, annot / f"{index:06d}.png")
    return video


def test_seek_on_a_video_shows_exactly_the_named_frame(qtbot, bare_window, val_video):
    import av

    with av.open(str(val_video)) as container:
        reference = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]  # decoded from the start
    window = bare_window
    open_and_wait(qtbot, window, val_video)
    assert window.session.frame_count == len(reference) == 30
    assert window.session.truth.labelled_indices == [0, 10, 20]
    for index in (17, 3, 29, 9, 0, 23):
        window.seek(index)
        wait_for_index(qtbot, window, index)
        assert window.playback_bar.slider.value() == index
        assert np.array_equal(window.session.result.frame, reference[index]), f"frame {index}"
    window.step(1)
    wait_for_index(qtbot, window, 24)
    window.go_last()
    wait_for_index(qtbot, window, 29)
    window.jump_labelled(-1)
    wait_for_index(qtbot, window, 20)
    window.go_first()
    wait_for_index(qtbot, window, 0)
    assert np.array_equal(window.session.result.frame, reference[0])
    assert window.playback_bar.counter.text() == "frame 0 / 29  0:00.00 / 0:02.00"


# -- bad input: one clear line, the window keeps its source and model -----------------------------
def test_bad_sources_leave_the_previous_source_usable(qtbot, bare_window, val_folder, val_video, tmp_path):
    window = bare_window
    open_and_wait(qtbot, window, val_folder)
    good = window.session.source
    not_video = tmp_path / "notes.txt"
    not_video.write_text("not a video")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(val_video.read_bytes()[:2000])
    empty = tmp_path / "empty"
    empty.mkdir()
    for path in (not_video, truncated, empty, tmp_path / "missing.mp4"):
        expect_message(qtbot, window, lambda p=path: window.open_path(str(p)), path.name)
        assert window.session.source is good
    assert window.notice.text() and window.statusBar().currentMessage()
    window.step(1)
    wait_for_index(qtbot, window, 1)  # the previous source still plays


def test_mixed_sizes_and_an_unreadable_frame_mid_stream(qtbot, window, tmp_path, camvid_root):
    folder = _copy_split(camvid_root, tmp_path / "mixed", 6)
    small = folder / sorted(p.name for p in folder.glob("*.png"))[2]
    cv2.imwrite(str(small), cv2.resize(read_image(small), (240, 180)))  # its annotation stays 480x360
    broken = sorted(folder.glob("*.png"))[4]
    broken.write_bytes(broken.read_bytes()[:500])  # truncated PNG
    open_and_wait(qtbot, window, folder)
    failures = []
    window.pipeline.frame_failed.connect(lambda i, m: failures.append((i, m)))
    notes = []
    window.session.events.result.connect(lambda r: r.note and notes.append((r.index, r.note)))
    shown = play_to_end(qtbot, window, mode="every-frame", speed=None)
    assert shown == [1, 2, 3, 5]  # frame 4 unreadable, playback went on past it
    assert failures and failures[0][0] == 4 and broken.name in failures[0][1]
    assert notes == [(2, notes[0][1])] and "not scored" in notes[0][1]
    assert window.session.scored_indices == {0, 1, 3, 5}
    window.seek(2)
    wait_for_index(qtbot, window, 2)
    assert window.session.result.frame.shape[:2] == (180, 240) and window.metrics_dock.frame_scores is None
    expect_message(qtbot, window, lambda: window.seek(4), broken.name)
    assert window.session.result.index == 2  # the frame before stays on screen


def test_bad_checkpoint_keeps_the_previous_model(qtbot, window, tmp_path, val_folder):
    open_and_wait(qtbot, window, val_folder)
    model = window.session.model
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x00" * 100)
    expect_message(qtbot, window, lambda: window.load_model(str(bad)), "broken.safetensors")
    assert window.session.model is model
    window.step(1)
    wait_for_index(qtbot, window, 1)
    assert window.session.result.labels is not None
    if not _has_cuda():
        expect_message(qtbot, window, lambda: window.actions.devices["cuda"].trigger(), "CUDA")
        assert window.session.model is model and window.session.device_choice == "auto"
        assert window.actions.devices["auto"].isChecked()


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_missing_shipped_model_is_reported_in_the_window(qtbot, monkeypatch, tmp_path):
    import model.inference

    monkeypatch.setattr(model.inference, "default_model_path", lambda: tmp_path / "nothing.safetensors")
    window = _make_window(qtbot, None)
    qtbot.waitUntil(lambda: "nothing.safetensors" in window.notice.text(), timeout=WAIT_MS)
    assert window.session.model is None
    assert "No model loaded" in window.welcome.model_label.text()


def test_network_stream_plays_until_lost_then_retry_reconnects(qtbot, window, camvid_root, tmp_path):
    """A real stream URL (MPEG-TS over local HTTP): frames are segmented live; when the server has
    sent everything the window says the connection was lost and Retry opens the URL again."""
    from media_samples import http_stream, mpegts_bytes, val_frames

    shown: list[int] = []
    window.session.events.result.connect(lambda r: shown.append(r.index) if r.labels is not None else None)
    with http_stream(mpegts_bytes(tmp_path, val_frames(camvid_root, 20))) as url:
        with qtbot.waitSignal(window.source_opened, timeout=WAIT_MS):
            window.open_path(url)
        assert window.session.source.is_live and window.session.source.path == url
        if not window.session.playing:
            window.toggle_play()
        qtbot.waitUntil(lambda: "Connection lost" in window.notice.text(), timeout=WAIT_MS)
        assert url in window.notice.text() and window.notice.action_button.text() == "Retry"
        assert shown and shown == sorted(shown)  # live frames in arrival order (late ones may be skipped)
        with qtbot.waitSignal(window.source_opened, timeout=WAIT_MS):
            window.notice.action_button.click()
        assert window.session.source.path == url


def test_lost_stream_offers_retry(qtbot, bare_window):
    from types import SimpleNamespace

    window = bare_window
    url = "rtsp://127.0.0.1:1/camera"  # nothing listens there: the retry fails with one line
    window.session.source = SimpleNamespace(path=url, is_live=True, frame_count=None, close=lambda: None)
    window._on_playback_finished(f"lost: {url}: the stream stopped sending frames")
    assert "Connection lost" in window.notice.text()
    assert not window.notice.action_button.isHidden() and window.notice.action_button.text() == "Retry"
    expect_message(qtbot, window, window.notice.action_button.click, url)


# -- view output, settings, drag and drop, shutdown -----------------------------------------------
def test_views_save_png_copy_and_settings_persist(qtbot, window, val_folder, tmp_path, random_checkpoint):
    from PyQt6.QtGui import QGuiApplication

    open_and_wait(qtbot, window, val_folder)
    for view, width in (("side-by-side", 1440), ("mask", 480), ("error", 480), ("overlay", 480)):
        window.actions.views[view].trigger()
        assert window.session.view == view and window.canvas.image().width() == width
    window.session.set_opacity(0.8)
    window.legend_dock.checkboxes[3].setChecked(False)
    assert window.session.hidden == {3}
    out = tmp_path / "out" / "view.png"
    out.parent.mkdir()
    assert window.save_view_png(str(out))
    assert cv2.imread(str(out)).shape == (360, 480, 3) and os.listdir(out.parent) == ["view.png"]
    window.copy_view()
    assert not QGuiApplication.clipboard().image().isNull()
    window.close()
    again = _make_window(qtbot, random_checkpoint)
    assert again.session.opacity == pytest.approx(0.8) and again.session.view == "overlay"
    assert again.playback_bar.opacity.value() == 80
    assert again.welcome.recent.item(0).text() == str(val_folder)


def test_get_the_camvid_sample_opens_its_test_sequence(qtbot, bare_window, monkeypatch, tmp_path, camvid_root):
    import camvid_viewer.sources.download as download

    dest = tmp_path / "data" / "CamVid"
    calls = []

    def fake_download(target, *, url=download.DEFAULT_URL, progress=None, cancel=None):
        calls.append(target)
        progress(50, 100)
        _copy_split(camvid_root, Path(target), 3, name="test")
        return Path(target)

    monkeypatch.setattr(download, "default_dest", lambda: dest)
    monkeypatch.setattr(download, "download_camvid", fake_download)
    welcome = bare_window.welcome
    assert welcome.sample_button.isVisible()
    with qtbot.waitSignal(bare_window.source_opened, timeout=WAIT_MS) as blocker:
        welcome.sample_button.click()
    assert blocker.args == [str(dest / "test")] and calls == [dest]
    assert bare_window.session.truth.labelled_indices == [0, 1, 2]  # testannot/ found beside it


def test_keyboard_shortcuts_step_and_jump(qtbot, bare_window, val_folder):
    from PyQt6.QtCore import Qt

    window = bare_window
    open_and_wait(qtbot, window, val_folder)
    window.activateWindow()
    for key, index in ((Qt.Key.Key_Right, 1), (Qt.Key.Key_Right, 2), (Qt.Key.Key_Left, 1), (Qt.Key.Key_End, 11), (Qt.Key.Key_Home, 0)):
        qtbot.keyClick(window.canvas, key)
        wait_for_index(qtbot, window, index)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Space)
    assert window.session.playing
    qtbot.keyClick(window.canvas, Qt.Key.Key_Space)
    assert not window.session.playing


def test_drop_a_folder_opens_it(qtbot, bare_window, val_folder):
    from PyQt6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PyQt6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(val_folder))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(bare_window.source_opened, timeout=WAIT_MS):
        bare_window.dropEvent(event)
    assert bare_window.session.source.path == str(val_folder)


def test_closing_while_playing_stops_threads_cleanly(qtbot, window, val_folder, qtlog):
    open_and_wait(qtbot, window, val_folder)
    window.set_mode("every-frame")
    window.set_speed(0.25)
    window.play()
    qtbot.waitUntil(lambda: window.session.result.index >= 1, timeout=WAIT_MS)
    assert window.session.playing
    start = time.monotonic()
    window.close()
    assert time.monotonic() - start < 10
    names = {t.name for t in threading.enumerate()}
    assert not names & {"decode", "playback", "still-frame"}
    problems = [r.message for r in qtlog.records if "propagateSizeHints" not in r.message]
    assert problems == []


def test_memory_stays_flat_while_looping(qtbot, bare_window, val_folder):
    def rss_mb() -> float:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    if not Path("/proc/self/statm").exists():
        pytest.skip("needs /proc to read the resident set size")
    window = bare_window
    open_and_wait(qtbot, window, val_folder)
    shown = []
    window.session.events.result.connect(lambda r: shown.append(r.index))
    window.session.set_loop(True)
    window.set_mode("every-frame")
    window.set_speed(None)
    window.play()
    qtbot.waitUntil(lambda: len(shown) >= 48, timeout=WAIT_MS)
    before = rss_mb()
    qtbot.waitUntil(lambda: len(shown) >= 240, timeout=WAIT_MS)  # 16 more times round the clip
    assert rss_mb() - before < 40
    window.pause()
    assert set(shown) == set(range(12))


def test_without_a_display_the_app_says_so_in_one_line():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    run = subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "no display" in lines[0] and "python main.py --help" in lines[0]
    assert run.stdout == ""
