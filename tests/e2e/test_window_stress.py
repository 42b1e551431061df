"""The window under random clicks (``tools/window_stress.py``): two fixed seeds, and a self-check
that each detector fires on a fault injected on purpose.

The runs use real CamVid val frames (with their truth) and a real video made from the next
ones at another size and frame rate. Long runs with any seed: ``python tools/window_stress.py``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)


def _load_driver():
    spec = importlib.util.spec_from_file_location("window_stress", ROOT / "tools" / "window_stress.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


stress = _load_driver()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, camvid_root) -> list[str]:
    return stress.stress_inputs(camvid_root, tmp_path_factory.mktemp("stress"), frames=30)


@pytest.fixture
def make_window(qtbot, random_checkpoint):
    from camvid_viewer.ui.main_window import MainWindow
    from camvid_viewer.ui.settings import ViewerSettings

    def make():
        window = MainWindow(settings=ViewerSettings(organization="camvid-viewer-tests"),
                            model_path=str(random_checkpoint), backend="torch")
        window.show()
        return window

    return make


def _run(inputs, make_window, random_checkpoint, **overrides):
    """A run of ``seconds`` of clicks; the self-checks wait less (their faults leave the window broken)."""
    settings = {"seed": 0, "seconds": 4, "settle_s": 4.0, "thread_wait_s": 2.0, **overrides}
    config = stress.StressConfig(sources=inputs, models=[str(random_checkpoint)], **settings)
    return stress.WindowStress(config, make_window).run()


@pytest.mark.parametrize("seed", [11, 2026])
def test_random_clicks_keep_the_window_consistent(inputs, make_window, random_checkpoint, seed):
    report = _run(inputs, make_window, random_checkpoint, seed=seed, seconds=20, settle_s=30.0, thread_wait_s=30.0)
    assert not report.failures, report.summary()
    # A floor that proves the run did something: on 2 busy cores most clicks cancel the frame in flight.
    assert report.actions > 30 and report.settles >= 3 and report.frames >= 5, report.summary()


# -- each detector fires on its fault -------------------------------------------------------------
def test_detector_sees_an_exception_in_a_slot_and_in_a_thread(inputs, make_window, random_checkpoint):
    def raise_in_thread():
        raise RuntimeError("injected thread fault")

    def inject(window):
        fired = []

        def bad_slot(_result):
            if not fired:
                fired.append(1)
                threading.Thread(target=raise_in_thread, name="injected").start()
                raise ValueError("injected slot fault")

        window.session.events.result.connect(bad_slot)
        return window

    report = _run(inputs, lambda: inject(make_window()), random_checkpoint, actions=("play", "step"))
    assert "exception" in report.detectors, report.summary()
    joined = " ".join(report.failures)
    assert "injected slot fault" in joined and "injected thread fault" in joined


def test_detector_sees_a_blocked_pipeline(inputs, make_window, random_checkpoint, monkeypatch):
    import camvid_viewer.ui.pipeline as pipeline

    release, real = threading.Event(), pipeline.analyse_frame

    def blocked(frame, **kwargs):
        if threading.current_thread().name == "playback" and kwargs["index"] >= 3:
            release.wait(30)
        return real(frame, **kwargs)

    monkeypatch.setattr(pipeline, "analyse_frame", blocked)
    try:
        report = _run(inputs, make_window, random_checkpoint, actions=("play",), stall_s=2.0)
    finally:
        release.set()
    assert "stall" in report.detectors, report.summary()


def test_detector_sees_a_lost_request_and_a_frame_shown_under_another_index(inputs, make_window, random_checkpoint,
                                                                            monkeypatch):
    import camvid_viewer.ui.pipeline as pipeline

    def lose_requests(window):
        real, asked = window.pipeline.show_frame, []

        def first_only(**kwargs):
            asked.append(kwargs["index"])
            if len(asked) == 1:  # the frame shown on opening; every later request is lost
                real(**kwargs)

        window.pipeline.show_frame = first_only
        return window

    report = _run(inputs, lambda: lose_requests(make_window()), random_checkpoint, actions=("seek",), settle_every=1)
    assert "canvas shows frame" in " ".join(report.failures), report.summary()

    real = pipeline.analyse_frame
    monkeypatch.setattr(pipeline, "analyse_frame", lambda frame, **kw: real(frame, **{**kw, "index": kw["index"] + 1}))
    report = _run(inputs, make_window, random_checkpoint, actions=("seek", "step"), settle_every=1)
    assert "invariant" in report.detectors, report.summary()  # the counter follows the label; the pixels do not


def test_detector_sees_nan_leak_qt_critical_and_a_thread_left(inputs, make_window, random_checkpoint, monkeypatch):
    from PyQt6.QtCore import QTimer, qCritical

    from camvid_viewer.session import ViewerSession

    real_scores, hoard, stop = ViewerSession.frame_scores.fget, [], threading.Event()

    def nan_scores(session):
        scores = real_scores(session)
        return None if scores is None else dataclasses.replace(scores, iou=(float("nan"),) * len(scores.iou))

    def leak():
        if len(hoard) < 40:
            hoard.append(b"\x01" * (8 << 20))  # 8 MiB each 50 ms, written (so resident), never freed

    def inject(window):
        def on_result(_result):
            if not hoard:
                qCritical("injected critical message")
                threading.Thread(target=stop.wait, args=(60,), name="injected-lingerer").start()
                timer.start(50)
            leak()

        timer = QTimer(window)
        timer.timeout.connect(leak)
        window.session.events.result.connect(on_result)
        return window

    monkeypatch.setattr(ViewerSession, "frame_scores", property(nan_scores))
    try:
        report = _run(inputs, lambda: inject(make_window()), random_checkpoint, actions=("play", "seek"),
                      rss_growth_mb=100, settle_every=2, stop_at_first=False)
    finally:
        stop.set()
        hoard.clear()
    assert {"nan", "qt-critical", "rss", "threads"} <= report.detectors, report.summary()
