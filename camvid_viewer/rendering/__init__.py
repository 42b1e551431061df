"""Label maps into pictures: class colours, the four views, the legend and the metrics text.

numpy and OpenCV only, keyword-only options, no state: the window, the exporter and the tests
all draw frames with these functions, which return new BGR uint8 images.

Usage::

    from camvid_viewer.rendering import render_view
    image = render_view("overlay", frame, labels, truth, palette_bgr=label_set.palette_bgr,
                        opacity=0.5, legend=True, class_names=label_set.names,
                        void_index=label_set.void_index)
"""

from camvid_viewer.rendering.colour import colourise
from camvid_viewer.rendering.text import draw_legend, draw_metrics_text
from camvid_viewer.rendering.views import VIEWS, blend, error_map, render_view, side_by_side

__all__ = ["VIEWS", "blend", "colourise", "draw_legend", "draw_metrics_text", "error_map", "render_view", "side_by_side"]
