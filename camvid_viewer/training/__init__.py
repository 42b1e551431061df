"""The training dialog's Qt-free half: the form's checks, the child command and its progress.

Training itself is :mod:`model.train`, run as a child ``python main.py train --progress json``.
"""

from camvid_viewer.training.job import (
    BACKBONES,
    DEVICES,
    DatasetSummary,
    JobInputError,
    RunResult,
    TrainRequest,
    build_request,
    default_output_path,
    describe_dataset,
    last_checkpoint_path,
    project_root,
    read_checkpoint_card,
    remove_stale_temp_files,
    run_label_set,
    run_result,
    train_command,
)
from camvid_viewer.training.progress import (
    EVENTS,
    ProgressEvent,
    RunProgress,
    event_log_line,
    format_duration,
    parse_progress_line,
    val_figures,
)

__all__ = [
    "BACKBONES", "DEVICES", "EVENTS", "DatasetSummary", "JobInputError", "ProgressEvent", "RunProgress",
    "RunResult", "TrainRequest", "build_request", "default_output_path", "describe_dataset",
    "event_log_line", "format_duration", "last_checkpoint_path", "parse_progress_line", "project_root",
    "read_checkpoint_card", "remove_stale_temp_files", "run_label_set", "run_result", "train_command", "val_figures",
]
