"""A Ray connection for one batch: a private local instance, or an existing cluster joined.

Local (``--cluster local``, the default): Ray starts for this command only, with its session
files in a temp folder (``$RAY_TMPDIR`` or the system temp folder), removed afterwards; no
dashboard, no usage stats, and a one-off auth token held in the environment, never written
to the home folder. Joining (``--cluster ADDRESS``, a cluster started with ``ray start
--head``): the cluster's own settings apply; leaving disconnects and stops nothing.
A process already connected to Ray (a test, a notebook) keeps its connection.
"""

from __future__ import annotations

__all__ = ["ray_session"]

import logging
import os
import secrets
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager

from camvid_viewer.batch.inputs import BatchError
from camvid_viewer.messages import one_line

NAMESPACE = "camvid-batch"


@contextmanager
def ray_session(cluster: str | None, *, num_cpus: int | None = None):
    """Connect to Ray for the block (see the module docstring); yields the ``ray`` module."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")  # Ray's C++ warnings would bury our lines
    try:
        import ray
    except ImportError:
        raise BatchError("batch needs Ray: pip install 'ray>=2.40,<3' (make run installs it)") from None

    if ray.is_initialized():
        yield ray
        return
    if cluster in (None, "", "local"):
        with _local_ray(ray, num_cpus), _name_the_signal():
            yield ray
        return
    _check_reachable(cluster)
    try:
        with _keep_stop_handlers():
            ray.init(address=cluster, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as exc:  # noqa: BLE001 - any failure to join is the address's problem, in one line
        raise BatchError(f"--cluster {cluster}: cannot join this Ray cluster ({one_line(exc)}); "
                         "start one with `ray start --head` and pass the address it prints") from None
    try:
        with _name_the_signal():
            yield ray
    finally:
        ray.shutdown()


def _check_reachable(cluster: str) -> None:
    """A HOST:PORT that nothing answers on is one line in seconds, not a minute of Ray retrying."""
    import socket

    host, sep, port = cluster.rpartition(":")
    if not sep or not port.isdigit() or "://" in cluster:
        return  # "auto", ray://... : Ray resolves those itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise BatchError(f"--cluster {cluster}: nothing answers there ({one_line(exc)}); start the head with "
                         "`ray start --head` and pass the address it prints (HOST:6379)") from None


@contextmanager
def _local_ray(ray, num_cpus: int | None):
    root = os.environ.get("RAY_TMPDIR") or ("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir())
    temp = tempfile.mkdtemp(prefix="camvid-ray-", dir=root)  # short: Ray's socket paths have a length limit
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    if "RAY_AUTH_MODE" not in os.environ and not os.environ.get("RAY_AUTH_TOKEN_PATH"):
        os.environ["RAY_AUTH_MODE"] = "token"  # as Ray's default, but the token lives only in our environment
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
        _reload_ray_config()
    try:
        with _keep_stop_handlers():
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, _temp_dir=temp, namespace=NAMESPACE,
                     log_to_driver=False, logging_level=logging.WARNING)
        try:
            yield
        finally:
            ray.shutdown()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _reload_ray_config()
        shutil.rmtree(temp, ignore_errors=True)


_received: list[int] = []  # stop signals seen while Ray is up


@contextmanager
def _keep_stop_handlers():
    """``ray.init`` installs its own SIGTERM handler (which just exits); put ours back, so SIGTERM
    still acts as Ctrl-C: the workers are stopped, temp files removed, one line printed.

    Ray turns any exception raised in a handler during ``ray.wait``/``ray.get`` into a plain
    ``KeyboardInterrupt``; the signal is noted here so :func:`_name_the_signal` can say which.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stops = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None), signal.SIGINT) if s is not None]
    handlers = {s: signal.getsignal(s) for s in stops}
    _received.clear()
    try:
        yield
    finally:
        for s, handler in handlers.items():
            if callable(handler):
                signal.signal(s, _noting(handler))
            elif handler is not None:
                signal.signal(s, handler)


def _noting(handler):
    def note_and_handle(signum, frame):
        _received.append(signum)
        handler(signum, frame)

    return note_and_handle


@contextmanager
def _name_the_signal():
    """A ``KeyboardInterrupt`` that came from SIGTERM/SIGHUP carries its ``signum`` again."""
    try:
        yield
    except KeyboardInterrupt as exc:
        if getattr(exc, "signum", None) is None and _received and _received[-1] != signal.SIGINT:
            stop = KeyboardInterrupt(signal.Signals(_received[-1]).name)
            stop.signum = _received[-1]
            raise stop from None
        raise


def _reload_ray_config() -> None:
    """Ray reads RAY_AUTH_MODE once, when it is imported; make it read the environment again
    (as ``ray.init`` itself does when it turns token auth on)."""
    try:
        from ray._raylet import Config
    except ImportError:  # a Ray without it reads the environment at init
        return
    Config.initialize("")
