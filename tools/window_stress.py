"""A seeded random stress test of the real viewer window: random clicks, checked by detectors.

Drives a ``MainWindow`` through its own actions and methods (play, pause, seek, step, jumps,
modes, speeds, loop, views, opacity, legend, reset, open another source or reload the model
while playing, device/backend/precision changes, the export dialog, closing while playing)
with random short waits on the event loop, and records every failure a detector sees:

- ``exception``: an exception on any thread (``sys.excepthook`` and ``threading.excepthook``);
- ``qt-critical``: a Qt critical or fatal message, or a warning about cross-thread use;
- ``stall``: playing, but no frame for ``stall_s`` seconds;
- ``invariant``: after a pause settles, the frame shown, the metrics dock, the timeline,
  the counter and the slider do not all name ``session.index`` (from the current model and
  source) within ``settle_s`` seconds;
- ``nan``: a shown metric reads NaN or inf;
- ``rss``: resident memory grew more than ``rss_growth_mb`` after the warm-up;
- ``threads``: threads of a closed window still alive ``thread_wait_s`` seconds later.

Used by ``tests/e2e/test_window_stress.py`` (short fixed-seed runs and a self-check that each
detector fires on an injected fault) and as a command for long runs with any seed::

    QT_QPA_PLATFORM=offscreen python tools/window_stress.py --seed 7 --seconds 600
"""

from __future__ import annotations

import argparse
import math
import random
import re
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_NAN = re.compile(r"\b(nan|inf)\b", re.IGNORECASE)


@dataclass
class StressConfig:
    seed: int
    seconds: float
    sources: list[str]  # at least one; a folder with truth beside it makes the metrics checks bite
    models: list[str]  # checkpoints to reload between; the window starts with the first
    actions: tuple[str, ...] | None = None  # None: every action
    stall_s: float = 15.0
    settle_s: float = 30.0
    settle_every: int = 6  # a settle check after about this many actions
    rss_growth_mb: float = 600.0
    thread_wait_s: float = 30.0
    max_wait_ms: int = 1000
    stop_at_first: bool = True  # False: go on after a failure (the self-check wants every detector)


@dataclass
class StressReport:
    seed: int
    actions: int = 0
    settles: int = 0
    frames: int = 0
    windows: int = 0
    seconds: float = 0.0
    rss_growth_mb: float = 0.0
    failures: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    rss_trace: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MiB) at each settle

    @property
    def detectors(self) -> set[str]:
        return {failure.split(":", 1)[0] for failure in self.failures}

    def summary(self) -> str:
        head = (f"seed {self.seed}: {self.actions} actions, {self.settles} settle checks, {self.frames} frames shown, "
                f"{self.windows} window(s), {self.seconds:.0f} s, RSS +{self.rss_growth_mb:.0f} MiB")
        if len(self.rss_trace) >= 3:
            picks = [self.rss_trace[0], self.rss_trace[len(self.rss_trace) // 2], self.rss_trace[-1]]
            head += " (RSS " + ", ".join(f"{mb:.0f} MiB at {s:.0f} s" for s, mb in picks) + ")"
        if not self.failures:
            return head + ": no failure"
        return head + f": {len(self.failures)} failure(s)\n  " + "\n  ".join(self.failures[:10]) + \
            "\n  last actions: " + ", ".join(self.log[-15:])


def rss_mb() -> float:
    """Resident memory now (Linux ``/proc``; elsewhere the peak, which only over-reports growth)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class WindowStress:
    """One seeded run over windows made by ``make_window()`` (a fresh one after each close)."""

    def __init__(self, config: StressConfig, make_window: Callable) -> None:
        self.config = config
        self.make_window = make_window
        self.rng = random.Random(config.seed)
        self.report = StressReport(seed=config.seed)
        self.window = None
        self._last_frame = time.monotonic()
        self._since_settle = 0

    # -- detectors ----------------------------------------------------------------------------
    def fail(self, detector: str, detail: str) -> None:
        if len(self.report.failures) < 50:
            self.report.failures.append(f"{detector}: {detail}")

    def _install_hooks(self):
        from PyQt6.QtCore import QtMsgType, qInstallMessageHandler

        old_hook, old_thread_hook = sys.excepthook, threading.excepthook

        def excepthook(kind, value, tb):
            self.fail("exception", f"{kind.__name__}: {value} (GUI thread)")

        def thread_hook(args):
            name = args.thread.name if args.thread is not None else "?"
            self.fail("exception", f"{args.exc_type.__name__}: {args.exc_value} (thread {name})")

        def on_message(kind, context, text):
            if kind in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg) or "thread" in text.lower():
                self.fail("qt-critical", text.splitlines()[0] if text else "(empty)")
            if previous is not None:
                previous(kind, context, text)

        sys.excepthook, threading.excepthook = excepthook, thread_hook
        previous = qInstallMessageHandler(on_message)

        def restore():
            sys.excepthook, threading.excepthook = old_hook, old_thread_hook
            qInstallMessageHandler(previous)

        return restore

    def _pump(self, ms: int) -> None:
        """Run the event loop for ``ms`` milliseconds, watching for a stall while playing."""
        from PyQt6.QtTest import QTest

        deadline = time.monotonic() + ms / 1000
        while True:
            left = deadline - time.monotonic()
            QTest.qWait(int(max(1, min(50, left * 1000))))
            window = self.window
            if window is not None and window.session.playing:
                quiet = time.monotonic() - self._last_frame
                if quiet > self.config.stall_s:
                    self.fail("stall", f"playing, no frame for {quiet:.1f} s (named frame {window.session.index})")
                    self._last_frame = time.monotonic()
            if time.monotonic() >= deadline:
                return

    def _wait_for(self, condition: Callable[[], bool], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return True
            self._pump(20)
        return condition()

    # -- the window ---------------------------------------------------------------------------
    def _open_window(self) -> bool:
        self.window = window = self.make_window()
        self.report.windows += 1
        s = window.session
        s.events.result.connect(self._on_result)
        window.message.connect(lambda text: self.report.log.append(f"message({text[:80]})"))
        s.events.playback.connect(lambda: setattr(self, "_last_frame", time.monotonic()))
        if not self._wait_for(lambda: s.model is not None, 120):
            self.fail("stall", "the window never loaded its model")
            return False
        window.open_path(self.config.sources[0])
        if not self._wait_for(lambda: s.result is not None, 120):
            self.fail("stall", f"the window never showed a frame of {self.config.sources[0]}")
            return False
        return True

    def _on_result(self, _result) -> None:
        self._last_frame = time.monotonic()
        self.report.frames += 1

    def _close_window(self, *, playing: bool) -> None:
        window, self.window = self.window, None
        before = set(threading.enumerate())
        if playing and window.session.source is not None:
            window.play()
            self._pump(self.rng.choice((0, 30, 150)))
        window.close()
        window.deleteLater()
        ours = [t for t in before if t is not threading.main_thread() and t not in self._baseline_threads]
        deadline = time.monotonic() + self.config.thread_wait_s
        while time.monotonic() < deadline and any(t.is_alive() for t in ours):
            self._pump(50)
        left = sorted(t.name for t in ours if t.is_alive())
        if left:
            self.fail("threads", f"{len(left)} thread(s) alive {self.config.thread_wait_s:.0f} s after close: {', '.join(left)}")

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> StressReport:
        started = self._started = time.monotonic()
        restore = self._install_hooks()
        self._baseline_threads = set(threading.enumerate())
        try:
            if self._open_window():
                self._pump(300)
                self._rss_start = rss_mb()
                self._loop(time.monotonic() + self.config.seconds)  # seconds of clicks, after the first frame
                if self.window is not None:
                    self.settle()
                    self.report.rss_growth_mb = rss_mb() - self._rss_start
                    if self.report.rss_growth_mb > self.config.rss_growth_mb:
                        self.fail("rss", f"resident memory grew {self.report.rss_growth_mb:.0f} MiB "
                                         f"(bound {self.config.rss_growth_mb:.0f})")
            if self.window is not None:
                self._close_window(playing=True)
        finally:
            restore()
            self.report.seconds = time.monotonic() - started
        return self.report

    def _loop(self, end: float) -> None:
        names = self.config.actions or tuple(ACTIONS)
        weights = [ACTIONS[name][0] for name in names]
        while time.monotonic() < end and not (self.report.failures and self.config.stop_at_first):
            name = self.rng.choices(names, weights)[0]
            self.report.actions += 1
            self.report.log.append(name)
            detail = ACTIONS[name][1](self)
            if detail is not None:
                self.report.log[-1] = f"{name}({detail})"
            if self.window is None and not self._open_window():
                return
            self._pump(self.rng.choice((0, 0, 5, 20, 60, 150, self.config.max_wait_ms // 2, self.config.max_wait_ms)))
            self._since_settle += 1
            if self._since_settle >= self.config.settle_every and self.rng.random() < 0.5:
                self.settle()

    # -- the invariant ------------------------------------------------------------------------
    def settle(self) -> None:
        """Let jobs report, pause, wait until idle: every view must then name the frame named at the pause."""
        window = self.window
        self._since_settle = 0
        self.report.settles += 1
        self.report.log.append("settle")
        self._wait_for(lambda: not window.busy, self.config.settle_s)  # an open or a load may reset the index
        window.pause()
        named = window.session.index
        if not self._wait_for(lambda: not self.mismatches(window), self.config.settle_s):
            self.fail("invariant", f"paused {self.config.settle_s:.0f} s and still: {'; '.join(self.mismatches(window))}")
        elif window.session.index != named and not window.busy:
            self.fail("invariant", f"paused on frame {named}, settled on frame {window.session.index}")
        else:
            self.check_content(window)
        self.check_numbers(window)
        self.report.rss_trace.append((time.monotonic() - self._started, rss_mb()))

    def check_content(self, window) -> None:
        """The pixels on screen are frame ``index`` of the source (read again, while the pipeline is idle)."""
        import numpy as np

        s = window.session
        if s.source is None or s.source.is_live or s.result is None:
            return
        with window.pipeline.source_lock:
            expected = s.source.read(s.index)
        shown = s.result.frame
        if shown.shape != expected.shape or np.abs(shown.astype(np.int16) - expected).mean() > 2.0:
            self.fail("invariant", f"the canvas is labelled frame {s.index} but shows other pixels")

    @staticmethod
    def mismatches(window) -> list[str]:
        """What disagrees with the named frame (empty once the window is idle and consistent)."""
        s = window.session
        if s.source is None:
            return []
        problems = []
        if s.playing or window.pipeline.busy or window.busy:
            problems.append("not idle")
        result = s.result
        shown = None if result is None else result.index
        if shown != s.index:
            problems.append(f"canvas shows frame {shown}, session names {s.index}")
        elif result.generation != s.generation:
            problems.append(f"frame {shown} shown is from an earlier model or source")
        if window.canvas.image() is None:
            problems.append("the canvas is empty")
        if window.playback_bar.slider.value() != s.index:
            problems.append(f"slider at {window.playback_bar.slider.value()}")
        if f"frame {s.index} /" not in window.playback_bar.counter.text():
            problems.append(f"counter reads {window.playback_bar.counter.text()!r}")
        caption = window.metrics_dock.frame_caption.text()
        if s.frame_scores is not None and not caption.startswith(f"Frame {s.index}:"):
            problems.append(f"metrics dock reads {caption!r}")
        a = window.actions
        for group, value in ((a.devices, s.device_choice), (a.backends, s.backend_choice), (a.precisions, s.precision_choice)):
            if not group[value].isChecked():
                problems.append(f"the Model menu does not show {value!r}, which runs")
        timeline = getattr(getattr(window, "analysis_dock", None), "timeline", None)
        if timeline is not None and round(timeline.playhead) != s.index:
            problems.append(f"timeline playhead at {timeline.playhead:g}")
        return problems

    def check_numbers(self, window) -> None:
        from PyQt6.QtWidgets import QLabel, QTableWidget

        dock = window.metrics_dock
        texts = [label.text() for label in dock.findChildren(QLabel)]
        for table in dock.findChildren(QTableWidget):
            texts += [table.item(r, c).text() for r in range(table.rowCount()) for c in range(table.columnCount())
                      if table.item(r, c) is not None]
        bad = [t for t in texts if _NAN.search(t)]
        scores = window.session.frame_scores
        if scores is not None and not all(math.isfinite(v) for v in (scores.pixel_accuracy, scores.mean_iou)):
            bad.append(f"frame scores {scores.pixel_accuracy}, {scores.mean_iou}")
        if bad:
            self.fail("nan", f"the metrics dock shows {bad[0]!r}")


# -- the actions: (weight, do(stress)) ---------------------------------------------------------------
def _seek(st: WindowStress) -> None:
    count = st.window.session.frame_count or 1
    index = st.rng.randint(-3, count + 3)
    st.window.seek(index)  # out of range too: the window clamps
    return index


def _open_other(st: WindowStress) -> None:
    w = st.window
    if st.rng.random() < 0.7 and w.session.source is not None:
        w.play()
    current = w.session.source.path if w.session.source is not None else None
    choices = [p for p in st.config.sources if str(p) != str(current)] or st.config.sources
    path = st.rng.choice(choices)
    w.open_path(path)
    return Path(path).name


def _reload_model(st: WindowStress) -> None:
    if st.rng.random() < 0.7:
        st.window.play()
    path = st.rng.choice(st.config.models)
    st.window.load_model(path)
    return Path(path).name


def _export_dialog(st: WindowStress) -> None:
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    def cancel():
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(20, cancel)
        else:
            dialog.reject()

    QTimer.singleShot(st.rng.choice((0, 50, 200)), cancel)
    st.window.open_export_dialog()


def _toggle_class(st: WindowStress) -> None:
    boxes = st.window.legend_dock.checkboxes
    if boxes:
        st.rng.choice(boxes).toggle()


def _toggle_visible(st: WindowStress) -> None:
    from PyQt6.QtWidgets import QDockWidget

    docks = st.window.findChildren(QDockWidget)
    if docks:
        st.rng.choice(docks).toggleViewAction().trigger()


def _pick(st: WindowStress, values, do) -> str:
    value = st.rng.choice(values)
    do(value)
    return str(value)


def _close(st: WindowStress) -> None:
    st._close_window(playing=True)


def _choice(group: str):
    def choose(st: WindowStress) -> str:
        value, action = st.rng.choice(list(getattr(st.window.actions, group).items()))
        action.trigger()
        return str(value)

    return choose


ACTIONS: dict[str, tuple[float, Callable[[WindowStress], None]]] = {
    "play": (6, lambda st: st.window.play()),
    "pause": (5, lambda st: st.window.pause()),
    "toggle": (6, lambda st: st.window.actions.play.trigger()),
    "seek": (8, _seek),
    "step": (5, lambda st: _pick(st, (-1, 1), st.window.step)),
    "first_last": (2, lambda st: _pick(st, ("first", "last"), lambda name: getattr(st.window.actions, name).trigger())),
    "labelled": (2, lambda st: _pick(st, (-1, 1), st.window.jump_labelled)),
    "mode": (3, _choice("modes")),
    "speed": (3, _choice("speeds")),
    "loop": (2, lambda st: st.window.actions.loop.trigger()),
    "view": (3, _choice("views")),
    "opacity": (2, lambda st: _pick(st, ("opacity_up", "opacity_down"), lambda name: getattr(st.window.actions, name).trigger())),
    "legend": (2, lambda st: st.window.actions.legend_in_view.trigger()),
    "class": (2, _toggle_class),
    "dock": (1, _toggle_visible),
    "reset": (2, lambda st: st.window.metrics_dock.reset_button.click()),
    "open_other": (1.5, _open_other),
    "reload_model": (1, _reload_model),
    "device": (0.5, _choice("devices")),
    "backend": (0.5, _choice("backends")),
    "precision": (0.5, _choice("precisions")),
    "export_dialog": (0.7, _export_dialog),
    "close": (0.3, _close),
}


# -- inputs for a run: real CamVid frames, and a video made from them -----------------------------
def stress_inputs(camvid_root: Path, folder: Path, *, frames: int = 40) -> list[str]:
    """A SegNet-layout folder of ``frames`` val frames (truth found beside it) and a video of
    the next ones at another size and rate (640x480 at 25 fps), so switching changes everything."""
    import cv2

    images = sorted((camvid_root / "val").glob("*.png"))
    chosen, rest = images[:frames], images[frames:frames * 2] or images[:frames]
    for sub, src in (("val", "val"), ("valannot", "valannot")):
        (folder / "clip" / sub).mkdir(parents=True, exist_ok=True)
        for image in chosen:
            shutil.copy(camvid_root / src / image.name, folder / "clip" / sub / image.name)
    video = folder / "drive.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (640, 480))
    for image in rest:
        writer.write(cv2.resize(cv2.imread(str(image)), (640, 480)))
    writer.release()
    return [str(folder / "clip" / "val"), str(video)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Seeded random stress test of the viewer window (offscreen).")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--model", action="append", help="checkpoint(s) to use (default: the shipped model)")
    parser.add_argument("--camvid", default=None, help="CamVid root (default: $CAMVID_ROOT or ../shared/camvid)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication

    from model.data import default_camvid_root

    camvid = Path(args.camvid) if args.camvid else default_camvid_root()
    if camvid is None:
        print("window_stress: CamVid not found: pass --camvid or set CAMVID_ROOT", file=sys.stderr)
        return 2
    models = args.model or [str(ROOT / "resources" / "models" / "camvid-lite0.safetensors")]
    with tempfile.TemporaryDirectory(prefix="window-stress-") as tmp:
        tmp = Path(tmp)
        os.environ["CAMVID_VIEWER_CONFIG_DIR"] = str(tmp / "settings")
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
        app = QApplication.instance() or QApplication(["window_stress"])
        sources = stress_inputs(camvid, tmp / "inputs")

        def make_window():
            from camvid_viewer.ui.main_window import MainWindow
            from camvid_viewer.ui.settings import ViewerSettings

            window = MainWindow(settings=ViewerSettings(organization="camvid-viewer-stress"), model_path=models[0])
            window.show()
            return window

        report = WindowStress(StressConfig(seed=args.seed, seconds=args.seconds, sources=sources, models=models),
                              make_window).run()
        del app
    print(report.summary())
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
