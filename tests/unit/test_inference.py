"""Segmenter: any frame size, batches, backend agreement, ONNX cache keyed by checkpoint hash."""

import numpy as np
import pytest

from model.checkpoint import CheckpointError
from model.inference import Segmenter, working_size


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """A cache of this test's own, for tests that count its graphs (the others share the session's:
    a graph is keyed by the checkpoint's hash, so sharing is exact and saves re-exports)."""
    monkeypatch.setenv("CAMVID_VIEWER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_working_size_keeps_aspect():
    assert working_size((360, 480), 360) == (360, 480)
    assert working_size((540, 960), 360) == (360, 640)
    assert working_size((1080, 1920), 360) == (360, 640)
    assert working_size((100, 333), 360)[1] % 8 == 0


def test_labels_come_back_at_frame_size(random_checkpoint):
    seg = Segmenter(random_checkpoint, backend="torch", device="cpu")
    for h, w in ((360, 480), (540, 960), (101, 203)):
        pred = seg.segment(np.zeros((h, w, 3), np.uint8), probabilities=True)
        assert pred.labels.shape == (h, w) and pred.labels.dtype == np.uint8
        assert pred.probabilities.shape == (12, h, w)
        assert np.allclose(pred.probabilities.sum(0), 1, atol=1e-4)
        assert pred.confidence.shape == (h, w)


def test_batch_equals_single_frames(random_checkpoint, camvid_root):
    import cv2

    frames = [cv2.imread(str(p)) for p in sorted((camvid_root / "val").glob("*.png"))[:3]]
    frames.append(cv2.resize(frames[0], (320, 240)))  # mixed sizes in one batch
    seg = Segmenter(random_checkpoint, backend="torch", device="cpu")
    batch = seg.segment_batch(frames)
    for frame, pred in zip(frames, batch, strict=True):
        assert (seg.segment(frame).labels == pred.labels).mean() > 0.999


def test_onnx_agrees_with_torch_on_real_frames(random_checkpoint, camvid_root):
    import cv2

    frames = [cv2.imread(str(p)) for p in sorted((camvid_root / "val").glob("*.png"))[::50]]
    frames.append(cv2.resize(frames[0], (960, 540)))
    torch_seg = Segmenter(random_checkpoint, backend="torch", device="cpu")
    onnx_seg = Segmenter(random_checkpoint, backend="onnx")
    for frame in frames:
        equal = (torch_seg.segment(frame).labels == onnx_seg.segment(frame).labels).mean()
        assert equal >= 0.995


def test_onnx_cache_follows_checkpoint_and_rejects_corruption(random_checkpoint, tmp_path, private_cache):
    import shutil

    ckpt = tmp_path / "m.safetensors"
    shutil.copy(random_checkpoint, ckpt)
    frame = np.full((72, 96, 3), 90, np.uint8)
    first = Segmenter(ckpt, backend="onnx", working_height=72)
    first.segment(frame)
    graphs = sorted(private_cache.glob("onnx/*.onnx"))
    assert len(graphs) == 1

    # A corrupt cached graph is rebuilt, not trusted.
    graphs[0].write_bytes(graphs[0].read_bytes()[:1000])
    again = Segmenter(ckpt, backend="onnx", working_height=72)
    again.segment(frame)
    assert graphs[0].stat().st_size > 1000

    # A changed checkpoint gets a new graph whose output follows the new weights.
    from model.checkpoint import load_checkpoint, save_checkpoint

    loaded = load_checkpoint(ckpt)
    net = loaded.build()
    import torch

    with torch.no_grad():
        net.head.score8.score.bias.fill_(0)
        net.head.score8.score.bias[3] = 100.0  # everything becomes road
    save_checkpoint(ckpt, net, loaded.card)
    changed = Segmenter(ckpt, backend="onnx", working_height=72)
    assert (changed.segment(frame).labels == 3).all()
    assert len(list(private_cache.glob("onnx/*.onnx"))) == 2


def test_bad_checkpoint_and_device(tmp_path, random_checkpoint):
    bad = tmp_path / "bad.safetensors"
    bad.write_text("hello")
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        Segmenter(bad)
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            Segmenter(random_checkpoint, device="cuda")
    with pytest.raises(ValueError, match="BGR uint8"):
        Segmenter(random_checkpoint, backend="torch").segment(np.zeros((4, 4), np.float32))


def test_cuda_fp16_matches_cpu(random_checkpoint, camvid_root):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    import cv2

    frame = cv2.imread(str(sorted((camvid_root / "val").glob("*.png"))[0]))
    cpu = Segmenter(random_checkpoint, backend="torch", device="cpu").segment(frame).labels
    gpu = Segmenter(random_checkpoint, backend="torch", device="cuda").segment(frame).labels
    assert (cpu == gpu).mean() >= 0.995


def test_onnx_parallel_lanes_equal_single_frame_runs(random_checkpoint, camvid_root):
    """A batch runs on one single-threaded session per core; labels must not change."""
    import cv2

    frames = [cv2.imread(str(p)) for p in sorted((camvid_root / "val").glob("*.png"))[:3]]
    seg = Segmenter(random_checkpoint, backend="onnx", threads=2)
    assert seg.preferred_batch == 2
    many = Segmenter(random_checkpoint, backend="onnx", threads=16)._runner  # sessions start lazily
    assert (many.lanes, many.lane_threads) == (4, 4)  # a many-core machine: 4 lanes of 4 threads
    batch = seg.segment_batch(frames)
    for frame, pred in zip(frames, batch, strict=True):
        assert (seg.segment(frame).labels == pred.labels).mean() >= 0.999


def test_submitted_frames_come_back_in_order_on_parallel_lanes(random_checkpoint, camvid_root):
    """``submit`` runs frames on the lanes concurrently; each future holds its own frame's labels."""
    import cv2

    frames = [cv2.imread(str(p)) for p in sorted((camvid_root / "val").glob("*.png"))[::20]]
    frames.append(cv2.resize(frames[0], (640, 360)))  # another working size mid-stream
    seg = Segmenter(random_checkpoint, backend="onnx", threads=2)
    futures = [seg.submit(frame) for frame in frames]  # all in flight before the first result is read
    singles = [seg.segment(frame).labels for frame in frames]
    for i, (future, single) in enumerate(zip(futures, singles, strict=True)):
        labels = future.result(timeout=120).labels
        assert labels.shape == frames[i].shape[:2]
        assert (labels == single).mean() >= 0.999
    assert (futures[0].result().labels == singles[1]).mean() < 0.99  # the frames differ: order is tested
    torch_seg = Segmenter(random_checkpoint, backend="torch", device="cpu")
    done = torch_seg.submit(frames[0])  # backends without lanes run at once
    assert done.done() and (done.result().labels == torch_seg.segment(frames[0]).labels).all()
    with pytest.raises(ValueError, match="BGR uint8"):
        seg.submit(np.zeros((4, 4), np.float32)).result(timeout=60)


def test_segment_stream_keeps_keys_and_order(random_checkpoint, camvid_root):
    import cv2

    frames = [cv2.imread(str(p)) for p in sorted((camvid_root / "val").glob("*.png"))[::25]]
    seg = Segmenter(random_checkpoint, backend="onnx", threads=2)
    streamed = list(seg.segment_stream((i, f) for i, f in enumerate(frames)))
    assert [key for key, _ in streamed] == list(range(len(frames)))
    for (_, prediction), frame in zip(streamed, frames, strict=True):
        assert (prediction.labels == seg.segment(frame).labels).mean() >= 0.999
    read = []

    def source():
        for i, frame in enumerate(frames):
            read.append(i)
            yield i, frame

    stream = seg.segment_stream(source())
    assert next(stream)[0] == 0
    stream.close()  # stopping early reads no further than the frames in flight
    assert len(read) <= 2 * seg.preferred_batch
