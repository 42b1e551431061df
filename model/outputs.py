"""Outputs that can never destroy inputs, and runs that own what they write.

Every command checks its outputs against its inputs before any work (:func:`check_outputs`):
an output that is, contains or lies inside an input, or two outputs that collide, are refused
with one line naming both paths, ``--overwrite`` or not, with symlinks resolved. While a run
writes a target it holds :class:`OutputLock`, a lock file beside the target, so a second run
into the same output is refused instead of deleting the first run's work or mixing with it.

Usage::

    check_outputs(inputs={"input": frames_dir}, outputs={"-o": out_dir})
    with OutputLock(out_dir):
        ...  # write a temp folder beside out_dir, then rename it into place
"""

from __future__ import annotations

__all__ = ["OutputError", "OutputLock", "check_outputs", "pid_alive", "real_path"]

import os
from collections.abc import Mapping
from pathlib import Path

_LOCK_SUFFIX = ".lock"


class OutputError(ValueError):
    """An output that would destroy an input, collide with another output, or is in use."""


def real_path(path: str | Path) -> Path:
    """``path`` made absolute with ``~`` expanded and every symlink that exists resolved."""
    return Path(os.path.realpath(Path(path).expanduser()))


def _relation(output: Path, other: Path) -> str | None:
    """How ``output`` overlaps ``other`` (both real paths): "is", "contains", "lies inside" or None."""
    if output == other or _same_file(output, other):  # a hard link is the same file too
        return "is"
    if other.is_relative_to(output):
        return "contains"
    if output.is_relative_to(other):
        return "lies inside"
    return None


def check_outputs(*, inputs: Mapping[str, str | Path | None], outputs: Mapping[str, str | Path | None]) -> None:
    """Refuse outputs that would touch an input or each other; one line naming both paths.

    Args:
        inputs: what the command reads (label -> path); ``None`` values are skipped, and
            strings that are not local paths (stream URLs, camera indices) never overlap.
        outputs: what it writes (label -> path, e.g. ``{"--masks": Path("masks")}``).

    Raises:
        OutputError: an output is, contains or lies inside an input, or two outputs overlap.
    """
    real_inputs = [(label, Path(p), real_path(p)) for label, p in inputs.items() if _local(p)]
    real_outputs = [(label, Path(p), real_path(p)) for label, p in outputs.items() if p is not None]
    for out_label, out, out_real in real_outputs:
        for in_label, source, in_real in real_inputs:
            relation = _relation(out_real, in_real)
            if relation is not None:
                what = f"the {in_label}" if in_label.startswith("input") else f"the {in_label} input"
                raise OutputError(f"{out}: the {out_label} output {relation} {what} {source}; "
                                  "choose an output outside the input (nothing was written)")
    for i, (label_a, a, real_a) in enumerate(real_outputs):
        for label_b, b, real_b in real_outputs[i + 1:]:
            relation = _relation(real_a, real_b)
            if relation is not None:
                raise OutputError(f"{a}: the {label_a} output {relation} the {label_b} output {b}; "
                                  "give them separate paths (nothing was written)")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def _local(path) -> bool:
    if path is None:
        return False
    text = str(path)
    return not (text.isdigit() or "://" in text)


class OutputLock:
    """Exclusive ownership of an output while a run writes it: ``.NAME.lock`` beside it.

    The lock file holds the owner's pid. A lock whose process is gone (a killed run) is taken
    over; a live one makes :meth:`acquire` raise :class:`OutputError` naming the target, so two
    runs never write, replace or delete each other's work.
    """

    def __init__(self, target: str | Path) -> None:
        self.target = Path(target)
        self.path = self.target.with_name(f".{self.target.name}{_LOCK_SUFFIX}")
        self._held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):  # a second try after removing a dead owner's lock
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = _owner(self.path)
                if owner is None and _age_s(self.path) < 10:  # being created: its pid is not written yet
                    owner = -1
                if owner is not None and (owner == -1 or pid_alive(owner)):
                    who = "another run" if owner == -1 else f"another run (pid {owner})"
                    raise OutputError(f"{self.target}: {who} is writing this output; "
                                      "wait for it or choose another output") from None
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            self._held = True
            return
        raise OutputError(f"{self.target}: could not lock this output ({self.path} keeps reappearing)")

    def release(self) -> None:
        if self._held:
            self._held = False
            if _owner(self.path) == os.getpid():
                self.path.unlink(missing_ok=True)

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _owner(lock: Path) -> int | None:
    try:
        text = lock.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _age_s(path: Path) -> float:
    import time

    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return float("inf")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (ours counts; another user's counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True
