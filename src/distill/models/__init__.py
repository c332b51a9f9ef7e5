"""Model families by name: `build_model(name, input_shape, output_dim, **options)`.

Each family file registers its class with `@register_model(name)`; adding a family is one file in this
package and one import below (the imports are the registry's order, nothing registers behind your back).
"""
from distill.models import (  # noqa: F401  (registers each family)
    cnn,
    compact,
    ensemble,
    lstm,
    mlp,
    quantile,
    recurrent,
    resnet,
    resnet_cifar,
    shrunk,
    tcn,
)
from distill.models.registry import MODELS, build_model, register_model

__all__ = ["MODELS", "build_model", "register_model"]
