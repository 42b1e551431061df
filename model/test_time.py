"""The accurate mode: test-time horizontal-flip averaging at a larger working height.

A road scene mirrored is still a road scene, so averaging the model's logits on a frame and on
its mirror image cancels part of its left/right errors; a larger working height shows thin
classes (poles, signs, pedestrians) with more pixels. Both cost time, so the window plays in
the fast mode and work that need not be real time (export, eval, predict, analysis) may ask for
this one. The averaging lives inside the network, so every backend (PyTorch, each ONNX graph
kind) runs the same computation and gives the same labels.
"""

from __future__ import annotations

__all__ = ["MODES", "ACCURATE_SCALE", "accurate_height", "flip_averaged", "check_mode", "add_mode_argument"]

MODES = ("fast", "accurate")
ACCURATE_SCALE = 1.2  # working height in the accurate mode, over the card's (360 -> 432)


def add_mode_argument(parser) -> None:
    """``--mode fast|accurate`` on a command that runs a model."""
    parser.add_argument("--mode", choices=MODES, default="fast",
                        help="fast (default): the model as it plays in the window; accurate: flip-averaged at "
                             "1.2x the working height, about 3.5x slower, better on unseen footage")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} ({', '.join(MODES)})")
    return mode


def accurate_height(card_input: dict) -> int:
    """The card's ``accurate_height``, else its working height x 1.2, a multiple of 8."""
    if card_input.get("accurate_height"):
        return int(card_input["accurate_height"])
    return max(8, int(round(float(card_input.get("working_height", 360)) * ACCURATE_SCALE / 8)) * 8)


def flip_averaged(network):
    """``network`` whose logits are the mean of its logits on the frame and, mirrored back, on its mirror."""
    import torch

    class FlipAveraged(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x):
            both = self.inner(torch.cat([x, x.flip(3)]))  # one batch of two: one pass through the weights
            n = x.shape[0]
            return (both[:n] + both[n:].flip(3)) * 0.5

    return FlipAveraged(network).eval()
