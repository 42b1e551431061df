"""The ONNX export keeps torch's own log notes off the user's terminal and restores its loggers."""

import logging

import torch

from model import onnx_backend


class _Program:
    def save(self, path):
        open(path, "wb").close()


def _torch_records(caplog) -> list[str]:
    """torch's own records (another test's graph export may still be logging on a lane thread)."""
    return [r.getMessage() for r in caplog.records if r.name.startswith("torch")]


def test_torch_notes_during_export_are_muted_and_levels_restored(tmp_path, capfd, caplog, monkeypatch):
    guards = logging.getLogger("torch._guards")
    guards.setLevel(logging.INFO)

    def noisy_export(*args, **kwargs):
        guards.error("Traceback (most recent call last): a guard failed")
        logging.getLogger("torch._made_during_export").error("a logger made mid-export")
        return _Program()

    monkeypatch.setattr(torch.onnx, "export", noisy_export)
    with caplog.at_level(logging.DEBUG):
        onnx_backend._quiet_export(torch.nn.Identity(), torch.zeros(1, 3, 4, 4), tmp_path / "g.onnx")
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and not _torch_records(caplog)
    assert (tmp_path / "g.onnx").exists()
    assert guards.level == logging.INFO
    guards.error("after the export")
    assert _torch_records(caplog) == ["after the export"]
