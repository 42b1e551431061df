"""A whole batch on the machine that runs it: plan, skip what is complete, run the rest on Ray, summarise.

The job (``export``, ``predict`` or ``eval``; see ``camvid_viewer.commands.batch_jobs``) says
what a source's outputs are called and writes them with the single command's own code; this
module owns everything around it: the output checks, the lock on OUT_DIR, the progress bar,
one line per source, placing the outputs that come back, the records and the summary.
"""

from __future__ import annotations

__all__ = ["BatchSettings", "run_batch"]

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from camvid_viewer.batch.inputs import BatchError
from camvid_viewer.batch.ray_session import ray_session
from camvid_viewer.batch.scheduler import WorkerPool, WorkItem, run_on_workers
from camvid_viewer.batch.summary import (
    RECORDS,
    SourceResult,
    load_record,
    record_path,
    write_record,
    write_summary,
)
from camvid_viewer.batch.transfer import place_outputs
from camvid_viewer.batch.workers import SegmenterSpec
from camvid_viewer.messages import one_line
from model.outputs import OutputLock, check_outputs


@dataclass
class BatchSettings:
    """Where and how a batch runs (the ``batch`` command's shared options)."""

    out_dir: Path  # every output and the summary land here, on this machine
    model: Path  # the checkpoint (sent to every worker)
    spec: SegmenterSpec  # how workers build the model
    cluster: str | None = None  # None/"local": a private local Ray; else a cluster address
    workers: int | None = None  # None: as many as the CPUs (or GPUs) allow
    cpus_per_worker: float = 1  # inference threads per worker
    gpus_per_worker: float = 0  # GPU share per worker
    overwrite: bool = False  # redo sources whose outputs are complete


def run_batch(command: str, sources: list[str], job, settings: BatchSettings) -> int:
    """Run ``job`` on every source; 0 when none failed, 1 otherwise (the summary says which)."""
    out_dir = Path(settings.out_dir)
    names = [job.name_of(s) for s in sources]
    for name in set(names):
        if names.count(name) > 1:
            clash = [s for s, n in zip(sources, names, strict=True) if n == name]
            raise BatchError(f"{clash[1]}: its outputs would be named {name!r} like those of {clash[0]}; "
                             "rename one or run them in separate batches")
    for source, name in zip(sources, names, strict=True):
        taken = {"summary.json", "summary.csv", RECORDS} & set(job.outputs_of(name))
        if taken:
            raise BatchError(f"{source}: its output would be named {taken.pop()}, which the batch keeps for itself; rename it")
    planned = [_planned(job, s, n, out_dir, settings.overwrite) for s, n in zip(sources, names, strict=True)]
    extra = {f"annotations of input {i + 1}": a for i, (_, found) in enumerate(planned) for a in found}
    check_outputs(inputs={**{f"input {i + 1}": s for i, s in enumerate(sources)}, **extra, "--model": settings.model},
                  outputs={"-o": out_dir})
    out_dir.mkdir(parents=True, exist_ok=True)
    with OutputLock(out_dir):
        t0 = time.monotonic()
        results = {i: result for i, (result, _) in enumerate(planned)}
        todo = [WorkItem(i, sources[i], names[i]) for i, r in results.items() if r is None]
        for r in results.values():
            if r is not None:
                _say(f"{r.status} {r.name}: " + ("outputs complete (--overwrite redoes it)" if r.status == "skipped" else r.message))
        if todo:
            expected = {item.index: job.frames_of(item.source) for item in todo}
            todo.sort(key=lambda item: -expected[item.index])  # longest first: no worker waits on a long last one
            _run(command, todo, job, settings, expected, results)
        ordered = [results[i] for i in range(len(sources))]
        summary = write_summary(out_dir, command=command, results=ordered, wall_s=time.monotonic() - t0)
    _say(f"batch {command}: {summary['done']} done, {summary['skipped']} skipped, {summary['failed']} failed; "
         f"{summary['frames_this_run']} frames in {summary['wall_seconds']:.1f}s ({summary['fps_this_run']:.1f} fps) "
         f"on {len(summary['nodes'])} node(s); summary: {out_dir / 'summary.json'}")
    return 1 if summary["failed"] else 0


def _planned(job, source: str, name: str, out_dir: Path, overwrite: bool) -> tuple[SourceResult | None, list[Path]]:
    """The result known before any work (complete: skipped; unreadable: failed), else None;
    and the source's other inputs (its annotations), which no output may touch."""
    if not overwrite:
        record = load_record(out_dir, name)
        if record is not None:
            record.status, record.source = "skipped", source
            return record, []
    try:
        extra = job.check(source)
    except Exception as exc:  # noqa: BLE001 - a bad source is reported and the rest goes on
        return SourceResult(source=source, name=name, status="failed", message=one_line(exc)), []
    ours = record_path(out_dir, name).exists()
    for output in job.outputs_of(name):
        if (out_dir / output).exists() and not (ours or overwrite):
            return SourceResult(source=source, name=name, status="failed",
                                message=f"{out_dir / output}: already exists and is not this batch's (--overwrite replaces it)"), extra
    return None, extra


def _run(command, todo, job, settings: BatchSettings, expected: dict[int, int], results: dict) -> None:
    from tqdm import tqdm

    bar = tqdm(total=sum(expected.values()), desc=f"batch {command}", unit="frame", file=sys.stderr,
               dynamic_ncols=True, mininterval=0.5, smoothing=0.1, disable=not sys.stderr.isatty())
    finished: dict[int, int] = {}

    def on_progress(running: dict[int, int]) -> None:
        bar.n = sum(finished.values()) + sum(v for k, v in running.items() if k not in finished)
        bar.set_postfix_str(f"videos {len(finished)}/{len(todo)}", refresh=False)
        bar.refresh()

    def on_result(item: WorkItem, result: dict) -> None:
        files = result.pop("files", None)
        result.pop("fatal", None)
        outcome = SourceResult(**result, attempts=item.attempts, outputs=list(job.outputs_of(item.name)))
        if outcome.status == "done":
            _commit(settings.out_dir, outcome, files or {})
        else:
            outcome.outputs = []
        results[item.index] = outcome
        finished[item.index] = outcome.frames
        on_progress({})
        line = (f"done {outcome.name}: {outcome.frames} frames in {outcome.seconds:.1f}s ({outcome.fps:.1f} fps)"
                if outcome.status == "done" else f"failed {outcome.name}: {outcome.message}")
        bar.write(line, file=sys.stderr)

    try:
        with ray_session(settings.cluster, num_cpus=os.cpu_count()) as ray:
            pool = WorkerPool(workers=settings.workers or _default_workers(ray, settings), cpus=settings.cpus_per_worker,
                              gpus=settings.gpus_per_worker)
            model_bytes = Path(settings.model).read_bytes()
            run_on_workers(ray, todo, job=job, spec=settings.spec, model_bytes=model_bytes, pool=pool,
                           on_result=on_result, on_progress=on_progress)
    finally:
        bar.close()


def _commit(out_dir: Path, outcome: SourceResult, files: dict[str, bytes]) -> None:
    """Outputs into place, then the record that says they are complete."""
    pending = SourceResult(**{**outcome.__dict__, "outputs": []})
    write_record(out_dir, pending)  # names the outputs as this batch's before any is placed
    placed = place_outputs(files, out_dir)
    missing = [o for o in outcome.outputs if o not in placed]
    if missing:
        raise BatchError(f"{outcome.source}: the worker sent no {missing[0]}; nothing recorded as complete")
    write_record(out_dir, outcome)


def _default_workers(ray, settings: BatchSettings) -> int:
    resources = ray.cluster_resources()
    if settings.gpus_per_worker > 0:
        return max(1, int(resources.get("GPU", 0) / settings.gpus_per_worker))
    return max(1, int(resources.get("CPU", 1) / settings.cpus_per_worker))


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
