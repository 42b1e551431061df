"""FCN-8: class scores at stride 32, fused with stride-16 and stride-8 skip scores, upsampled."""

from __future__ import annotations

__all__ = ["FCN8Head", "SegmentationModel"]

import torch
import torch.nn.functional as F
from torch import nn


def _conv_bn_relu(cin: int, cout: int, k: int, dilation: int = 1) -> nn.Sequential:
    pad = dilation * (k // 2)
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=pad, dilation=dilation, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class _ScoreBranch(nn.Module):
    """Features at one stride -> class scores. ``plain``: one 1x1 conv (the original FCN);
    ``conv``: 1x1 reduce + 3x3 conv (+ dilated 3x3 context at stride 32) before the 1x1 score."""

    def __init__(self, cin: int, num_classes: int, kind: str, width: int, context: bool) -> None:
        super().__init__()
        if kind == "plain":
            self.body = nn.Identity()
            score_in = cin
        elif kind == "conv":
            layers = [_conv_bn_relu(cin, width, 1), _conv_bn_relu(width, width, 3)]
            if context:
                layers.append(_conv_bn_relu(width, width, 3, dilation=2))
            self.body = nn.Sequential(*layers)
            score_in = width
        else:
            raise ValueError(f"unknown head kind {kind!r} (plain or conv)")
        self.score = nn.Conv2d(score_in, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.body(x))


class FCN8Head(nn.Module):
    """Score the three strides and fuse them coarse-to-fine (FCN-8s).

    Args:
        in_channels: channels of the stride-8, -16 and -32 features.
        num_classes: output classes.
        kind: ``"plain"`` (1x1 score layers) or ``"conv"`` (small conv stacks, better on CamVid).
        width: channels of the ``conv`` head.
    """

    def __init__(self, in_channels: tuple[int, int, int], num_classes: int, *, kind: str = "conv", width: int = 96) -> None:
        super().__init__()
        c8, c16, c32 = in_channels
        self.score8 = _ScoreBranch(c8, num_classes, kind, width, context=False)
        self.score16 = _ScoreBranch(c16, num_classes, kind, width, context=False)
        self.score32 = _ScoreBranch(c32, num_classes, kind, width, context=True)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        s16 = self.score16(features["s16"])
        x = F.interpolate(self.score32(features["s32"]), size=s16.shape[-2:], mode="bilinear", align_corners=False) + s16
        s8 = self.score8(features["s8"])
        return F.interpolate(x, size=s8.shape[-2:], mode="bilinear", align_corners=False) + s8


class SegmentationModel(nn.Module):
    """Backbone + head; ``forward`` returns class logits at the input's ``shape[-2:]``."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.backbone(x))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
