"""Correcting a frame's labels: pure tools on label maps, their undo history, and saving them.

No Qt here (the window's side is ``camvid_viewer.ui.edit_*``): every tool is a function of a
label map, tested without a ``QApplication``.
"""

from camvid_viewer.editing.history import Change, EditHistory
from camvid_viewer.editing.label_edit import LabelEdit
from camvid_viewer.editing.tools import Box, paint, polygon_mask, region_mask, stroke_mask

__all__ = ["Box", "Change", "EditHistory", "LabelEdit", "paint", "polygon_mask", "region_mask", "stroke_mask"]
