"""Hand sources to a pool of Ray workers, one at a time each, until every source is done or failed.

A worker that dies under a source (killed, out of memory, its node lost) loses nothing: the
source goes back to the front of the queue for another worker, up to ``attempts`` times, and
a replacement worker starts where the cluster has room. A failure inside a source (a broken
video) is that source's result, not the batch's.
"""

from __future__ import annotations

__all__ = ["WorkItem", "WorkerPool", "run_on_workers"]

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from camvid_viewer.batch.inputs import BatchError
from camvid_viewer.batch.workers import BatchWorker, ProgressBoard


@dataclass
class WorkItem:
    """One source waiting for, or on, a worker."""

    index: int  # position in the batch (progress is reported by it)
    source: str
    name: str
    attempts: int = 0  # workers it has been given so far


@dataclass
class WorkerPool:
    """What each worker gets from Ray."""

    workers: int  # actors started
    cpus: float = 1  # CPUs per worker (its inference threads)
    gpus: float = 0  # GPU share per worker
    attempts: int = 3  # workers a source may be given before it is reported failed


def run_on_workers(ray, items: list[WorkItem], *, job, spec, model_bytes: bytes, pool: WorkerPool,
                   on_result: Callable[[WorkItem, dict], None],
                   on_progress: Callable[[dict[int, int]], None]) -> None:
    """Run ``job`` on every item; ``on_result(item, result)`` per source, ``on_progress`` ~2x a second."""
    board = ray.remote(num_cpus=0)(ProgressBoard).remote()
    model_ref = ray.put(model_bytes)
    # max_concurrency 2: close() can run while a source does (a stop removes the temp folders);
    # the driver never gives one worker two sources at once.
    worker_class = ray.remote(BatchWorker).options(num_cpus=pool.cpus, num_gpus=pool.gpus, max_restarts=0,
                                                   max_task_retries=0, max_concurrency=2, scheduling_strategy="SPREAD")

    def start():
        return worker_class.remote(model_ref, spec, board)

    queue = deque(items)
    actors = [start() for _ in range(max(1, min(pool.workers, len(items))))]
    in_flight: dict = {}
    idle: list = []  # workers with nothing to do (the queue was empty when they finished)

    def dispatch(actor) -> None:
        if not queue:
            idle.append(actor)
            return
        item = queue.popleft()
        item.attempts += 1
        in_flight[actor.run.remote(item.index, item.source, item.name, job)] = (actor, item)

    try:
        for actor in actors:
            dispatch(actor)
        while in_flight:
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
            on_progress(ray.get(board.snapshot.remote()))
            for ref in ready:
                actor, item = in_flight.pop(ref)
                try:
                    result = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                        ray.exceptions.ObjectLostError) as exc:
                    actor = _replace(ray, actors, actor, start, pool, item, queue, exc, on_result)
                else:
                    if result.get("fatal"):
                        raise BatchError(result["message"])
                    on_result(item, result)
                if actor is not None:
                    dispatch(actor)
                while queue and idle:  # a source given back by a dead worker
                    dispatch(idle.pop())
        if queue:  # every worker was lost and none could be restarted
            for item in queue:
                on_result(item, _failed(item, "no worker left to run it (every worker died); run the batch again"))
    except BaseException:  # Ctrl-C, SIGTERM, a fatal error: stop every worker now
        _stop(ray, actors, board, graceful=False)
        raise
    _stop(ray, actors, board, graceful=True)


def _stop(ray, actors: list, board, *, graceful: bool) -> None:
    """Let each worker remove its temp folder (briefly, when stopping early), then kill them."""
    closing = [actor.close.remote() for actor in actors]
    ray.wait(closing, num_returns=len(closing), timeout=10 if graceful else 2)
    for actor in actors:
        ray.kill(actor)
    ray.kill(board)


def _replace(ray, actors: list, dead, start, pool: WorkerPool, item: WorkItem, queue: deque, exc, on_result):
    """The dead worker's source goes back in the queue (or fails after ``attempts``); a new worker
    starts if the cluster still has room for the whole pool, else the pool shrinks."""
    what = type(exc).__name__
    if item.attempts < pool.attempts:
        queue.appendleft(item)
    else:
        on_result(item, _failed(item, f"its worker died {item.attempts} times ({what}); run the batch again"))
    actors.remove(dead)
    cpus = ray.cluster_resources().get("CPU", 0)
    if cpus + 1e-9 < pool.cpus * (len(actors) + 1):
        return None
    replacement = start()
    actors.append(replacement)
    return replacement


def _failed(item: WorkItem, message: str) -> dict:
    return {"source": item.source, "name": item.name, "status": "failed", "message": f"{item.source}: {message}"}
