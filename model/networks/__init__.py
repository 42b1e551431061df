"""Segmentation networks: FCN-8 on an EfficientNet-Lite or VGG-16 backbone."""

from __future__ import annotations

__all__ = ["Architecture", "build_model", "BACKBONES"]

from dataclasses import asdict, dataclass, field

from model.classes import NUM_CLASSES
from model.networks.backbones import (
    EFFICIENTNET_LITE_VARIANTS,
    EfficientNetLiteBackbone,
    VGG16Backbone,
)
from model.networks.fcn8 import FCN8Head, SegmentationModel

BACKBONES = (*EFFICIENTNET_LITE_VARIANTS, "vgg16")


@dataclass(frozen=True)
class Architecture:
    """Everything needed to rebuild a network's shape; stored in each checkpoint's card."""

    backbone: str = "efficientnet-lite0"  # one of BACKBONES
    head: str = "conv"  # "conv" (small conv stacks) or "plain" (1x1 score layers, the original FCN)
    head_width: int = 96  # channels of the conv head
    num_classes: int = NUM_CLASSES  # output classes
    vgg_fc_channels: int = 4096  # fc6/fc7 width of the vgg16 backbone
    extra: dict = field(default_factory=dict)  # reserved for future options

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Architecture:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def build_model(arch: Architecture, *, pretrained: bool = False, backbone_weights: str | None = None) -> SegmentationModel:
    """Build an FCN-8 network.

    Args:
        arch: its shape.
        pretrained: start an EfficientNet-Lite backbone from ImageNet weights.
        backbone_weights: a torchvision-format VGG-16 weight file for the ``vgg16`` backbone.
    """
    if arch.backbone in EFFICIENTNET_LITE_VARIANTS:
        backbone = EfficientNetLiteBackbone(arch.backbone, pretrained=pretrained)
    elif arch.backbone == "vgg16":
        backbone = VGG16Backbone(fc_channels=arch.vgg_fc_channels, weights=backbone_weights)
    else:
        raise ValueError(f"unknown backbone {arch.backbone!r}; choose from {', '.join(BACKBONES)}")
    head = FCN8Head(backbone.channels, arch.num_classes, kind=arch.head, width=arch.head_width)
    return SegmentationModel(backbone, head)
