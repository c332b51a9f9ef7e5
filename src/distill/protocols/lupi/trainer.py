"""The lupi protocol's own trainer: 2-output linear softmax models trained as the Keras 0.x code of Lopez-Paz,
Bottou, Schoelkopf and Vapnik, "Unifying distillation and privileged information" (ICLR 2016) trains them.

Why not the shared fit loop (`distill.core.train`) and `evaluate`: the point of this protocol is to reproduce
the published numbers, and they depend on the authors' optimiser details. Every model is trained as their
code trains it: 1000 epochs of shuffled mini-batches of 128 (Keras' default), Keras' RMSprop (lr 0.001,
rho 0.9, epsilon 1e-6 inside the square root) and Keras' cross-entropy, which clips probabilities to
[1e-7, 1 - 1e-7]: a sample whose prediction is clipped gives no gradient. There is no weight penalty.
Without a penalty, separable problems (experiment 3) have no finite optimum: how far training goes, and
so how confident the teacher's soft labels are, depends on the optimiser's details. Full batch with
torch's RMSprop (epsilon outside the root, no clipping) the regular model of experiment 3 stays at
86.9-87.6 % for every learning rate from 0.002 to 0.02, 2 points or more under the published 89; the
Keras setup above gives 87.2 and also reproduces the ordering of experiment 2 (distilled > regular).
The statistics differ too: over 100 independent repetitions (not folds), with the standard deviation the
paper prints (`summarise` in `distill.protocols.lupi.experiments`).

The repetitions are independent small problems, so they are trained together: one weight tensor per
batch of repetitions, one batched matrix product, one update, and mini-batches as per-sample weights
(`MiniBatchWeights`) rather than shuffled copies. The loss is the sum over repetitions of each
repetition's mean loss, the update acts element-wise, and each repetition shuffles with its own generator,
so every repetition follows the path it would follow alone.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch.nn import functional as F

from distill.errors import DistillError
from distill.losses import check_temperature, check_weight

CLASSES = 2
# The authors' training setup (Keras 0.x defaults; see the module docstring).
DEFAULT_LR = 0.001
DEFAULT_BATCH_SIZE = 128
RMSPROP_DECAY = 0.9
RMSPROP_EPS = 1e-6  # added to the running mean square inside the square root, as Keras 0.x does
PROBABILITY_CLIP = 1e-7  # Keras 0.x cross-entropy clips probabilities to [PROBABILITY_CLIP, 1 - PROBABILITY_CLIP]


def repetition_losses(logits: torch.Tensor, labels: torch.Tensor, soft_targets: torch.Tensor | None,
                      lam: float, temperature: float) -> torch.Tensor:
    """L = (1 - lam) * CE(y, softmax(z)) + lam * T^2 * CE(s, softmax(z)), averaged over samples.

    Generalized distillation (Lopez-Paz et al. 2016, eq. 4), as their code trains it: only the teacher is
    softened, and the soft term is weighted by T^2 (`t*t*l` in their `distillation()`): the formula of
    `distill.losses.generalized_distillation_loss`, here for a batch of independent problems and with the
    soft labels given as probabilities, computed once per repetition. s are the teacher's soft labels
    softmax(f_t(x*) / T); CE(p, q) = -sum_k p_k log q_k. Shapes follow `F.cross_entropy`, classes on
    axis 1: logits (n, classes) with labels (n,), or a batch of problems, logits (reps, classes, n) with
    labels (reps, n); soft_targets have the logits' shape. Returns the mean over the n samples: a scalar, or
    one loss per problem (reps,). Terms with zero weight are skipped, so soft_targets may be None if lam = 0.
    """
    check_weight("lambda", lam)
    check_temperature(temperature)
    per_sample = logits.new_zeros(labels.shape)  # (n,) or (reps, n)
    if lam < 1.0:
        per_sample = per_sample + (1.0 - lam) * F.cross_entropy(logits, labels, reduction="none")
    if lam > 0.0:
        if soft_targets is None:
            raise DistillError(f"soft targets are required when lambda > 0, got lambda = {lam}")
        soft = F.cross_entropy(logits, soft_targets, reduction="none")
        per_sample = per_sample + lam * temperature**2 * soft
    return per_sample.mean(-1)


class LinearSoftmax(NamedTuple):
    """A batch of linear softmax models: weight (reps, classes, d), bias (reps, classes, 1).

    Inputs are kept feature-major, (reps, d, n), so that logits come out as (reps, classes, n), the layout of
    `F.cross_entropy`; with two classes this is also the fast layout for batched matrix products on CPU.
    """

    weight: torch.Tensor
    bias: torch.Tensor

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs (reps, d, n) -> logits (reps, classes, n)."""
        return torch.baddbmm(self.bias, self.weight, inputs)


def glorot_uniform(rng: np.random.Generator, dim: int) -> LinearSoftmax:
    """One repetition's starting point as in Keras' Dense layer: Glorot-uniform weight, zero bias."""
    limit = np.sqrt(6.0 / (dim + CLASSES))
    weight = torch.from_numpy(rng.uniform(-limit, limit, (1, CLASSES, dim)).astype(np.float32))
    return LinearSoftmax(weight, torch.zeros(1, CLASSES, 1))


def stack_models(models: Sequence[LinearSoftmax]) -> LinearSoftmax:
    """Concatenate models along the repetition axis."""
    return LinearSoftmax(torch.cat([m.weight for m in models]), torch.cat([m.bias for m in models]))


def margin_gradient(margins: torch.Tensor, labels: torch.Tensor, soft_targets: torch.Tensor | None, lam: float,
                    temperature: float, clip: float = 0.0) -> torch.Tensor:
    """Per-sample gradient of the two-class `repetition_losses` (before averaging) with respect to
    the class-1 logit z1, in closed form. With m = z1 - z0 the margin and sigma the logistic function,
    softmax(z)_1 = sigma(m), and

        dl/dz1 = (1 - lam) * (sigma(m) - y) + lam * T^2 * (sigma(m) - s) = -dl/dz0,

    y in {0, 1} the label and s the teacher's soft probability of class 1. margins, labels (as floats) and
    soft_targets have one shape, e.g. (reps, 1, n). With clip > 0 it is the gradient of Keras 0.x's clipped
    cross-entropy instead: a term gives no gradient for a sample whose probabilities (sigma(m), the output
    both terms read) fall outside [clip, 1 - clip] (two-class probabilities are clipped
    together, so this is exact). Training uses it in place of autograd, which is about twice as slow here.
    """
    gradient = torch.zeros_like(margins)
    if lam < 1.0:
        gradient += (1.0 - lam) * _clipped(torch.sigmoid(margins), clip, labels)
    if lam > 0.0:
        gradient += lam * temperature ** 2 * _clipped(torch.sigmoid(margins), clip, soft_targets)
    return gradient


def _clipped(probability: torch.Tensor, clip: float, target: torch.Tensor) -> torch.Tensor:
    """probability - target, zeroed where the probability or its complement is below clip."""
    difference = probability - target
    if clip > 0.0:
        difference = difference * (torch.minimum(probability, 1.0 - probability) >= clip)
    return difference


class MiniBatchWeights:
    """Keras' shuffled mini-batches of several problems (repetitions) at once, as per-sample weights.

    Keras shuffles the n sample indices every epoch and takes consecutive slices of batch_size: step k of an
    epoch averages over the samples ranked [k b, (k + 1) b) in a uniformly random order. Here each sample
    draws a uniform key; ranking by key is that random order, and batch k holds the samples whose key lies
    between the (k b)-th and the ((k + 1) b)-th smallest (found by a partial sort). Instead of copying
    shuffled data, step k weights every sample by 1 / |batch k| if it is in batch k and by 0 otherwise, so
    a mini-batch gradient is one matrix product with the unshuffled inputs. Repetition r draws its keys
    from np.random.default_rng(seeds[r]) alone, so its batches do not depend on which repetitions are
    trained beside it. (Float64 keys tie with probability about n^2 2^-54 per epoch; a tie on a batch
    boundary would move one sample to the neighbouring batch.) With batch_size >= n every step is full batch.
    """

    EPOCHS_PER_DRAW = 50  # keys are drawn for this many epochs at a time (bounded memory, few calls)

    def __init__(self, reps: int, n: int, batch_size: int, seeds: Sequence[int] | None = None):
        self.reps, self.n = reps, n
        self._generators = [np.random.default_rng(seed) for seed in (range(reps) if seeds is None else seeds)]
        if len(self._generators) != reps:
            raise DistillError(f"need one shuffling seed per repetition: {reps} repetitions, "
                               f"{len(self._generators)} seeds")
        self._last_ranks = list(range(batch_size - 1, n - 1, batch_size))  # rank of each batch's last sample
        sizes = np.diff([-1, *self._last_ranks, n - 1])  # b, b, ..., the rest
        self._inverse_sizes = [1.0 / size for size in sizes]

    @property
    def steps(self) -> int:
        """Mini-batches per epoch."""
        return len(self._inverse_sizes)

    def epochs(self, count: int) -> Iterator[list[torch.Tensor]]:
        """For each of count epochs, the weights of its steps, each (reps, 1, n) with rows summing to 1."""
        if self.steps == 1:
            full = [torch.full((self.reps, 1, self.n), 1.0 / self.n)]
            for _ in range(count):
                yield full
            return
        for start in range(0, count, self.EPOCHS_PER_DRAW):
            keys = np.stack([generator.random((min(self.EPOCHS_PER_DRAW, count - start), self.n))
                             for generator in self._generators])  # (reps, epochs, n)
            boundaries = np.partition(keys, self._last_ranks, axis=2)[..., self._last_ranks]  # (reps, epochs, steps - 1)
            keys, boundaries = torch.from_numpy(keys), torch.from_numpy(boundaries)
            for epoch in range(keys.shape[1]):
                yield self._step_weights(keys[:, epoch, None], boundaries[:, epoch, None])

    def _step_weights(self, keys: torch.Tensor, boundaries: torch.Tensor) -> list[torch.Tensor]:
        """keys (reps, 1, n), boundaries (reps, 1, steps - 1) -> one float32 weight tensor per step."""
        in_earlier_batch = torch.zeros(keys.shape, dtype=torch.bool)
        weights = []
        for step, inverse_size in enumerate(self._inverse_sizes):
            up_to_here = keys <= boundaries[..., step:step + 1] if step < len(self._last_ranks) else ~in_earlier_batch
            weights.append((up_to_here & ~in_earlier_batch).float() * inverse_size)
            in_earlier_batch = up_to_here
        return weights


def fit_linear_softmax(inputs: torch.Tensor, labels: torch.Tensor, init: LinearSoftmax, *, epochs: int, lr: float,
                       batch_size: int = DEFAULT_BATCH_SIZE, shuffle_seeds: Sequence[int] | None = None,
                       soft_targets: torch.Tensor | None = None, lam: float = 0.0,
                       temperature: float = 1.0) -> LinearSoftmax:
    """Train a batch of independent two-class linear softmax models as Keras 0.x would: every epoch, each
    repetition shuffles its samples and steps through mini-batches of batch_size (the last one smaller)
    with `keras_rmsprop_step` on the clipped cross-entropy. No weight penalty.

    inputs (reps, d, n), labels (reps, n), soft_targets (reps, classes, n) (needed if lam > 0); init is not
    modified. shuffle_seeds: one seed per repetition (default 0, 1, ...). Minimises the sum over repetitions
    of each repetition's mean loss over its mini-batch, so the repetitions never interact.

    With two classes only the weight difference v = w1 - w0 (bias as the weight of a constant-1 input)
    matters, and the gradients of the two rows are g and -g, so RMSprop gives both rows the same mean
    square and moves them by -u and +u: v moves by 2u. Training v alone is the same path at half the cost;
    each row ends at its start -+ half the change of v.
    """
    check_weight("lambda", lam)
    check_temperature(temperature)
    if lam > 0.0 and soft_targets is None:
        raise DistillError(f"soft targets are required when lambda > 0, got lambda = {lam}")
    reps, _, n = inputs.shape
    features = torch.cat([inputs, inputs.new_ones(reps, 1, n)], dim=1)  # (reps, d + 1, n)
    samples = features.transpose(1, 2).contiguous()  # (reps, n, d + 1): the layout of the gradient's product
    targets = labels[:, None, :].to(inputs.dtype)  # (reps, 1, n)
    soft = soft_targets[:, 1:2] if lam > 0.0 else None  # (reps, 1, n): the teacher's probability of class 1
    start = torch.cat([init.weight, init.bias], dim=2)  # (reps, classes, d + 1)
    difference = start[:, 1:2] - start[:, 0:1]  # (reps, 1, d + 1), a new tensor: init is not modified
    mean_square = torch.zeros_like(difference)
    for step_weights in MiniBatchWeights(reps, n, batch_size, shuffle_seeds).epochs(epochs):
        for weights in step_weights:  # (reps, 1, n): 1 / |batch| for the samples of this step's batch
            per_sample = margin_gradient(torch.bmm(difference, features), targets, soft, lam, temperature,
                                         clip=PROBABILITY_CLIP)
            keras_rmsprop_step(difference, torch.bmm(per_sample * weights, samples), mean_square, 2.0 * lr)
    half_change = (difference - (start[:, 1:2] - start[:, 0:1])) / 2.0
    parameters = start + torch.cat([-half_change, half_change], dim=1)
    return LinearSoftmax(parameters[..., :-1], parameters[..., -1:])


def keras_rmsprop_step(parameter: torch.Tensor, gradient: torch.Tensor, mean_square: torch.Tensor, lr: float) -> None:
    """One RMSprop update as Keras 0.x makes it, in place:

        a <- rho * a + (1 - rho) * g^2,    p <- p - lr * g / sqrt(a + eps),

    with rho = RMSPROP_DECAY and eps = RMSPROP_EPS inside the square root (torch's RMSprop adds eps
    outside it, which damps small gradients far less: eps 1e-6 inside acts like 1e-3 outside). The update
    is element-wise, and a zero gradient leaves its element where it is.
    """
    mean_square.mul_(RMSPROP_DECAY).addcmul_(gradient, gradient, value=1.0 - RMSPROP_DECAY)
    parameter.addcdiv_(gradient, (mean_square + RMSPROP_EPS).sqrt_(), value=-lr)


