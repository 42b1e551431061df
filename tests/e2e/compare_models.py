"""Models to compare in the tests: the shipped model (A) and a weaker copy of it (B)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def weaker_checkpoint(tmp_path_factory) -> Path:
    """The shipped model with its head's class-score layers perturbed (seeded): same classes and card,
    clearly lower scores on CamVid; the int8 calibration is dropped (it was the shipped weights')."""
    import torch

    from model.checkpoint import load_checkpoint, save_checkpoint
    from model.inference import default_model_path

    shipped = load_checkpoint(default_model_path())
    network = shipped.build()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, weight in network.named_parameters():
            if name.startswith("head") and name.endswith("score.weight"):  # the class scores: no norm after them
                weight.add_(torch.randn(weight.shape, generator=generator) * weight.std() * 2.0)
    card = {k: v for k, v in shipped.card.items() if k != "int8"}
    card["name"] = "camvid-lite0-perturbed"
    path = tmp_path_factory.mktemp("weaker") / "weaker.safetensors"
    return save_checkpoint(path, network, card)
