"""Feature taps by forward hook, and the adapters that map student channels to teacher channels."""
from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from distill.core.features import FeatureTap, make_adapter
from distill.errors import DistillError


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
        self.head = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@pytest.fixture
def net() -> TinyNet:
    torch.manual_seed(0)
    return TinyNet()


def test_tap_captures_the_module_output_and_leaves_the_output_unchanged(net):
    x = torch.randn(5, 4)
    untapped = net(x)
    with FeatureTap(net, "body.1") as tap:
        tapped = net(x)
    torch.testing.assert_close(tapped, untapped, rtol=0, atol=0)
    torch.testing.assert_close(tap.value, torch.relu(net.body[0](x)), rtol=0, atol=0)


def test_tap_on_a_top_level_module(net):
    x = torch.randn(2, 4)
    tap = FeatureTap(net, "body")
    net(x)
    tap.close()
    torch.testing.assert_close(tap.value, net.body(x), rtol=0, atol=0)


def test_close_removes_the_hook(net):
    tap = FeatureTap(net, "head")
    first = net(torch.randn(2, 4))
    tap.close()
    net(torch.randn(2, 4))
    assert tap.value is first
    assert not net.head._forward_hooks


def test_tapped_features_carry_gradient(net):
    with FeatureTap(net, "body.2") as tap:
        net(torch.randn(3, 4))
    tap.value.pow(2).sum().backward()
    assert net.body[0].weight.grad is not None


def test_tap_works_on_sequential_with_named_children():
    model = nn.Sequential(OrderedDict(stem=nn.Conv2d(1, 2, 3), pool=nn.AdaptiveAvgPool2d(1)))
    with FeatureTap(model, "stem") as tap:
        model(torch.randn(1, 1, 5, 5))
    assert tap.value.shape == (1, 2, 3, 3)


def test_unknown_path_lists_top_level_names(net):
    message = "feature path 'layer9' names no module in TinyNet; available: body, head"
    with pytest.raises(DistillError, match=message):
        FeatureTap(net, "layer9")


def test_unknown_nested_path_lists_names_where_it_breaks(net):
    with pytest.raises(DistillError, match="available in body: 0, 1, 2"):
        FeatureTap(net, "body.9")
    with pytest.raises(DistillError, match="names no module"):
        FeatureTap(net, "body.0.weight")


@pytest.mark.parametrize("rank, shape, expected", [
    (4, (2, 3, 5, 5), (2, 7, 5, 5)),
    (3, (2, 3, 9), (2, 7, 9)),
    (2, (2, 3), (2, 7)),
])
def test_adapter_maps_student_channels_to_teacher_channels(rank, shape, expected):
    adapter = make_adapter(3, 7, rank)
    assert adapter(torch.randn(shape)).shape == expected


@pytest.mark.parametrize("student, teacher, rank", [(3, 7, 5), (3, 7, 1), (0, 7, 4), (3, 0, 2)])
def test_adapter_errors(student, teacher, rank):
    with pytest.raises(DistillError):
        make_adapter(student, teacher, rank)
