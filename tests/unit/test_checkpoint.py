"""Checkpoint round trip and refusal of files that are not checkpoints."""


import pytest
import torch

from model.checkpoint import CheckpointError, load_checkpoint, read_card, save_checkpoint
from model.networks import Architecture, build_model


def _card(arch):
    return {"name": "t", "architecture": arch.to_dict(), "classes": [f"c{i}" for i in range(12)], "palette": [[0, 0, 0]] * 12}


def test_round_trip_with_optimizer_state(tmp_path):
    arch = Architecture(head_width=8)
    model = build_model(arch, pretrained=False)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.zeros(2, 3, 64, 64)).sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path / "m.safetensors", model, _card(arch), optimizer_state=opt.state_dict())
    ckpt = load_checkpoint(path)
    rebuilt = ckpt.build()
    for (k, a), b in zip(model.state_dict().items(), rebuilt.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    from model.checkpoint import optimizer_state_from

    opt2 = torch.optim.AdamW(rebuilt.parameters(), lr=1e-3)
    opt2.load_state_dict(optimizer_state_from(ckpt))
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert read_card(path)["project_version"]


def test_half_storage_loads_as_float(tmp_path):
    arch = Architecture(head_width=8)
    model = build_model(arch, pretrained=False)
    path = save_checkpoint(tmp_path / "h.safetensors", model, _card(arch), half=True)
    built = load_checkpoint(path).build()
    assert next(built.parameters()).dtype == torch.float32


def test_not_a_checkpoint(tmp_path):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="model.safetensors: not a checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_truncated_checkpoint(tmp_path, random_checkpoint):
    data = random_checkpoint.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.safetensors"):
        load_checkpoint(cut)


def test_safetensors_without_card(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="no model card"):
        load_checkpoint(path)


def test_other_architecture_is_refused(tmp_path):
    arch = Architecture(head_width=8)
    model = build_model(arch, pretrained=False)
    card = _card(Architecture(head_width=16))  # card lies about the weights
    path = save_checkpoint(tmp_path / "lie.safetensors", model, card)
    with pytest.raises(CheckpointError, match="another architecture"):
        load_checkpoint(path).build()


def test_pickle_is_never_loaded(tmp_path):
    path = tmp_path / "evil.safetensors"
    torch.save({"x": 1}, path)  # a pickle-based file with a safetensors name
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
