"""Where frames come from: video files, frame folders, live streams, their ground truth, and
the CamVid sample download. No Qt, no torch, no drawing: everything downstream reads frames
through :class:`FrameSource`."""

from camvid_viewer.sources.base import FrameInfo, FrameSource, MediaError, short_reason
from camvid_viewer.sources.folder import FolderSource
from camvid_viewer.sources.opening import open_source
from camvid_viewer.sources.stream import StreamSource
from camvid_viewer.sources.video import VideoSource

__all__ = [
    "FolderSource",
    "FrameInfo",
    "FrameSource",
    "MediaError",
    "StreamSource",
    "VideoSource",
    "open_source",
    "short_reason",
]
