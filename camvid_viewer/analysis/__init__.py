"""Finding where and why a model fails: whole-source evaluation, its aggregations and files,
the results cache, pixel views (error split, confidence) and temporal flicker and smoothing.

Headless (numpy + OpenCV; no Qt, no torch). Example::

    from camvid_viewer import analysis
    ev = analysis.evaluate_path("../shared/camvid/val", truth, segmenter)
    print(analysis.pooled_scores(ev).mean_iou, analysis.mean_of_frames(ev).mean_iou)
"""

from camvid_viewer.analysis.cache import cache_key, default_cache_dir, model_identity, model_name
from camvid_viewer.analysis.confidence import SerialisedSegmenter, pixel_confidence
from camvid_viewer.analysis.evaluation import (
    AnalysisError,
    SourceEvaluation,
    evaluate_path,
    evaluate_source,
)
from camvid_viewer.analysis.reports import summary_json, write_frame_csv, write_summary_json
from camvid_viewer.analysis.summaries import (
    ConfusedPair,
    FrameRow,
    MeanOfFrames,
    class_choices,
    default_class,
    frame_rows,
    mean_of_frames,
    most_confused_pairs,
    pooled_scores,
    row_normalised,
    worst_frames,
)
from camvid_viewer.analysis.temporal import (
    TemporalSmoother,
    label_change_rate,
    motion_flow,
    sequence_flicker,
    warp_previous,
)

__all__ = [
    "AnalysisError", "ConfusedPair", "FrameRow", "MeanOfFrames", "SerialisedSegmenter", "SourceEvaluation",
    "TemporalSmoother", "cache_key", "class_choices", "default_cache_dir", "default_class", "evaluate_path", "evaluate_source", "frame_rows",
    "label_change_rate", "mean_of_frames", "model_identity", "model_name", "most_confused_pairs",
    "motion_flow", "pixel_confidence", "pooled_scores", "row_normalised", "sequence_flicker",
    "summary_json", "warp_previous", "worst_frames", "write_frame_csv", "write_summary_json",
]
