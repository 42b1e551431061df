"""Overlay videos, label masks and metrics CSVs for whole sources, written atomically.

The job (:mod:`~camvid_viewer.export.job`) runs decode, inference and render+encode as
overlapping stages; :mod:`~camvid_viewer.export.video_writer` writes the H.264 MP4;
:mod:`~camvid_viewer.export.dialog_backend` is the export dialog's Qt-free half.
"""

from camvid_viewer.export.job import check_export, export_video
from camvid_viewer.export.options import (
    EXPORT_VIEWS,
    ON_BAD_FRAME,
    QUALITY,
    ExportCancelled,
    ExportError,
    ExportOptions,
    ExportResult,
    parse_range,
)
from camvid_viewer.export.plan import output_plan

__all__ = [
    "EXPORT_VIEWS", "ON_BAD_FRAME", "QUALITY", "ExportCancelled", "ExportError", "ExportOptions",
    "ExportResult", "check_export", "export_video", "output_plan", "parse_range",
]
