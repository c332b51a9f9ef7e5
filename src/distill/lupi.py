"""Generalized distillation on the four synthetic problems of Lopez-Paz, Bottou, Schoelkopf and Vapnik,
"Unifying distillation and privileged information" (ICLR 2016), set up as in their public code.

Each repetition draws a separating direction alpha ~ N(0, I_d), a training set and a test set, and
trains three 2-output linear softmax models:
  privileged  on the privileged inputs x* (the teacher),
  regular     on the regular inputs x,
  distilled   on x, with the teacher's soft labels s_i = softmax(f_t(x*_i) / T).
Every model is trained as the authors' code trains it with Keras 0.x: 1000 epochs of shuffled mini-batches
of 128 (Keras' default), Keras' RMSprop (lr 0.001, rho 0.9, epsilon 1e-6 inside the square root) and
Keras' cross-entropy, which clips probabilities to [1e-7, 1 - 1e-7]: a sample whose prediction is clipped
gives no gradient. There is no weight penalty; inputs are standardised with statistics of the training
set. The repetitions are independent small problems, so they are trained together: one weight tensor per
batch of repetitions, one batched matrix product, one update, and mini-batches as per-sample weights
(`MiniBatchWeights`) rather than shuffled copies. The loss is the sum over repetitions of each
repetition's mean loss, the update acts element-wise, and each repetition shuffles with its own generator,
so every repetition follows the path it would follow alone. The four experiments run in parallel threads.

Without a penalty, separable problems (experiment 3) have no finite optimum: how far training goes, and
so how confident the teacher's soft labels are, depends on the optimiser's details. Full batch with
torch's RMSprop (epsilon outside the root, no clipping) the regular model of experiment 3 stays at
86.9-87.6 % for every learning rate from 0.002 to 0.02, 2 points or more under the published 89; the
Keras setup above gives 87.2 and also reproduces the ordering of experiment 2 (distilled > regular).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import NamedTuple, TypeVar

import numpy as np
import torch
from torch.nn import functional as F

from distill.errors import DistillError
from distill.losses import check_temperature, check_weight

T = TypeVar("T")
R = TypeVar("R")
CLASSES = 2
# The authors' training setup (Keras 0.x defaults; see the module docstring).
DEFAULT_LR = 0.001
DEFAULT_BATCH_SIZE = 128
RMSPROP_DECAY = 0.9
RMSPROP_EPS = 1e-6  # added to the running mean square inside the square root, as Keras 0.x does
PROBABILITY_CLIP = 1e-7  # Keras 0.x cross-entropy clips probabilities to [PROBABILITY_CLIP, 1 - PROBABILITY_CLIP]

# Test accuracy in percent, mean +- standard deviation over 100 repetitions, as printed in the paper
# (section 5; the means are also in REFERENCE.md section 3).
PUBLISHED: dict[str, dict[str, dict[str, float]]] = {
    "clean_labels": {"privileged": {"mean": 96, "std": 0}, "regular": {"mean": 88, "std": 1},
                     "distilled": {"mean": 95, "std": 1}},
    "clean_features": {"privileged": {"mean": 90, "std": 1}, "regular": {"mean": 68, "std": 1},
                       "distilled": {"mean": 70, "std": 1}},
    "relevant_features": {"privileged": {"mean": 98, "std": 0}, "regular": {"mean": 89, "std": 1},
                          "distilled": {"mean": 97, "std": 1}},
    "sample_dependent": {"privileged": {"mean": 96, "std": 2}, "regular": {"mean": 55, "std": 3},
                         "distilled": {"mean": 56, "std": 4}},
}
MODELS = ("privileged", "regular", "distilled")
RELEVANT = 3  # number of relevant coordinates in experiments 3 and 4


class Sample(NamedTuple):
    """One generated data set: privileged inputs (n, d*), regular inputs (n, d), labels (n,) in {0, 1}."""

    privileged: np.ndarray
    regular: np.ndarray
    labels: np.ndarray


def clean_labels(rng: np.random.Generator, alpha: np.ndarray, n: int) -> Sample:
    """Experiment 1: x* = alpha.x is the noiseless margin; y = 1[alpha.x + e > 0], e ~ N(0, 1)."""
    x = rng.standard_normal((n, alpha.size))
    noise = rng.standard_normal(n)
    margin = x @ alpha
    return Sample(margin[:, None], x, (margin + noise > 0).astype(np.int64))


def clean_features(rng: np.random.Generator, alpha: np.ndarray, n: int) -> Sample:
    """Experiment 2: x* is the clean input, y = 1[alpha.x* > 0]; the model sees x = x* + N(0, I)."""
    clean = rng.standard_normal((n, alpha.size))
    noise = rng.standard_normal((n, alpha.size))
    return Sample(clean, clean + noise, (clean @ alpha > 0).astype(np.int64))


def relevant_features(rng: np.random.Generator, alpha: np.ndarray, n: int) -> Sample:
    """Experiment 3: x* = the first 3 coordinates of x, y = 1[alpha_{1..3}.x* > 0]."""
    x = rng.standard_normal((n, alpha.size))
    relevant = x[:, :RELEVANT]
    return Sample(relevant, x, (relevant @ alpha[:RELEVANT] > 0).astype(np.int64))


def sample_dependent(rng: np.random.Generator, alpha: np.ndarray, n: int) -> Sample:
    """Experiment 4: x* = 3 coordinates of x chosen anew for every generated data set, y = 1[alpha_{1..3}.x* >
    its median]. As in the authors' code, train and test sets get different coordinates, so nothing a model
    of x learns carries over to the test set and the regular and distilled models stay near chance."""
    x = rng.standard_normal((n, alpha.size))
    chosen = x[:, rng.permutation(alpha.size)[:RELEVANT]]
    score = chosen @ alpha[:RELEVANT]
    return Sample(chosen, x, (score > np.median(score)).astype(np.int64))


EXPERIMENTS: dict[str, Callable[[np.random.Generator, np.ndarray, int], Sample]] = {
    "clean_labels": clean_labels,
    "clean_features": clean_features,
    "relevant_features": relevant_features,
    "sample_dependent": sample_dependent,
}


def repetition_losses(logits: torch.Tensor, labels: torch.Tensor, soft_targets: torch.Tensor | None,
                      lam: float, temperature: float) -> torch.Tensor:
    """L = (1 - lam) * CE(y, softmax(z)) + lam * T^2 * CE(s, softmax(z / T)), averaged over samples.

    Generalized distillation (Lopez-Paz et al. 2016, eq. 4), with the soft term weighted by T^2 as in their
    code and in Hinton et al. 2015, so its gradient keeps its scale as T changes: the formula of
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
        soft = F.cross_entropy(logits / temperature, soft_targets, reduction="none")
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

        dl/dz1 = (1 - lam) * (sigma(m) - y) + lam * T * (sigma(m / T) - s) = -dl/dz0,

    y in {0, 1} the label and s the teacher's soft probability of class 1. margins, labels (as floats) and
    soft_targets have one shape, e.g. (reps, 1, n). With clip > 0 it is the gradient of Keras 0.x's clipped
    cross-entropy instead: a term gives no gradient for a sample whose probabilities (sigma(m) for the hard
    term, sigma(m / T) for the soft one) fall outside [clip, 1 - clip] (two-class probabilities are clipped
    together, so this is exact). Training uses it in place of autograd, which is about twice as slow here.
    """
    gradient = torch.zeros_like(margins)
    if lam < 1.0:
        gradient += (1.0 - lam) * _clipped(torch.sigmoid(margins), clip, labels)
    if lam > 0.0:
        gradient += lam * temperature * _clipped(torch.sigmoid(margins / temperature), clip, soft_targets)
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


def standardise(train: np.ndarray, test: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale (reps, n, d) arrays per repetition with the training set's mean and (population) std;
    return float32 tensors in the feature-major layout (reps, d, n)."""
    mean = train.mean(axis=1, keepdims=True)  # (reps, 1, d)
    std = train.std(axis=1, keepdims=True)
    std = np.where(std > 0, std, 1.0)
    return feature_major((train - mean) / std), feature_major((test - mean) / std)


def feature_major(inputs: np.ndarray) -> torch.Tensor:
    """(reps, n, d) array -> contiguous float32 tensor (reps, d, n)."""
    return torch.from_numpy(np.ascontiguousarray(inputs.transpose(0, 2, 1), dtype=np.float32))


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """Percentage of correct predictions per repetition: logits (reps, classes, n) -> (reps,)."""
    return ((logits.argmax(1) == labels).double().mean(-1) * 100.0).numpy()


class Batch(NamedTuple):
    """All repetitions of one experiment, standardised: inputs (reps, d, n), labels (reps, n), and starting
    points for the privileged, regular and distilled models, and each repetition's mini-batch shuffling seed."""

    privileged_train: torch.Tensor
    privileged_test: torch.Tensor
    regular_train: torch.Tensor
    regular_test: torch.Tensor
    labels_train: torch.Tensor
    labels_test: torch.Tensor
    inits: dict[str, LinearSoftmax]
    shuffle_seeds: list[int]


def draw_repetition(experiment: str, rng: np.random.Generator, dim: int, train_size: int,
                    test_size: int) -> tuple[Sample, Sample, dict[str, LinearSoftmax], int]:
    """One repetition: alpha, a training set, a test set, a starting point for each model, a shuffling seed."""
    generate = EXPERIMENTS[experiment]
    alpha = rng.standard_normal(dim)
    train, test = generate(rng, alpha, train_size), generate(rng, alpha, test_size)
    inits = {"privileged": glorot_uniform(rng, train.privileged.shape[1]),
             "regular": glorot_uniform(rng, dim), "distilled": glorot_uniform(rng, dim)}
    return train, test, inits, int(rng.integers(2**32))


def make_batch(experiment: str, repetitions: int, *, dim: int, train_size: int, test_size: int,
               seed: int) -> Batch:
    """Draw and standardise every repetition; repetition r uses its own generator seeded with
    (seed, experiment number, r), so it is the same whatever the number of repetitions."""
    number = list(EXPERIMENTS).index(experiment)
    draws = [draw_repetition(experiment, np.random.default_rng([seed, number, rep]), dim, train_size, test_size)
             for rep in range(repetitions)]
    trains, tests, inits, shuffle_seeds = zip(*draws)
    privileged_train, privileged_test = standardise(np.stack([s.privileged for s in trains]),
                                                    np.stack([s.privileged for s in tests]))
    regular_train, regular_test = standardise(np.stack([s.regular for s in trains]),
                                              np.stack([s.regular for s in tests]))
    return Batch(privileged_train, privileged_test, regular_train, regular_test,
                 torch.from_numpy(np.stack([s.labels for s in trains])),
                 torch.from_numpy(np.stack([s.labels for s in tests])),
                 {name: stack_models([i[name] for i in inits]) for name in MODELS}, list(shuffle_seeds))


def fit_privileged_and_regular(batch: Batch, **train) -> tuple[LinearSoftmax, LinearSoftmax]:
    """Train the privileged teacher and the regular model of every repetition as one batch of 2 x reps
    problems (half the steps of two fits); `train` goes to `fit_linear_softmax`.

    The narrower inputs are zero-padded to the wider width. A zero input gets a zero gradient, and the
    element-wise update leaves such a weight where it started, so each model ends exactly where it would
    alone; a repetition's teacher and regular model share its shuffling seed, as they would alone.
    """
    width = max(batch.privileged_train.shape[1], batch.regular_train.shape[1])
    inputs = torch.cat([_pad_features(batch.privileged_train, width), _pad_features(batch.regular_train, width)])
    inits = stack_models([_pad_model(batch.inits["privileged"], width), _pad_model(batch.inits["regular"], width)])
    both = fit_linear_softmax(inputs, torch.cat([batch.labels_train, batch.labels_train]), inits,
                              shuffle_seeds=batch.shuffle_seeds * 2, **train)
    reps = batch.labels_train.shape[0]
    return (LinearSoftmax(both.weight[:reps, :, :batch.privileged_train.shape[1]], both.bias[:reps]),
            LinearSoftmax(both.weight[reps:, :, :batch.regular_train.shape[1]], both.bias[reps:]))


def _pad_features(inputs: torch.Tensor, width: int) -> torch.Tensor:
    """(reps, d, n) -> (reps, width, n) with zero features appended."""
    return F.pad(inputs, (0, 0, 0, width - inputs.shape[1]))


def _pad_model(model: LinearSoftmax, width: int) -> LinearSoftmax:
    """Append zero weights for appended zero features."""
    return LinearSoftmax(F.pad(model.weight, (0, width - model.weight.shape[2])), model.bias)


def run_batch(batch: Batch, *, lam: float, temperature: float, epochs: int, lr: float,
              batch_size: int) -> dict[str, np.ndarray]:
    """Train teacher, regular model and distilled student on every repetition; test accuracy per model."""
    train = {"epochs": epochs, "lr": lr, "batch_size": batch_size}
    teacher, regular = fit_privileged_and_regular(batch, **train)
    soft_targets = torch.softmax(teacher.logits(batch.privileged_train) / temperature, dim=1)  # (reps, 2, n)
    student = fit_linear_softmax(batch.regular_train, batch.labels_train, batch.inits["distilled"],
                                 shuffle_seeds=batch.shuffle_seeds, soft_targets=soft_targets, lam=lam,
                                 temperature=temperature, **train)
    return {"privileged": accuracy(teacher.logits(batch.privileged_test), batch.labels_test),
            "regular": accuracy(regular.logits(batch.regular_test), batch.labels_test),
            "distilled": accuracy(student.logits(batch.regular_test), batch.labels_test)}


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the enclosed block with `count` intra-op threads, then restore the previous number.

    The batched problems are small (a step is a few hundred microseconds of work), so extra threads only
    add synchronisation; on a busy 2-core machine, 2 threads made a training step 5 to 20 times slower.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def map_in_threads(function: Callable[[T], R], items: Sequence[T], workers: int | None = None) -> list[R]:
    """[function(item) for item in items], computed by `workers` threads (default: one per CPU core, at most
    one per item), each with one torch intra-op thread. torch releases the GIL inside its kernels, so
    independent batched fits use the cores in parallel; the results do not depend on the number of workers."""
    if workers is not None and workers < 1:
        raise DistillError(f"workers must be >= 1, got {workers}")
    with torch_threads(1), ThreadPoolExecutor(workers or min(len(items), os.cpu_count() or 1)) as pool:
        return list(pool.map(function, items))


def summarise(values: np.ndarray) -> dict[str, float | list[float]]:
    """Mean, standard error of the mean and sample standard deviation (ddof = 1) of per-repetition values."""
    std = float(np.std(values, ddof=1)) if values.size > 1 else float("nan")
    return {"mean": float(np.mean(values)), "sem": std / np.sqrt(values.size), "std": std,
            "per_repetition": [float(v) for v in values]}


def check_settings(repetitions: int, train_size: int, test_size: int, dim: int, epochs: int, lr: float,
                   batch_size: int, experiments: Sequence[str]) -> None:
    """Raise DistillError for a setting the protocol cannot run with."""
    minimums = {"repetitions": (repetitions, 1), "train_size": (train_size, 2), "test_size": (test_size, 1),
                "dim": (dim, RELEVANT), "epochs": (epochs, 1), "batch_size": (batch_size, 1)}
    for name, (value, smallest) in minimums.items():
        if not isinstance(value, int | np.integer) or value < smallest:
            raise DistillError(f"{name} must be an integer >= {smallest}, got {value!r}")
    if not lr > 0.0:
        raise DistillError(f"lr must be > 0, got {lr}")
    for name in experiments:
        if name not in EXPERIMENTS:
            raise DistillError(f"unknown experiment {name!r}; allowed: {', '.join(EXPERIMENTS)}")


def run_lupi_synthetic(repetitions: int = 100, train_size: int = 200, test_size: int = 1000, dim: int = 50,
                       lam: float = 1.0, temperature: float = 1.0, epochs: int = 1000, lr: float = DEFAULT_LR,
                       batch_size: int = DEFAULT_BATCH_SIZE, seed: int = 0,
                       experiments: Sequence[str] | None = None, workers: int | None = None) -> dict:
    """Run the synthetic experiments of Lopez-Paz et al. 2016 and return test accuracies in percent.

    The experiments are independent, so they run in parallel (`map_in_threads` with `workers`).

    Returns {"experiments": {name: {model: {"accuracy": {"mean", "sem", "std", "per_repetition"}}}},
    "published": PUBLISHED, "settings": {...}} with model in privileged / regular / distilled.
    """
    check_weight("lambda", lam)
    check_temperature(temperature)
    names = list(EXPERIMENTS) if experiments is None else list(experiments)
    check_settings(repetitions, train_size, test_size, dim, epochs, lr, batch_size, names)

    def run_experiment(name: str) -> dict:
        batch = make_batch(name, repetitions, dim=dim, train_size=train_size, test_size=test_size, seed=seed)
        accuracies = run_batch(batch, lam=lam, temperature=temperature, epochs=epochs, lr=lr, batch_size=batch_size)
        return {model: {"accuracy": summarise(acc)} for model, acc in accuracies.items()}

    results = dict(zip(names, map_in_threads(run_experiment, names, workers)))
    settings = {"repetitions": repetitions, "train_size": train_size, "test_size": test_size, "dim": dim,
                "lam": lam, "temperature": temperature, "epochs": epochs, "lr": lr, "batch_size": batch_size,
                "seed": seed}
    return {"experiments": results, "published": PUBLISHED, "settings": settings}
