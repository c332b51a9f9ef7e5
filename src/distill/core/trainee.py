"""The student as `distill.Distiller` trains it: its outputs picked from whatever it returns (`select_output`:
a tuple, a dict, a Hugging Face ModelOutput), its hooked and adapted features (`Trainee`), and the method's
loss terms weighted per row by sample weights (`weighted_losses`), and an epoch's logs (`epoch_logs`)."""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from distill.core.distributed import World
from distill.core.features import FeatureTap
from distill.errors import DistillError
from distill.losses import LossTerms
from distill.methods import Guide, Method

Selector = str | int | Callable[[Any], torch.Tensor] | None


def select_output(output: Any, selector: Selector, who: str) -> torch.Tensor:
    """The tensor the method compares, picked from a model's output by `selector`: None (the output is that
    tensor), a key (of a dict or an attribute, as a Hugging Face `ModelOutput`'s "logits"), an index (of a
    tuple) or a function of the output. Anything else is one line naming `<who>_output`."""
    if selector is None:
        if isinstance(output, torch.Tensor):
            return output
        raise DistillError(f"the {who} returns a {type(output).__name__}, not a tensor; pass {who}_output= (a key, "
                           "an index or a function) to say which part holds its outputs")
    try:
        if callable(selector):
            picked = selector(output)
        elif isinstance(selector, int) or isinstance(output, Mapping):
            picked = output[selector]
        else:
            picked = getattr(output, selector)
    except (KeyError, IndexError, AttributeError, TypeError) as error:
        raise DistillError(f"{who}_output={selector!r} does not pick a part of the {who}'s "
                           f"{type(output).__name__} output ({type(error).__name__}: {error})") from None
    if not isinstance(picked, torch.Tensor):
        raise DistillError(f"{who}_output={selector!r} picks a {type(picked).__name__} from the {who}'s output, "
                           "not a tensor")
    return picked


class Trainee(nn.Module):
    """The student and, for feature methods, its adapter and the method's learned part (VID, CRD: `part`): one
    module, so DDP synchronises them all.
    forward(x) -> (outputs picked by `output`, the hooked features after the adapter, or None)."""

    def __init__(self, student: nn.Module, tap: str | None, adapter: nn.Module | None, output: Selector) -> None:
        super().__init__()
        self.student, self.adapter, self.output = student, adapter, output
        self.part: nn.Module | None = None
        self.tap = FeatureTap(student, tap) if tap is not None else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        outputs = select_output(self.student(x), self.output, "student")
        if self.tap is None:
            return outputs, None
        features = self.tap.value
        if not isinstance(features, torch.Tensor):
            raise DistillError(f"feature path {self.tap.path!r} gives a {type(features).__name__}, not a tensor")
        return outputs, features if self.adapter is None else self.adapter(features)


Forward = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]  # the trainee, wrapped or compiled


def weighted_losses(method: Method, outputs: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, guide: Guide,
                    features: torch.Tensor | None, part: nn.Module | None = None) -> LossTerms:
    """Each of the method's terms per row (the method on one-row batches, vectorised by `torch.func.vmap`),
    averaged with the rows' sample weights: sum_i w_i l_i / sum_i w_i."""
    if weight.shape != (len(y),):
        raise DistillError(f"sample weights must be one number per row, shape ({len(y)},); got {tuple(weight.shape)}")

    def one_row(output: torch.Tensor, target: torch.Tensor, teacher: torch.Tensor | None,
                teacher_features: torch.Tensor | None, feature: torch.Tensor | None) -> LossTerms:
        def row(value: torch.Tensor | None) -> torch.Tensor | None:
            return None if value is None else value[None]
        return method.losses(output[None], target[None], Guide(row(teacher), row(teacher_features)), row(feature),
                             part)

    with warnings.catch_warnings():  # kl_div has no vmap rule yet: torch loops over the rows, and says so
        warnings.filterwarnings("ignore", "There is a performance drop", UserWarning)
        inputs = (outputs, y, guide.outputs, guide.features, features)
        in_dims = tuple(None if value is None else 0 for value in inputs)  # vmap maps tensors only
        per_row = torch.func.vmap(one_row, in_dims=in_dims)(*inputs)
    weight = weight.to(outputs.dtype)
    return {name: (values * weight).sum() / weight.sum() for name, values in per_row.items()}


def epoch_logs(steps: list[LossTerms], sizes: list[int], world: World, epoch: int,
               optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """The epoch's objective and its terms, averaged over its rows (over every rank's), and the lr as it ends;
    a non-finite loss is one line naming the epoch (from 1) and the batch."""
    weights = torch.tensor(sizes, device=steps[0]["loss"].device, dtype=torch.float64)
    names = list(steps[0])
    sums = torch.stack([torch.stack([step[name] for step in steps]).double() @ weights for name in names]
                       + [weights.sum()])
    if world.size > 1:
        dist.all_reduce(sums)  # every rank logs the loss over the whole epoch
    if not torch.isfinite(sums[0]):
        losses = torch.stack([step["loss"] for step in steps])
        bad = torch.nonzero(~torch.isfinite(losses)).flatten()
        raise DistillError(f"the training loss is not finite in epoch {epoch}, batch "
                           f"{int(bad[0]) + 1 if len(bad) else '?'}: NaN or inf in the inputs or targets, or "
                           "a learning rate too large")
    means = {name: float(sums[i] / sums[-1]) for i, name in enumerate(names)}
    return {**means, "lr": float(optimizer.param_groups[0]["lr"])}


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def precision_autocast(device: torch.device, precision: str) -> AbstractContextManager:
    """Autocast at a fit's precision (bfloat16 or float16), or nothing at fp32."""
    dtype = PRECISIONS[precision]
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def check_class_targets(task: str, method: str, y: torch.Tensor) -> None:
    """Refuse float targets for a classification method, which would read them as something else."""
    if task == "classification" and y.is_floating_point():
        raise DistillError(f"the targets are {str(y.dtype).removeprefix('torch.')} values, but method "
                           f"{method!r} reads class indices; for value targets use method='regression' "
                           "(or task='regression'), for labels pass integer class indices")


@contextmanager
def labels_checked() -> Iterator[None]:
    """Cross-entropy's "Target 5 is out of bounds." as one line that names the problem."""
    try:
        yield
    except IndexError as error:
        if "out of bounds" not in str(error):
            raise
        raise DistillError(f"a label is not a class index 0..C-1 of the outputs: {error}") from None
