"""Real processes: two runs into one output, and SIGTERM / SIGINT / SIGHUP mid-predict, mid-export
and mid-training. A stopped run prints one line, exits non-zero and leaves nothing behind; a
second run into an output that is being written is refused and the first run's work is intact."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start(*args, cwd: Path, env_extra=None) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env_extra or {}))
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)


def _default_sigint() -> None:
    # A suite started in the background inherits SIGINT ignored (as nohup and `&` set it), and
    # Python keeps an ignored SIGINT ignored; the child gets Ctrl-C's default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(condition, *, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    """Until ``condition()`` holds, wait on ``proc`` in short slices; fail if it ends first or time runs out."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        try:
            proc.wait(timeout=0.05)  # returns at once if the run ends before the awaited state
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"the run ended (exit {proc.returncode}) before the awaited state: {proc.stderr.read()}")
    pytest.fail("timed out waiting for the run to get going")


def leftovers(folder: Path) -> list[str]:
    """Temp, partial and lock files anywhere under ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*")
                  if p.name.endswith((".lock", ".tmp")) or ".partial" in p.name)


def message_lines(stderr: str) -> list[str]:
    return [line.rsplit("\r", 1)[-1].strip() for line in stderr.split("\n") if line.rsplit("\r", 1)[-1].strip()]


@pytest.fixture
def val_copy(tmp_path, camvid_root) -> Path:
    """The 101 real val frames and their annotations, SegNet layout, in a tmp folder."""
    for sub in ("val", "valannot"):
        shutil.copytree(camvid_root / sub, tmp_path / sub)
    return tmp_path


def test_second_predict_into_a_busy_output_is_refused(val_copy):
    first = start("predict", "val", "-o", "pred", cwd=val_copy)
    wait_for(lambda: (val_copy / ".pred.lock").exists(), proc=first)
    second = subprocess.run([sys.executable, str(ROOT / "main.py"), "predict", "val", "-o", "pred", "--overwrite"],
                            cwd=val_copy, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert second.returncode == 2
    assert message_lines(second.stderr) == [f"camvid-viewer predict: pred: another run (pid {first.pid}) is writing "
                                            "this output; wait for it or choose another output"]
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    labels = sorted(p.name for p in (val_copy / "pred" / "labels").iterdir())
    assert labels == sorted(p.name for p in (val_copy / "val").iterdir())  # all of the first run, nothing else
    assert leftovers(val_copy) == []


def test_stale_lock_of_a_killed_run_is_taken_over(val_copy):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (val_copy / ".pred.lock").write_text(str(dead.pid))
    (val_copy / "few").mkdir()
    for f in sorted((val_copy / "val").iterdir())[:2]:
        shutil.copy(f, val_copy / "few" / f.name)
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "predict", "few", "-o", "pred"], cwd=val_copy,
                          capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr
    assert len(list((val_copy / "pred" / "labels").iterdir())) == 2
    assert leftovers(val_copy) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_mid_predict_leaves_nothing(val_copy, signum):
    before = sorted(p.name for p in (val_copy / "val").iterdir())
    proc = start("predict", "val", "-o", "pred", cwd=val_copy)
    wait_for(lambda: any(p.name.startswith(".pred.") and ".partial" in p.name and any((p / "labels").glob("*.png"))
                         for p in val_copy.iterdir()), proc=proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum
    name = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    assert message_lines(err) == [f"camvid-viewer predict: {name}; nothing half-written was left"]
    assert not (val_copy / "pred").exists() and leftovers(val_copy) == []
    assert sorted(p.name for p in (val_copy / "val").iterdir()) == before


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_export_leaves_nothing(val_copy, signum):
    proc = start("export", "val", "-o", "out.mp4", "--metrics-csv", "out.csv", "--masks", "masks", cwd=val_copy)
    wait_for(lambda: any(p.name.startswith(".masks.") and any(p.glob("*.png")) for p in val_copy.iterdir()), proc=proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum
    assert message_lines(err)[-1].startswith("camvid-viewer export: ")
    assert len([line for line in message_lines(err) if line.startswith("camvid-viewer")]) == 1
    assert not any((val_copy / n).exists() for n in ("out.mp4", "out.csv", "masks"))
    assert leftovers(val_copy) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_training_leaves_nothing(tmp_path, camvid_subset, signum):
    out = tmp_path / "runs" / "m.safetensors"
    proc = start("train", "--data", str(camvid_subset), "--out", str(out), "--epochs", "50", "--crop", "96x128",
                 "--batch-size", "2", "--head-width", "16", "--progress", "json", cwd=tmp_path)
    for line in proc.stdout:  # the first step event: training is under way
        if json.loads(line).get("event") == "step":
            break
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum
    name = "interrupted" if signum == signal.SIGINT else "stopped by SIGTERM"
    assert message_lines(err) == [f"camvid-viewer train: {name}; nothing half-written was left"]
    assert leftovers(tmp_path) == []


def test_unusable_cache_folder_is_named_and_predict_still_works(val_copy):
    (val_copy / "few").mkdir()
    shutil.copy(sorted((val_copy / "val").iterdir())[0], val_copy / "few")
    (val_copy / "not-a-folder").write_text("x")
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "predict", "few", "-o", "pred", "--precision", "fp32"],
                          cwd=val_copy, capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1", CAMVID_VIEWER_CACHE=str(val_copy / "not-a-folder")))
    assert done.returncode == 0, done.stderr
    assert f"the cache folder {val_copy / 'not-a-folder' / 'onnx'} cannot be written" in done.stderr
    assert len(list((val_copy / "pred" / "labels").iterdir())) == 1
