"""ImageNet CNNs on a one-channel spectrogram, for Koike et al. 2020 (paper P2).

torchvision definitions (checkpoints pinned in ``auscult.models.weights``), so that the torchvision
V1 checkpoints (what a 2020 ``pretrained=True`` gave) load key for key:

=====================  ==========================================  =========================
``name``               architecture                                 checkpoint (weights.py)
=====================  ==========================================  =========================
vgg16                  torchvision VGG16 ``features`` (13 convs)    vgg16-397923af.pth
vgg19                  torchvision VGG19 ``features`` (16 convs)    vgg19-dcbb9e9d.pth
mobilenet_v2           torchvision MobileNetV2 (width 1.0)          mobilenet_v2-b0353104.pth
resnet18               torchvision ResNet18                         resnet18-f37072fd.pth
resnext50_32x4d        torchvision ResNeXt-50 32x4d                 resnext50_32x4d-7cdf4587.pth
resnext101_32x8d       torchvision ResNeXt-101 32x8d                resnext101_32x8d-8ba56ff5.pth
resnext101_32x8d_wsl   the same architecture (= timm                ig_resnext101_32x8-
                       ``resnext101_32x8d.fb_wsl_ig1b_ft_in1k``)    c38310e5.pth (CC-BY-NC)
=====================  ==========================================  =========================

Adaptation (the same for every network):

- input ``batch[cfg['input']]``: ``'logmel'`` (B, 64, T) or ``'linear'`` (B, 201, T) from the
  ``koike`` feature recipe, frequency x time, dB; (B, 1, F, T) is accepted too;
- ``input_norm: batchnorm`` puts a ``BatchNorm2d(1)`` in front (a learned standardisation of
  the dB values; 2 parameters); ``none`` feeds the dB values as they are. The paper does
  not say how its spectrograms were scaled: this is a project choice, recorded in params;
- the first conv takes one channel; its kernel is the pretrained RGB kernel **summed over
  the input channels** (exactly the response to the grey image replicated into R, G and
  B). Scratch models apply the same sum to torchvision's random RGB init, so a scratch
  model is the randomly initialised RGB network fed a replicated input;
- the ImageNet classifier is removed: ``backbone`` = the convolutional feature extractor
  followed by global average pooling (torchvision's own pooling for ResNet/ResNeXt and
  MobileNetV2; for VGG the 7x7 adaptive pool and the three FC layers are replaced by a
  global average pool, as in Keras ``include_top=False, pooling='avg'``): (B, D) with D =
  512 (VGG, ResNet18), 1280 (MobileNetV2), 2048 (ResNeXt);
- ``head`` = Dropout(``dropout``) -> Linear(D, 1), logits (B,) in fp32.

Configuration: a ``koike.models.<name>.config`` with ``arch: imagenet`` plus the ``input`` its
variant reads (``auscult.papers.koike.variant_model``), checked against the params schema's
``$defs/imagenet_model`` (every key required; unknown keys rejected); ``name`` is one of
:data:`NAMES`.

Parameter counts (millions of elements; ``count_trainable`` for our models, BN statistics
are buffers and never counted):

====================  ===========  ============  ===========  ============  ========
model                 torchvision  feature ext.  paper        ours: 1-ch    ours:
                      (3-ch, 1000  (3-ch, no     Table II     feature ext.  model
                      classes)     classifier)                              total
====================  ===========  ============  ===========  ============  ========
VGG16                 138.358      14.715        14.7         14.714        14.714
VGG19                 143.667      20.024        20.0         20.023        20.024
MobileNetV2           3.505        2.224         2.2          2.223         2.225
ResNet18              11.690       11.177        11.1         11.170        11.171
ResNeXt-50 32x4d      25.029       22.980        22.9         22.974        22.976
ResNeXt-101 32x8d     88.791       86.742        86.7         86.736        86.738
  + WSL               88.791       86.742        86.7         86.736        86.738
CNN14 (cnn14.py)      80.754 (AudioSet, 527)     80.7         79.674        79.676
====================  ===========  ============  ===========  ============  ========

Exact values (3-ch feature extractor -> ours 1-ch feature extractor -> ours total with
``input_norm: batchnorm``): VGG16 14 714 688 -> 14 713 536 -> 14 714 051; VGG19
20 024 384 -> 20 023 232 -> 20 023 747; MobileNetV2 2 223 872 -> 2 223 296 -> 2 224 579;
ResNet18 11 176 512 -> 11 170 240 -> 11 170 755; ResNeXt-50 22 979 904 -> 22 973 632 ->
22 975 683; ResNeXt-101 (both) 86 742 336 -> 86 736 064 -> 86 738 115.

Reading of the paper's column: every row equals the pretrained network **without its
ImageNet classifier, with the 3-channel first conv, truncated (not rounded) to 0.1 M**:
ResNet18 11.18 -> 11.1 and ResNeXt-50 22.98 -> 22.9 only fit truncation, and CNN14's
80 753 615 (with its 527-way AudioSet layer) -> 80.7 too. Our models differ from that by
(a) the one-channel first conv, which removes 2/3 of its kernel (VGG 1 152, MobileNetV2
576, ResNet/ResNeXt 6 272 parameters), (b) the new binary head (D + 1) and (c) the
optional input BatchNorm (2); for CNN14 by the replaced 527-way layer (-1 079 055 + 2 049).
None of these changes a table entry by more than 0.1 M except CNN14 (79.7 vs 80.7), whose
difference is only the AudioSet output layer that the paper counted.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from auscult import configcheck

from .cnn14 import BinaryHead

# name -> (family, torchvision builder or VGG config letter, classifier prefix, first conv key)
NAMES: dict[str, tuple[str, str, str, str]] = {
    "vgg16": ("vgg", "D", "classifier.", "features.0.weight"),
    "vgg19": ("vgg", "E", "classifier.", "features.0.weight"),
    "mobilenet_v2": ("mobilenet", "mobilenet_v2", "classifier.", "features.0.0.weight"),
    "resnet18": ("resnet", "resnet18", "fc.", "conv1.weight"),
    "resnext50_32x4d": ("resnet", "resnext50_32x4d", "fc.", "conv1.weight"),
    "resnext101_32x8d": ("resnet", "resnext101_32x8d", "fc.", "conv1.weight"),
    "resnext101_32x8d_wsl": ("resnet", "resnext101_32x8d", "fc.", "conv1.weight"),
}


def validate_config(cfg: Mapping) -> None:
    """Check an ImageNet-model config (the schema's ``imagenet_model``); raise KeyError/ValueError
    naming the key."""
    configcheck.check("imagenet config", cfg, "imagenet_model")  # its `name` list is NAMES (a test checks)


def sum_rgb_kernel(weight: Tensor) -> Tensor:
    """(O, 3, kh, kw) -> (O, 1, kh, kw): a grey input x gives conv(x, sum_c W_c) =
    sum_c conv(x, W_c), the RGB network's response to (x, x, x)."""
    if weight.dim() != 4:
        raise ValueError(f"expected a 4-D conv kernel, got shape {tuple(weight.shape)}")
    return weight.sum(dim=1, keepdim=True)


def adapt_first_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """A one-channel copy of ``conv`` whose kernel is the channel sum of ``conv``'s."""
    if conv.groups != 1:
        raise ValueError("cannot adapt a grouped first convolution")
    new = nn.Conv2d(1, conv.out_channels, conv.kernel_size, stride=conv.stride,
                    padding=conv.padding, dilation=conv.dilation, bias=conv.bias is not None,
                    padding_mode=conv.padding_mode)
    with torch.no_grad():
        new.weight.copy_(sum_rgb_kernel(conv.weight))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


class _VGGFeatures(nn.Module):
    """torchvision VGG ``features`` (keys ``features.N.*``) + global average pool."""

    def __init__(self, letter: str) -> None:
        super().__init__()
        from torchvision.models import vgg

        self.features = vgg.make_layers(vgg.cfgs[letter], batch_norm=False)
        for m in self.features.modules():  # torchvision VGG init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.constant_(m.bias, 0)
        self.out_dim = 512

    def forward(self, x: Tensor) -> Tensor:
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1)


def _torchvision_net(name: str) -> tuple[nn.Module, int]:
    """The feature extractor (classifier removed, first conv made one-channel), and D."""
    family, ident, _, _ = NAMES[name]
    if family == "vgg":
        net = _VGGFeatures(ident)
        net.features[0] = adapt_first_conv(net.features[0])
        return net, net.out_dim
    import torchvision.models as tvm

    net = getattr(tvm, ident)(weights=None)
    if family == "resnet":
        dim = net.fc.in_features
        net.fc = nn.Identity()
        net.conv1 = adapt_first_conv(net.conv1)
    else:  # mobilenet
        dim = net.last_channel
        net.classifier = nn.Identity()
        net.features[0][0] = adapt_first_conv(net.features[0][0])
    return net, dim


class ImageNetBackbone(nn.Module):
    """``batch[input] (B, F, T) -> (B, D)``: input norm -> torchvision feature extractor."""

    def __init__(self, cfg: Mapping) -> None:
        super().__init__()
        self.key = cfg["input"]
        self.inputs: tuple[str, ...] = (self.key,)
        self.input_norm = nn.BatchNorm2d(1) if cfg["input_norm"] == "batchnorm" else nn.Identity()
        self.net, self.out_dim = _torchvision_net(cfg["name"])

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        if self.key not in batch:
            raise KeyError(f"ImageNet model batch lacks input {self.key!r}; has {sorted(batch)}")
        x = batch[self.key]
        if x.dim() == 3:
            x = x.unsqueeze(1)
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(
                f"{self.key} input must be (B, F, T) or (B, 1, F, T), got {tuple(x.shape)}"
            )
        return self.net(self.input_norm(x.float()))


class ImageNetModel(nn.Module):
    """``forward(batch) = head(backbone(batch))``: logits (B,) for 'abnormal'.

    Pretrained-weight hooks (see :func:`auscult.models.weights.load_pretrained`): the
    checkpoint is a torchvision-layout state_dict loaded into ``backbone.net``; its
    classifier keys are ignored and its RGB first-conv kernel is summed to one channel.
    """

    weights_frontend: tuple[str, ...] = ()

    def __init__(self, cfg: Mapping) -> None:
        super().__init__()
        validate_config(cfg)
        self.name = cfg["name"]
        _, _, classifier, first_conv = NAMES[self.name]
        self.weights_name = self.name
        self.weights_ignore: tuple[str, ...] = (classifier,)
        self.weights_first_conv: str | None = first_conv
        self.backbone = ImageNetBackbone(cfg)
        self.inputs = self.backbone.inputs
        self.head = BinaryHead(self.backbone.out_dim, float(cfg["dropout"]))

    @property
    def weights_target(self) -> nn.Module:
        return self.backbone.net

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        return self.head(self.backbone(batch))


def build_imagenet(cfg: Mapping) -> ImageNetModel:
    return ImageNetModel(cfg)
