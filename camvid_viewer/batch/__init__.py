"""Batches: ``export``, ``predict`` or ``eval`` over many sources on Ray workers, one model each.

:mod:`.inputs` expands INPUT arguments into sources; :mod:`.ray_session` connects to Ray
(a private local instance or a cluster); :mod:`.workers` holds the actors (one loaded model
each); :mod:`.scheduler` hands sources out and retries those of a dead worker;
:mod:`.transfer` brings outputs back to OUT_DIR; :mod:`.summary` keeps per-source records and
writes ``summary.json`` / ``summary.csv``; :mod:`.runner` ties them together. What a source's
job is lives with the commands (``camvid_viewer.commands.batch_jobs``).
"""

from camvid_viewer.batch.inputs import BatchError, expand_inputs
from camvid_viewer.batch.runner import BatchSettings, run_batch
from camvid_viewer.batch.workers import SegmenterSpec

__all__ = ["BatchError", "BatchSettings", "SegmenterSpec", "expand_inputs", "run_batch"]
