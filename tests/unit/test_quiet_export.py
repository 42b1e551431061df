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


def test_two_threads_exporting_at_once_both_get_a_working_graph(tmp_path):
    """A window loading two models at once exports from two threads; unguarded, torch's exporter
    shares one dispatch-mode stack across them and one or both exports fail."""
    import threading

    import numpy as np
    import onnxruntime as ort

    torch.manual_seed(0)
    layers = [torch.nn.Conv2d(3, 8, 3, padding=1)]
    for _ in range(12):  # enough nodes that the two exports overlap
        layers += [torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU()]
    network = torch.nn.Sequential(*layers).eval()
    errors: list[BaseException] = []

    def export(name: str) -> None:
        try:
            onnx_backend._quiet_export(network, torch.zeros(1, 3, 16, 24), tmp_path / name)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=export, args=(f"g{i}.onnx",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert not torch.compiler.is_exporting()
    image = np.random.default_rng(0).standard_normal((1, 3, 16, 24)).astype(np.float32)
    with torch.no_grad():
        expected = network(torch.from_numpy(image)).numpy()
    for i in range(2):
        session = ort.InferenceSession(str(tmp_path / f"g{i}.onnx"), providers=["CPUExecutionProvider"])
        np.testing.assert_allclose(session.run(None, {"image": image})[0], expected, atol=1e-4)
