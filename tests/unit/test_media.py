"""Frame sources (camvid_viewer.sources.video), truth lookup (truth) and the atomic H.264 writer (video_writer), on real CamVid frames."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from media_samples import decode_all, http_stream, mpegts_bytes, val_frames, write_video

from camvid_viewer.export.video_writer import VideoWriter, remove_stale_temps, temp_path_for
from camvid_viewer.sources import FolderSource, MediaError, StreamSource, VideoSource, open_source
from camvid_viewer.sources.truth import TruthIndex, find_annotations


@pytest.fixture(scope="module")
def clip_frames(camvid_root):
    """24 real val frames at 480x360."""
    return val_frames(camvid_root, 24)


# name -> (file name, write_video options); all small GOPs, most with B-frames
CODECS = {
    "h264-mp4-bframes": ("clip.mp4", {"codec": "libx264", "gop": 5, "b_frames": 2}),
    "h264-mkv-open-gop": ("clip.mkv", {"codec": "libx264", "gop": 6, "b_frames": None,
                                       "options": {"x264-params": "open-gop=1:keyint=6:bframes=3"}}),
    "mpeg4-avi": ("clip.avi", {"codec": "mpeg4", "gop": 7, "b_frames": 2}),
    # what dashcams record besides H.264: HEVC in MP4 (B-frames), motion JPEG in AVI
    "hevc-mp4-bframes": ("clip-hevc.mp4", {"codec": "libx265", "gop": 6, "b_frames": None,
                                           "options": {"preset": "ultrafast", "x265-params": "keyint=6:bframes=2:log-level=error"}}),
    "mjpeg-avi": ("clip-mjpeg.avi", {"codec": "mjpeg", "gop": 1, "b_frames": None, "pix_fmt": "yuvj420p"}),
    "vp9-webm-320x240": ("clip.webm", {"codec": "libvpx-vp9", "gop": 5, "b_frames": None,
                                       "options": {"deadline": "realtime", "cpu-used": "8"}, "size": (320, 240)}),
}


@pytest.mark.parametrize("name", list(CODECS))
def test_read_is_frame_accurate_in_any_order(tmp_path, clip_frames, name):
    file_name, options = CODECS[name]
    options = dict(options)
    size = options.pop("size", None)
    frames = clip_frames if size is None else [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in clip_frames]
    path = write_video(tmp_path / file_name, frames, **options)
    reference = decode_all(path)
    with VideoSource(path) as source:
        assert source.frame_count == len(reference) == len(frames)
        assert source.size == (frames[0].shape[1], frames[0].shape[0])
        order = list(range(source.frame_count))
        random.Random(0).shuffle(order)
        for i in order + order[::-1] + [0, 0, 5, 4]:
            assert np.array_equal(source.read(i), reference[i]), f"frame {i} differs from sequential decoding"
        # the fast path gives the same frames, from any start
        assert [i for i, _ in source.frames()] == list(range(len(reference)))
        for start, stop in ((0, None), (7, 15), (13, 14)):
            got = list(source.frames(start, stop))
            expected = range(start, len(reference) if stop is None else stop)
            assert [i for i, _ in got] == list(expected)
            assert all(np.array_equal(f, reference[i]) for i, f in got)


def test_video_properties_and_names(tmp_path, clip_frames):
    path = write_video(tmp_path / "clip.mp4", clip_frames[:10], fps=15)
    with open_source(str(path)) as source:
        assert isinstance(source, VideoSource)
        assert (source.kind, source.frame_count, source.fps, source.is_live) == ("video", 10, 15.0, False)
        assert source.size == (480, 360)
        assert source.frame_name(7) == "000007"
        assert source.info(6).time_s == pytest.approx(6 / 15)
        assert not source.has_audio
        with pytest.raises(IndexError):
            source.read(10)


def test_ntsc_rate_and_other_size(tmp_path, clip_frames):
    from fractions import Fraction

    frames = [cv2.resize(f, (640, 352)) for f in clip_frames[:6]]
    path = write_video(tmp_path / "ntsc.mp4", frames, fps=Fraction(30000, 1001))
    with VideoSource(path) as source:
        assert source.rate == Fraction(30000, 1001)
        assert source.size == (640, 352)
        assert np.array_equal(source.read(4), decode_all(path)[4])


def test_not_a_video(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a video\n" * 50)
    with pytest.raises(MediaError, match=r"notes\.txt: not a video"):
        open_source(str(text))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match=r"empty\.mp4: empty file"):
        open_source(str(empty))
    with pytest.raises(MediaError, match=r"missing\.mp4: no such file"):
        open_source(str(tmp_path / "missing.mp4"))


def test_audio_only_file_is_not_a_video(tmp_path):
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        c.mux(s.encode(frame))
        c.mux(s.encode(None))
    with pytest.raises(MediaError, match=r"tone\.m4a: no video track"):
        open_source(str(path))


def test_truncated_video(tmp_path, clip_frames):
    # index at the end (the default): a cut file has no index at all
    whole = write_video(tmp_path / "whole.mp4", clip_frames[:12])
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(MediaError, match=r"cut\.mp4: "):
        open_source(str(cut))
    # index first (faststart): the file opens, the missing frames raise MediaError naming the frame
    fast = write_video(tmp_path / "fast.mp4", clip_frames[:12], container_options={"movflags": "+faststart"})
    cut = tmp_path / "cut-fast.mp4"
    cut.write_bytes(fast.read_bytes()[: int(fast.stat().st_size * 0.6)])
    with VideoSource(cut) as source:
        assert source.frame_count == 12
        reference = decode_all(fast)
        assert np.array_equal(source.read(1), reference[1])
        with pytest.raises(MediaError, match=r"cut-fast\.mp4: frame 11 cannot be decoded") as err:
            source.read(11)
        assert err.value.index == 11
        got = []
        with pytest.raises(MediaError) as err:
            for i, _ in source.frames():
                got.append(i)
        assert got == list(range(len(got))) and 0 < len(got) < 12
        assert err.value.index == len(got)


def test_folder_source_natural_order_and_names(tmp_path, camvid_root):
    folder = tmp_path / "frames"
    folder.mkdir()
    files = sorted((camvid_root / "val").glob("*.png"))[:3]
    for n, f in zip((10, 2, 1), files, strict=True):
        shutil.copy(f, folder / f"frame{n}.png")
    (folder / "notes.txt").write_text("ignored")
    with open_source(str(folder), fps=10) as source:
        assert isinstance(source, FolderSource)
        assert (source.kind, source.frame_count, source.fps, source.size) == ("folder", 3, 10.0, (480, 360))
        assert [source.frame_name(i) for i in range(3)] == ["frame1", "frame2", "frame10"]
        assert np.array_equal(source.read(2), cv2.imread(str(files[0])))
        assert [i for i, _ in source.frames(1)] == [1, 2]


def test_folder_errors(tmp_path, camvid_root):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MediaError, match=r"empty: no image files"):
        open_source(str(empty))
    folder = tmp_path / "frames"
    folder.mkdir()
    files = sorted((camvid_root / "val").glob("*.png"))[:4]
    for f in files:
        shutil.copy(f, folder / f.name)
    bad = folder / files[2].name
    bad.write_bytes(bad.read_bytes()[:2000])  # truncated PNG mid-folder
    with open_source(str(folder)) as source:
        assert source.frame_count == 4
        with pytest.raises(MediaError, match=rf"{files[2].name}: truncated PNG") as err:
            source.read(2)
        assert err.value.index == 2
        seen = []
        with pytest.raises(MediaError, match=files[2].name):
            for i, _ in source.frames():
                seen.append(i)
        assert seen == [0, 1]
        assert [i for i, _ in source.frames(3)] == [3]


def test_stream_source_reads_sequentially(tmp_path, clip_frames):
    path = write_video(tmp_path / "clip.mp4", clip_frames[:5])
    with StreamSource(str(path)) as source:
        assert source.is_live and source.frame_count is None and source.size == (480, 360)
        indices = [i for i, _ in source.frames()]
        assert indices == [0, 1, 2, 3, 4]
        assert source.read(4).shape == (360, 480, 3)
        with pytest.raises(MediaError, match="cannot seek"):
            source.read(1)


def test_network_stream_over_http_reads_every_frame_in_order(tmp_path, clip_frames):
    """A real socket: MPEG-TS over a local HTTP server, opened by URL like a network camera."""
    frames = clip_frames[:12]
    with http_stream(mpegts_bytes(tmp_path, frames)) as url:
        with open_source(url) as source:
            assert isinstance(source, StreamSource) and source.size == (480, 360)
            got = list(source.frames())
    assert [i for i, _ in got] == list(range(12))
    for (i, frame), original in zip(got, frames, strict=True):  # each frame is its own source frame
        assert cv2.PSNR(frame, original) > 30
        assert cv2.PSNR(frame, frames[(i + 6) % 12]) < cv2.PSNR(frame, original)
    with pytest.raises(MediaError, match="cannot open"):
        open_source(url)  # the server is gone: one line, no traceback


def test_missing_camera_is_a_media_error():
    with pytest.raises(MediaError, match=r"^987: cannot open"):
        open_source("987")


def test_find_annotations(tmp_path):
    for name in ("val", "valannot", "images_prepped_test", "annotations_prepped_test", "lonely"):
        (tmp_path / name).mkdir()
        cv2.imwrite(str(tmp_path / name / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "driveannot").mkdir()
    write_video(tmp_path / "drive.mp4", [np.zeros((16, 16, 3), np.uint8)] * 2, b_frames=None)
    with open_source(str(tmp_path / "val")) as s:
        assert find_annotations(s) == tmp_path / "valannot"
    with open_source(str(tmp_path / "images_prepped_test")) as s:
        assert find_annotations(s) == tmp_path / "annotations_prepped_test"
    with open_source(str(tmp_path / "lonely")) as s:
        assert find_annotations(s) is None
    with open_source(str(tmp_path / "drive.mp4")) as s:
        assert find_annotations(s) == tmp_path / "driveannot"


def test_truth_index_for_folder_pairs_by_stem(camvid_root, tmp_path):
    frames, labels = tmp_path / "val", tmp_path / "valannot"
    frames.mkdir()
    labels.mkdir()
    files = sorted((camvid_root / "val").glob("*.png"))[:5]
    for f in files:
        shutil.copy(f, frames / f.name)
    for f in (files[1], files[3]):
        shutil.copy(camvid_root / "valannot" / f.name, labels / f.name)
    with FolderSource(frames) as source:
        truth = TruthIndex.for_source(source, labels)
        assert truth.labelled_indices == [1, 3]
        assert truth.has(3) and not truth.has(2)
        assert truth.read(2) is None
        label = truth.read(1)
        assert label.dtype == np.uint8 and label.shape == (360, 480) and label.max() <= 11
        assert (truth.next_labelled(0), truth.next_labelled(1), truth.next_labelled(3)) == (1, 3, None)
        assert (truth.previous_labelled(3), truth.previous_labelled(1), truth.previous_labelled(4)) == (1, None, 3)
    with pytest.raises(MediaError, match="no such annotation folder"):
        TruthIndex.for_source(source, tmp_path / "nope")


def test_truth_index_for_video_uses_frame_numbers(tmp_path):
    video = write_video(tmp_path / "drive.mp4", [np.zeros((16, 16, 3), np.uint8)] * 10, b_frames=None)
    labels = tmp_path / "labels"
    labels.mkdir()
    for name in ("000002.png", "frame_7.png", "000050.png"):
        cv2.imwrite(str(labels / name), np.ones((16, 16), np.uint8))
    with VideoSource(video) as source:
        truth = TruthIndex.for_source(source, labels)
        assert truth.labelled_indices == [2, 7]  # 50 is past the end
        assert truth.read(7).shape == (16, 16)


def test_writer_is_atomic_and_plays(tmp_path, clip_frames):
    target = tmp_path / "out.mp4"
    writer = VideoWriter(target, fps=15)
    for frame in clip_frames[:6]:
        writer.write(frame)
    assert not target.exists()  # frames go to the temp file beside it (x264 may still hold them)
    assert writer.temp_path.parent == tmp_path and writer.temp_path.name.startswith(".out.mp4.")
    assert writer.close() == target
    assert not writer.temp_path.exists()
    with av.open(str(target)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.name, s.codec_context.pix_fmt, s.average_rate) == ("h264", "yuv420p", 15)
    cap = cv2.VideoCapture(str(target))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == 6
    # never overwritten without permission
    with pytest.raises(MediaError, match="already exists"):
        VideoWriter(target, fps=15)
    # abort leaves nothing
    other = tmp_path / "aborted.mp4"
    with pytest.raises(RuntimeError), VideoWriter(other, fps=15) as w:
        w.write(clip_frames[0])
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_writer_keeps_colours_with_one_or_default_threads(tmp_path, camvid_root):
    """Frames go to x264 as OpenCV I420; decoded colours must match the source frames."""
    frames = val_frames(camvid_root, 4)
    for threads in (None, 1):
        target = tmp_path / f"t{threads}.mp4"
        with VideoWriter(target, fps=15, crf=18, threads=threads) as w:
            for frame in frames:
                w.write(frame)
        decoded = decode_all(target)
        assert len(decoded) == 4
        for source, back in zip(frames, decoded, strict=True):
            assert cv2.PSNR(source, back) > 35
            assert np.abs(source.mean((0, 1)) - back.mean((0, 1))).max() < 1.5  # no colour cast
    with pytest.raises(ValueError, match="threads"):
        VideoWriter(tmp_path / "bad.mp4", threads=0)


def test_writer_pads_odd_sizes_and_refuses_size_changes(tmp_path):
    target = tmp_path / "odd.mp4"
    with VideoWriter(target, fps=10) as w:
        for v in (0, 100, 200):
            w.write(np.full((121, 161, 3), v, np.uint8))
        with pytest.raises(MediaError, match="161x121"):
            w.write(np.zeros((120, 160, 3), np.uint8))
    frames = decode_all(target)
    assert len(frames) == 3 and frames[0].shape == (122, 162, 3)


def test_stale_temp_files_of_dead_runs_are_removed(tmp_path):
    target = tmp_path / "out.mp4"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    stale = tmp_path / f".out.mp4.{int(dead.stdout)}-abc123.partial.mp4"
    stale.write_bytes(b"half a video")
    stale_dir = tmp_path / f".out.mp4.{int(dead.stdout)}-abc124.partial"
    stale_dir.mkdir()
    mine = temp_path_for(target, suffix=".mp4")  # this (live) process's temp is kept
    mine.write_bytes(b"in progress")
    unrelated = tmp_path / ".other.mp4.1-abc.partial"
    unrelated.write_bytes(b"")
    assert sorted(remove_stale_temps(target)) == sorted([stale, stale_dir])
    assert mine.exists() and unrelated.exists() and not stale.exists()
    assert Path(mine).name.startswith(".out.mp4.")
