"""The command line: one parser for every headless command, one-line errors, exit codes."""

from __future__ import annotations

__all__ = ["build_parser", "run_command"]

import argparse
import json
import sys


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other user error
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from model.cli import add_model_commands

    parser = _Parser(prog="camvid-viewer", description="Live semantic segmentation of road video.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_model_commands(sub)
    from camvid_viewer.commands.bench import add_bench_command
    from camvid_viewer.commands.predict import add_predict_command

    add_predict_command(sub)
    add_bench_command(sub)
    try:
        from camvid_viewer.commands.export import add_export_command
    except ImportError:
        pass
    else:
        add_export_command(sub)
    try:
        from camvid_viewer.sources.download import add_download_command
    except ImportError:
        pass
    else:
        add_download_command(sub)
    return parser


def run_command(argv: list[str]) -> int:
    """Parse and run; known failures print ``camvid-viewer: <what>`` and return non-zero."""
    from model.checkpoint import CheckpointError
    from model.cli import UserError
    from model.data import DataError
    from model.networks.backbones import BackboneWeightsError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UserError, DataError, CheckpointError, BackboneWeightsError, OSError, ValueError, RuntimeError) as exc:
        message = _one_line(exc)
        if getattr(args, "progress", None) == "json":  # the training dialog reads stdout
            print(json.dumps({"event": "error", "message": message}), flush=True)
        print(f"camvid-viewer {args.command}: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"camvid-viewer {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())
