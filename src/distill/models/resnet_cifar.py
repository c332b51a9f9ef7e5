"""The CIFAR ResNets of the distillation benchmarks (CRD, Tian et al. 2020; mdistiller, Zhao et al. 2022):
a 3x3 stem, then 3 stages of (depth - 2) / 6 basic blocks at strides 1, 2, 2, global average pool, linear head.

`channels` = [stem, stage 1, stage 2, stage 3]: [16, 16, 32, 64] is He et al.'s resnet8..110, [32, 64, 128, 256]
the benchmarks' "x4" pair, resnet32x4 (teacher, 7.43 M parameters on CIFAR-100) and resnet8x4 (student, 1.23 M):
CRD's `ResNet(depth, [32, 64, 128, 256], 'basicblock')`. Tiny channel lists train in seconds on a CPU. Stages
are `layer1` .. `layer3`, hookable by module path; blocks and shortcuts are `distill.models.resnet`'s.
"""
from __future__ import annotations

import torch
from torch import nn

from distill.errors import DistillError
from distill.models.cnn import check_image_shape
from distill.models.registry import register_model
from distill.models.resnet import CIFAR_DEPTHS, BasicBlock, init_weights, stage


@register_model("resnet_cifar")
class CifarResNet(nn.Module):
    """stem (3x3 conv, BN, ReLU) -> `layer1` .. `layer3` -> global average pool -> `fc`; input (batch, 3, 32, 32)
    (any channels and size, as `input_shape` says)."""

    def __init__(self, input_shape: tuple[int, ...], output_dim: int, depth: int = 32,
                 channels: tuple[int, ...] | list[int] = (32, 64, 128, 256)) -> None:
        super().__init__()
        in_channels = check_image_shape(input_shape, "resnet_cifar")[0]
        if depth not in CIFAR_DEPTHS:
            raise DistillError(f"unknown resnet_cifar depth {depth!r}; allowed: {', '.join(map(str, CIFAR_DEPTHS))}")
        if len(channels) != 4:
            raise DistillError(f"resnet_cifar channels must be 4 numbers (stem and 3 stages), got {list(channels)}")
        blocks = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels[0]), nn.ReLU())
        self.layer1 = stage(BasicBlock, channels[0], channels[1], blocks, stride=1)
        self.layer2 = stage(BasicBlock, channels[1], channels[2], blocks, stride=2)
        self.layer3 = stage(BasicBlock, channels[2], channels[3], blocks, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels[3], output_dim)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (batch, c0, h, w)
        x = self.layer3(self.layer2(self.layer1(x)))  # (batch, c3, h / 4, w / 4)
        return self.fc(self.pool(x).flatten(1))  # (batch, output_dim)
