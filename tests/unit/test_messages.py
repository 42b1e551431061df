"""One-line messages and the paths the window shows."""

from pathlib import Path

from camvid_viewer.messages import display_path, one_line


def test_one_line_joins_a_multiline_message():
    assert one_line(ValueError("frame 3:\n  bad\theader ")) == "frame 3: bad header"
    assert one_line(KeyError()) == "KeyError"


def test_display_path_writes_home_as_tilde(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert display_path(tmp_path / "camvid" / "val") == "~/camvid/val"
    assert display_path(tmp_path) == "~"
    # a sibling whose name merely starts with the home folder's is not inside it
    assert display_path(f"{tmp_path}-other/x") == f"{tmp_path}-other/x"
    assert display_path(Path("/elsewhere/clip.mp4")) == "/elsewhere/clip.mp4"
    assert display_path("rtsp://camera/1") == "rtsp://camera/1"
