"""Residual networks (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016).

Two families behind one class, chosen by `depth`:
- ImageNet-style 18/34 (basic blocks) and 50/101/152 (bottleneck blocks), 4 stages of widths
  64/128/256/512; laid out as torchvision's, so at width 1.0 with 1000 classes and a 3x224x224
  input resnet18 has 11,689,512 parameters and resnet50 25,557,032.
- CIFAR-style 6n+2 (8, 14, 20, 32, 44, 56, 110): 3 stages of n basic blocks of widths 16/32/64,
  the teachers and students of the KD literature; shortcuts that change shape are 1x1 convolutions.

`width` scales every stage (never below 4 channels), so the whole chain 152 -> 18 trains on a CPU
at small widths. The stages are the attributes `layer1` .. `layer4` (`layer3` for CIFAR-style),
named so feature-based losses can hook them by module path. ReLUs are not in-place, so a hooked
feature map is never overwritten by the next layer.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from distill.errors import DistillError
from distill.models.cnn import check_image_shape
from distill.models.heads import output_activation
from distill.models.registry import register_model

MIN_CHANNELS = 4


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection; `expansion` = output / `planes` channels."""

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = shortcut(in_channels, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))  # (batch, planes, h / stride, w / stride)
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (carries the stride, as torchvision's v1.5) -> 1x1 expand to 4 x `planes`."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.shortcut = shortcut(in_channels, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))  # (batch, planes, h, w)
        y = F.relu(self.bn2(self.conv2(y)))  # (batch, planes, h / stride, w / stride)
        y = self.bn3(self.conv3(y))  # (batch, 4 * planes, h / stride, w / stride)
        return F.relu(y + self.shortcut(x))


Block = type[BasicBlock] | type[Bottleneck]

IMAGENET_DEPTHS: dict[int, tuple[Block, tuple[int, ...]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}
CIFAR_DEPTHS = (8, 14, 20, 32, 44, 56, 110)
IMAGENET_WIDTHS = (64, 128, 256, 512)
CIFAR_WIDTHS = (16, 32, 64)


class StridedPointwise(nn.Conv2d):
    """A 1x1 convolution of stride s, computed as a stride-1 one on every s-th row and column of its input: the same
    outputs and gradients. oneDNN 3.12 (torch 2.13's CPU build) writes past its workspace in the strided form's
    weight gradient on AVX2-only CPUs when the input is channels-last with fewer channels than its block
    (uxlfoundation/oneDNN#6035): a segmentation fault, or wrong gradients. The stride-1 form has no such path."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__(in_channels, out_channels, 1, bias=False)
        self.step = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x[:, :, ::self.step, ::self.step])

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, step={self.step}"


def shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Identity when the shape is kept, else a strided 1x1 convolution + BN projection."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(StridedPointwise(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))


def architecture(depth: int) -> tuple[Block, tuple[int, ...], tuple[int, ...]]:
    """(block type, blocks per stage, base width per stage) for a depth."""
    if depth in IMAGENET_DEPTHS:
        block, blocks = IMAGENET_DEPTHS[depth]
        return block, blocks, IMAGENET_WIDTHS
    if depth in CIFAR_DEPTHS:
        return BasicBlock, ((depth - 2) // 6,) * 3, CIFAR_WIDTHS
    allowed = ", ".join(str(d) for d in sorted([*IMAGENET_DEPTHS, *CIFAR_DEPTHS]))
    raise DistillError(f"unknown resnet depth {depth!r}; allowed: {allowed}")


def stem(in_channels: int, out_channels: int, small_input: bool) -> nn.Sequential:
    """3x3 stride-1 conv for 8..32 pixel images; else ImageNet's 7x7 stride-2 conv + 3x3 stride-2 max-pool."""
    if small_input:
        return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                             nn.BatchNorm2d(out_channels), nn.ReLU())
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 7, stride=2, padding=3, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(),
                         nn.MaxPool2d(3, stride=2, padding=1))


def stage(block: Block, in_channels: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    """`blocks` residual blocks; the first changes stride and width, the rest keep them."""
    out_channels = planes * block.expansion
    return nn.Sequential(block(in_channels, planes, stride),
                         *(block(out_channels, planes) for _ in range(blocks - 1)))


def init_weights(model: nn.Module, zero_init_residual: bool = False) -> None:
    """He-normal (fan-out) convolutions, as torchvision; BN starts at weight 1, bias 0 by default.

    With `zero_init_residual` the last BN of every block starts at weight 0, so each block starts as
    the identity (Goyal et al. 2017; torchvision's option of the same name): very deep, narrow nets
    such as resnet152 at width 0.125 then train in a few epochs instead of stalling.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_residual and isinstance(module, (BasicBlock, Bottleneck)):
            nn.init.zeros_(module.bn3.weight if isinstance(module, Bottleneck) else module.bn2.weight)


@register_model("resnet")
class ResNet(nn.Module):
    """stem -> `layer1` .. `layerK` (stride 1, then 2 each) -> global average pool -> `fc`.

    Input (batch, channels, height, width); `in_channels` is taken from `input_shape`.
    """

    def __init__(self, input_shape: tuple[int, ...], output_dim: int, depth: int = 18, width: float = 1.0,
                 small_input: bool = True, output: str = "none", zero_init_residual: bool = False) -> None:
        super().__init__()
        in_channels = check_image_shape(input_shape, "resnet")[0]
        if not width > 0:
            raise DistillError(f"resnet width must be a positive multiplier such as 0.125 or 1.0, got {width!r}")
        block, blocks, base_widths = architecture(depth)
        planes = [max(MIN_CHANNELS, round(w * width)) for w in base_widths]
        self.stem = stem(in_channels, planes[0], small_input)
        self.stage_names = tuple(f"layer{i}" for i in range(1, len(blocks) + 1))
        channels = planes[0]
        for i, (name, stage_planes, count) in enumerate(zip(self.stage_names, planes, blocks)):
            self.add_module(name, stage(block, channels, stage_planes, count, stride=1 if i == 0 else 2))
            channels = stage_planes * block.expansion
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, output_dim)
        self.out = output_activation(output)
        init_weights(self, zero_init_residual)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (batch, planes[0], h', w'); h' = h for small_input, else h / 4
        for name in self.stage_names:
            x = getattr(self, name)(x)  # each stage after the first halves h' and w'
        x = self.pool(x).flatten(1)  # (batch, channels)
        return self.out(self.fc(x))  # (batch, output_dim)
