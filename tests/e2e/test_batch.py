"""``batch export|predict|eval`` on real CamVid frames: locally, and on a simulated two-node Ray cluster.

One local batch export and one two-node cluster (``ray.cluster_utils.Cluster``, separate node
processes) are shared by the module's tests; Ray's session files go to a short temp folder,
never the home folder, and no Ray process outlives the module.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import select
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from media_samples import decode_all, val_frames, write_video

from camvid_viewer.batch import BatchError, expand_inputs
from camvid_viewer.commands.parser import run_command

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def ray_env():
    """Ray's temp files in a short private folder (socket paths are limited to ~107 characters),
    no usage stats, a token held in the environment (not written to ~/.ray)."""
    temp = tempfile.mkdtemp(prefix="rt-", dir="/tmp" if os.path.isdir("/tmp") else None)
    (Path(temp) / "ray").mkdir()
    env = {"RAY_TMPDIR": temp, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield Path(temp)
    _wait_for_exit(_processes_mentioning(temp), timeout=10)  # exiting takes a moment
    assert not _processes_mentioning(temp), "a Ray process outlived the tests"
    for key, value in saved.items():
        os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    shutil.rmtree(temp, ignore_errors=True)


def _wait_for_exit(pids: list[int], *, timeout: float) -> None:
    """Block until each process has exited (a pidfd turns readable then), or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except (OSError, AttributeError):  # already gone, or no pidfd here
            continue
        try:
            select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        finally:
            os.close(fd)


def _processes_mentioning(text: str) -> list[int]:
    if not Path("/proc/self/cmdline").exists():
        return []
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _frame_folder(root: Path, name: str, files: list[Path], camvid: Path) -> Path:
    (root / name).mkdir()
    (root / f"{name}annot").mkdir()
    for f in files:
        shutil.copy(f, root / name / f.name)
        shutil.copy(camvid / "valannot" / f.name, root / f"{name}annot" / f.name)
    return root / name


@pytest.fixture(scope="module")
def sources(tmp_path_factory, camvid_root) -> dict[str, Path]:
    """Two labelled frame folders, a short and a longer video of real val frames, a broken video."""
    root = tmp_path_factory.mktemp("batch_sources")
    val = sorted((camvid_root / "val").glob("*.png"))
    out = {"drive_a": _frame_folder(root, "drive_a", val[:3], camvid_root),
           "drive_b": _frame_folder(root, "drive_b", val[40:43], camvid_root)}
    frames = val_frames(camvid_root, 24)
    out["clip_c"] = write_video(root / "clip_c.mp4", frames[:4])
    out["long_d"] = write_video(root / "long_d.mp4", frames)
    out["broken"] = root / "broken.mp4"
    out["broken"].write_bytes(b"not a video at all" * 100)
    return out


def _batch(*args) -> int:
    return run_command(["batch", *map(str, args)])


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def _by_name(summary: dict) -> dict[str, dict]:
    return {s["name"]: s for s in summary["per_source"]}


def test_inputs_expand_files_folders_globs_and_list_files(sources, tmp_path):
    root = sources["drive_a"].parent
    listing = tmp_path / "sources.txt"
    listing.write_text(f"# the drives\n{sources['drive_b']}\n{root}/clip_*.mp4\n\n")
    assert expand_inputs([str(root)]) == [str(root / n) for n in
                                          ("broken.mp4", "clip_c.mp4", "drive_a", "drive_b", "long_d.mp4")]
    got = expand_inputs([str(sources["drive_a"]), str(listing), str(root / "*.mp4"), str(sources["drive_a"])])
    assert got == [str(sources["drive_a"]), str(sources["drive_b"]), str(root / "clip_c.mp4"),
                   str(root / "broken.mp4"), str(root / "long_d.mp4")]  # each once, in the order first named
    for bad, words in (([str(tmp_path / "nope.mp4")], "no such file"), ([str(root / "*.webm")], "matches no"),
                       ([str(tmp_path)], "no video")):
        with pytest.raises(BatchError, match=words):
            expand_inputs(bad)


def test_a_worker_that_cannot_read_a_source_says_so_naming_its_node(tmp_path):
    from camvid_viewer.batch.workers import BatchWorker

    worker = object.__new__(BatchWorker)  # the actor's state without Ray: a loaded model and a node
    worker.segmenter, worker.node, worker.host, worker.root = object(), "node-1", "worker-host", tmp_path
    result = worker.run(0, str(tmp_path / "elsewhere.mp4"), "elsewhere", job=None)
    assert result["status"] == "failed"
    assert "elsewhere.mp4: not readable on node worker-host" in result["message"] and "every node" in result["message"]


@pytest.fixture(scope="module")
def local_export(sources, random_checkpoint, tmp_path_factory):
    """One local batch export (a private Ray on this machine) of two folders, a video and a broken video."""
    out = tmp_path_factory.mktemp("batch_local") / "out"
    inputs = [sources[k] for k in ("drive_a", "drive_b", "clip_c", "broken")]
    rc = _batch("export", *inputs, "-o", out, "--model", random_checkpoint, "--masks", "--metrics-csv", "--workers", "1")
    return rc, out


def test_local_batch_export_equals_single_exports(local_export, sources, random_checkpoint, tmp_path):
    rc, out = local_export
    assert rc == 1  # the broken video failed; the rest is done
    for name in ("drive_a", "clip_c"):
        single = tmp_path / f"{name}.mp4"
        assert run_command(["export", str(sources[name]), "-o", str(single), "--masks", str(tmp_path / f"{name}-masks"),
                            "--model", str(random_checkpoint)]) == 0
        batch_frames, single_frames = decode_all(out / f"{name}.mp4"), decode_all(single)
        assert len(batch_frames) == len(single_frames) > 0
        assert all(np.array_equal(a, b) for a, b in zip(batch_frames, single_frames, strict=True))
        masks = sorted(p.name for p in (tmp_path / f"{name}-masks").iterdir())
        assert masks == sorted(p.name for p in (out / f"{name}-masks").iterdir())
        for m in masks:
            assert (out / f"{name}-masks" / m).read_bytes() == (tmp_path / f"{name}-masks" / m).read_bytes()
    assert not [p for p in out.rglob("*") if ".tmp" in p.name or p.name.endswith(".lock")]


def test_a_broken_video_is_reported_and_the_rest_completes(local_export):
    rc, out = local_export
    summary = _summary(out)
    per = _by_name(summary)
    assert {n: s["status"] for n, s in per.items()} == {"drive_a": "done", "drive_b": "done", "clip_c": "done",
                                                        "broken": "failed"}
    assert "broken.mp4" in per["broken"]["message"] and "\n" not in per["broken"]["message"]
    assert not (out / "broken.mp4").exists()
    assert per["drive_a"]["frames"] == 3 and per["clip_c"]["frames"] == 4 and per["drive_a"]["fps"] > 0
    assert per["drive_a"]["scores"]["frames"] == 3 and per["clip_c"]["scores"] is None  # the video has no truth
    rows = (out / "summary.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 + 1 and rows[-1].startswith("ALL,")
    # The model's own signals, with truth or without: per source, pooled, and the sources in order.
    assert per["clip_c"]["signals"]["frames"] == 4 and per["drive_a"]["signals"]["frames"] == 3
    assert summary["signals"]["frames"] == 3 + 3 + 4
    confidence = {n: per[n]["signals"]["mean_confidence"] for n in ("drive_a", "drive_b", "clip_c")}
    assert summary["least_confident_first"] == sorted(confidence, key=confidence.get)
    clip_rows = list(csv.DictReader((out / "clip_c.csv").open()))
    assert len(clip_rows) == 4 + 1 and all(r["mean_confidence"] for r in clip_rows)


@pytest.fixture(scope="module")
def cluster(ray_env):
    """Two Ray nodes of one CPU each, as separate processes (a head and a worker node)."""
    from ray.cluster_utils import Cluster

    temp = str(ray_env / "ray")
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False, "temp_dir": temp})
    nodes.add_node(num_cpus=1, temp_dir=temp)
    yield nodes
    nodes.shutdown()


def test_rerun_of_a_complete_batch_skips_every_source(local_export, sources, random_checkpoint):
    _, out = local_export
    kept = (out / "drive_a.mp4").stat().st_mtime_ns
    inputs = [sources[k] for k in ("drive_a", "drive_b", "clip_c")]
    assert _batch("export", *inputs, "-o", out, "--model", random_checkpoint, "--masks", "--metrics-csv") == 0  # no Ray even starts
    per = _by_name(_summary(out))
    assert [per[n]["status"] for n in ("drive_a", "drive_b", "clip_c")] == ["skipped"] * 3
    assert (out / "drive_a.mp4").stat().st_mtime_ns == kept
    assert per["drive_a"]["frames"] == 3 and per["drive_a"]["scores"]["frames"] == 3  # counted from its record


@pytest.fixture(scope="module")
def cluster_predict(cluster, sources, random_checkpoint, tmp_path_factory):
    """``batch predict`` of two folders and a video on the two-node cluster."""
    out = tmp_path_factory.mktemp("batch_cluster") / "pred"
    inputs = [sources[k] for k in ("drive_a", "drive_b", "clip_c")]
    rc = _batch("predict", *inputs, "-o", out, "--model", random_checkpoint, "--cluster", cluster.address)
    return rc, out


def test_two_node_cluster_spreads_work_and_matches_single_runs(cluster_predict, sources, random_checkpoint, tmp_path):
    from camvid_viewer.commands.predict import predict_to_folder

    rc, out = cluster_predict
    assert rc == 0
    summary = _summary(out)
    assert len(summary["nodes"]) == 2 and len({s["node"] for s in summary["per_source"]}) == 2
    for name in ("drive_a", "clip_c"):
        predict_to_folder(sources[name], tmp_path / name, model=random_checkpoint)
        for kind in ("labels", "colour"):
            single = sorted((tmp_path / name / kind).iterdir())
            assert [p.name for p in single] == sorted(p.name for p in (out / name / kind).iterdir())
            assert all(p.read_bytes() == (out / name / kind / p.name).read_bytes() for p in single)


def test_pooled_scores_equal_eval_on_the_union(cluster, sources, random_checkpoint, tmp_path, capsys):
    out = tmp_path / "eval"
    assert _batch("eval", sources["drive_a"], sources["drive_b"], "-o", out, "--model", random_checkpoint,
                  "--cluster", cluster.address, "--workers", "1") == 0
    summary = _summary(out)
    union = tmp_path / "union"
    for kind in ("", "annot"):
        (tmp_path / f"union{kind}").mkdir()
        for name in ("drive_a", "drive_b"):
            for f in (sources[name].parent / f"{name}{kind}").iterdir():
                shutil.copy(f, tmp_path / f"union{kind}" / f.name)
    capsys.readouterr()
    assert run_command(["eval", "--images", str(union), "--annotations", f"{union}annot", "--model",
                        str(random_checkpoint), "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    expected.pop("drives", None)  # eval's per-drive breakdown of the same frames; the summary pools sources
    assert summary["scores"] == expected  # one summed matrix: the very same figures
    per_source = json.loads((out / "drive_a.json").read_text())
    assert per_source.pop("drives")["0016E5"]["frames"] == per_source["frames"]  # eval's schema, drives and all
    assert _by_name(summary)["drive_a"]["scores"] == per_source


def _ray_workers_running() -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            if title.startswith("ray::BatchWorker.run"):
                found.append((int(entry.name), title))
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds Ray's worker processes in /proc")
def test_rerun_redoes_the_rest_and_a_killed_worker_loses_no_source(cluster_predict, cluster, sources, random_checkpoint):
    """The earlier cluster batch run again with one output removed and a longer video added; one
    worker is killed (SIGKILL) while busy on a source: that source is given to another worker."""
    _, out = cluster_predict
    shutil.rmtree(out / "drive_b")  # no longer complete: redone
    kept = (out / "drive_a" / "labels").stat().st_mtime_ns
    killed: list[int] = []
    stop = threading.Event()

    def kill_one_busy_worker() -> None:
        first_seen: dict[int, float] = {}
        while not stop.is_set() and not killed:
            now = time.monotonic()
            for pid, _ in _ray_workers_running():
                if now - first_seen.setdefault(pid, now) > 0.8:  # busy on one source for a while
                    os.kill(pid, 9)
                    killed.append(pid)
                    break
            stop.wait(0.05)  # the batch ending sets it

    killer = threading.Thread(target=kill_one_busy_worker, daemon=True)
    killer.start()
    try:
        inputs = [sources[k] for k in ("drive_a", "drive_b", "clip_c", "long_d")]
        rc = _batch("predict", *inputs, "-o", out, "--model", random_checkpoint, "--cluster", cluster.address)
    finally:
        stop.set()
        killer.join(5)
    assert killed, "no worker was busy long enough to be killed"
    assert rc == 0
    per = _by_name(_summary(out))
    assert {n: s["status"] for n, s in per.items()} == {"drive_a": "skipped", "drive_b": "done", "clip_c": "skipped",
                                                        "long_d": "done"}
    assert (out / "drive_a" / "labels").stat().st_mtime_ns == kept
    # The killed worker was busy on one of the two sources redone (which one is timing): that
    # source was given to another worker, the other ran once; neither was lost.
    assert sorted(per[n]["attempts"] for n in ("drive_b", "long_d")) == [1, 2]
    assert len(list((out / "long_d" / "labels").iterdir())) == 24 == per["long_d"]["frames"]
    assert len(list((out / "drive_b" / "labels").iterdir())) == 3
