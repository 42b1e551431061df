"""Two opens or two model loads in a row: the one asked for last wins, whichever finishes last.

Both run on worker threads; a slow first one (a big video, an ONNX export) used to replace the
second when it finished, and the Model menu then named a backend that was not the one running.
"""

from __future__ import annotations

import threading

import pytest
from test_viewer import WAIT_MS, _copy_split, _make_window

import camvid_viewer.ui.main_window as main_window
import camvid_viewer.ui.model_controls as model_controls

pytestmark = pytest.mark.timeout(180)


def _slow_first(monkeypatch, module, name):
    """Make the first call of ``module.name`` wait until the returned event is set."""
    real, calls, release = getattr(module, name), [], threading.Event()

    def slow(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            release.wait(WAIT_MS / 1000)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, slow)
    return release


def test_the_source_opened_last_wins(qtbot, monkeypatch, random_checkpoint, tmp_path, camvid_root):
    first = _copy_split(camvid_root, tmp_path / "first", 3)
    second = _copy_split(camvid_root, tmp_path / "second", 5)
    window = _make_window(qtbot, None, load_model=False)
    release = _slow_first(monkeypatch, main_window, "open_source_with_truth")
    window.open_path(str(first))
    with qtbot.waitSignal(window.source_opened, timeout=WAIT_MS):
        window.open_path(str(second))
    release.set()
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT_MS)
    qtbot.wait(200)
    assert window.session.source.path == str(second) and window.session.frame_count == 5


def test_the_model_asked_for_last_runs_and_the_menu_names_it(qtbot, monkeypatch, random_checkpoint):
    window = _make_window(qtbot, random_checkpoint)
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=WAIT_MS)
    release = _slow_first(monkeypatch, model_controls, "load_segmenter")
    window.set_backend("onnx")  # slow: held back until the next load has finished
    with qtbot.waitSignal(window.model_loaded, timeout=WAIT_MS):
        window.set_backend("torch")
    release.set()
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT_MS)
    qtbot.wait(200)
    assert window.session.backend_choice == "torch" and window.session.model.backend == "torch"
    assert window.actions.backends["torch"].isChecked()
