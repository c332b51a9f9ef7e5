"""Output activations shared by every model family."""
from torch import nn

from distill.errors import DistillError

_ACTIVATIONS = {"none": nn.Identity, "sigmoid": nn.Sigmoid}


def output_activation(name: str) -> nn.Module:
    """`sigmoid` squashes forecasts to [0, 1] as the seed did; `none` leaves logits or values raw."""
    if name not in _ACTIVATIONS:
        raise DistillError(f"unknown output activation {name!r}; allowed: {', '.join(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]()
