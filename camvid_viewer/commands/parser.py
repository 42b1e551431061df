"""The command line: one parser for every headless command, one-line errors, exit codes."""

from __future__ import annotations

__all__ = ["build_parser", "run_command"]

import argparse
import json
import signal
import sys
import threading
from contextlib import contextmanager

from camvid_viewer.messages import one_line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other user error
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from model.cli import add_model_commands

    parser = _Parser(prog="camvid-viewer", description="Live semantic segmentation of road video.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_model_commands(sub)
    from camvid_viewer.commands.batch import add_batch_command
    from camvid_viewer.commands.bench import add_bench_command
    from camvid_viewer.commands.download import add_download_command
    from camvid_viewer.commands.export import add_export_command
    from camvid_viewer.commands.predict import add_predict_command

    add_predict_command(sub)
    add_bench_command(sub)
    add_export_command(sub)
    add_download_command(sub)
    add_batch_command(sub)
    return parser


def run_command(argv: list[str]) -> int:
    """Parse and run; known failures print ``camvid-viewer: <what>`` and return non-zero."""
    args = build_parser().parse_args(argv)
    args.argv = list(argv)  # the command as given, for records such as a trained model's card
    try:
        with stop_signals_as_interrupt():
            return args.func(args)
    except Exception as exc:
        if not isinstance(exc, _user_errors()):
            raise
        message = one_line(exc)
        if getattr(args, "progress", None) == "json":  # the training dialog reads stdout
            print(json.dumps({"event": "error", "message": message}), flush=True)
        print(f"camvid-viewer {args.command}: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        how = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        print(f"camvid-viewer {args.command}: {how}; nothing half-written was left", file=sys.stderr)
        return 128 + int(signum)



def _user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that are the user's input, not a bug: printed as one line.

    ``BackboneWeightsError`` is taken from ``sys.modules``, not imported: it can only have been
    raised once the networks (and torch) were loaded, and this module stays outside torch.
    """
    from model.checkpoint import CheckpointError
    from model.cli import UserError
    from model.data import DataError

    errors = [UserError, DataError, CheckpointError, OSError, ValueError, RuntimeError, FloatingPointError]  # FloatingPointError: a NaN loss
    backbones = sys.modules.get("model.networks.backbones")
    if backbones is not None:
        errors.append(backbones.BackboneWeightsError)
    return tuple(errors)


class StopSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so every command's cleanup runs for them too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def stop_signals_as_interrupt():
    """SIGTERM and SIGHUP (systemd, Docker, Ray, job schedulers, a closed terminal) act as Ctrl-C.

    Temp files go, locks are released, one line is printed; only the main thread can install
    handlers, so elsewhere (a command called from a worker thread) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise StopSignal(signum)

    stops = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {s: signal.signal(s, interrupt) for s in stops}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
