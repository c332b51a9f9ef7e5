"""Classification and feature losses checked against their formulas, written out independently in numpy."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from distill.errors import DistillError
from distill.losses import (
    GeneralizedDistillationLoss,
    NSTLoss,
    SoftTargetLoss,
    SubclassDistillationLoss,
    SubclassTeacherLoss,
    class_log_probs_from_subclasses,
    generalized_distillation_loss,
    nst_loss,
    soft_target_loss,
    subclass_aux_loss,
    subclass_distillation_loss,
    subclass_teacher_loss,
)

TOL = 1e-6


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def as_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array)  # float64 stays float64


def np_softmax(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = z / temperature
    e = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def np_ce(z: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np_softmax(z)[np.arange(len(y)), y])))


def logits_and_labels(batch: int = 8, classes: int = 5, seed: int = 0):
    g = rng(seed)
    student = 2.0 * g.normal(size=(batch, classes))
    teacher = 3.0 * g.normal(size=(batch, classes))
    labels = g.integers(0, classes, size=batch)
    return student, teacher, labels


# Soft targets (Hinton et al. 2015) and generalized distillation (Lopez-Paz et al. 2016)

@pytest.mark.parametrize("temperature, alpha", [(1.0, 0.5), (4.0, 0.3), (16.0, 1.0)])
def test_soft_target_matches_formula(temperature, alpha):
    s, t, y = logits_and_labels()
    p_t, p_s = np_softmax(t, temperature), np_softmax(s, temperature)
    kl = np.sum(p_t * (np.log(p_t) - np.log(p_s))) / len(y)
    expected = (1 - alpha) * np_ce(s, y) + alpha * temperature ** 2 * kl
    got = soft_target_loss(as_tensor(s), as_tensor(t), as_tensor(y), temperature=temperature, alpha=alpha)
    assert got.item() == pytest.approx(expected, abs=TOL)
    module = SoftTargetLoss(temperature=temperature, alpha=alpha)(as_tensor(s), as_tensor(t), as_tensor(y))
    assert module.item() == pytest.approx(expected, abs=TOL)


def lopez_paz_loss(s: np.ndarray, t: np.ndarray, y: np.ndarray, temperature: float, lam: float) -> float:
    """Their Keras graph (code/synthetic.py `distillation`, `do_exp`), written out: one dense layer feeds two
    plain softmax outputs; 'hard' fits one-hot labels with weight 1 - l, 'soft' fits softmax(teacher / t)
    with weight t*t*l; Keras' categorical cross-entropy is -sum(target * log(output)) averaged over rows."""
    hard_out = soft_out = np_softmax(s)  # both outputs are the same plain softmax of the student's logits
    one_hot = np.eye(s.shape[1])[y]
    soft_targets = np_softmax(t, temperature)
    keras_ce = lambda target, output: float(np.mean(-np.sum(target * np.log(output), axis=1)))
    return (1.0 - lam) * keras_ce(one_hot, hard_out) + temperature * temperature * lam * keras_ce(soft_targets, soft_out)


@pytest.mark.parametrize("temperature, lam", [(1.0, 1.0), (2.0, 0.5), (10.0, 0.2), (5.0, 1.0)])
def test_generalized_matches_the_authors_code(temperature, lam):
    s, t, y = logits_and_labels(seed=1)
    expected = lopez_paz_loss(s, t, y, temperature, lam)
    got = generalized_distillation_loss(as_tensor(s), as_tensor(t), as_tensor(y), temperature=temperature, lam=lam)
    assert got.item() == pytest.approx(expected, abs=TOL)
    module = GeneralizedDistillationLoss(temperature=temperature, lam=lam)(as_tensor(s), as_tensor(t), as_tensor(y))
    assert module.item() == pytest.approx(expected, abs=TOL)


def test_generalized_softens_only_the_teacher_so_it_is_not_hinton_kd_above_t_1():
    s, t, y = logits_and_labels(seed=4)
    student = as_tensor(s.copy()).requires_grad_(True)
    generalized_distillation_loss(student, as_tensor(t), as_tensor(y), temperature=4.0, lam=1.0).backward()
    # d/dz_s of T^2 CE(softmax(t / T), softmax(z_s)) = T^2 (softmax(z_s) - softmax(t / T)) / n
    expected = 16.0 * (np_softmax(s) - np_softmax(t, 4.0)) / len(y)
    np.testing.assert_allclose(student.grad.numpy(), expected, atol=1e-12)
    hinton = as_tensor(s.copy()).requires_grad_(True)
    soft_target_loss(hinton, as_tensor(t), as_tensor(y), temperature=4.0, alpha=1.0).backward()
    assert not torch.allclose(student.grad, hinton.grad, atol=1e-3)


def test_weight_zero_is_plain_cross_entropy():
    s, t, y = logits_and_labels(seed=2)
    plain = np_ce(s, y)
    args = (as_tensor(s), as_tensor(t), as_tensor(y))
    assert soft_target_loss(*args, temperature=4.0, alpha=0.0).item() == pytest.approx(plain, abs=TOL)
    assert generalized_distillation_loss(*args, temperature=4.0, lam=0.0).item() == pytest.approx(plain, abs=TOL)


def soft_term_grad_norm(s: np.ndarray, t: np.ndarray, y: np.ndarray, temperature: float) -> float:
    student = as_tensor(s.copy()).requires_grad_(True)
    soft_target_loss(student, as_tensor(t), as_tensor(y), temperature=temperature, alpha=1.0).backward()
    return student.grad.norm().item()


def test_soft_term_gradient_keeps_its_scale_as_temperature_grows():
    s, t, y = logits_and_labels(seed=3)
    norms = {T: soft_term_grad_norm(s, t, y, T) for T in (1.0, 4.0, 16.0)}
    # For large T the gradient T * (p_s - p_t) / n tends to the centred logit gap / (n * classes).
    gap = (s - s.mean(1, keepdims=True)) - (t - t.mean(1, keepdims=True))
    limit = np.linalg.norm(gap) / (len(y) * s.shape[1])
    assert norms[16.0] == pytest.approx(limit, rel=0.05)
    assert max(norms.values()) / min(norms.values()) < 3.0
    # Without T^2 the T = 16 gradient would be 1/256 of this: far below the T = 1 one.
    assert norms[16.0] / 16.0 ** 2 < 0.05 * norms[1.0]


@pytest.mark.parametrize("loss_fn", [soft_target_loss, generalized_distillation_loss])
@pytest.mark.parametrize("temperature, weight", [(0.0, 0.5), (-1.0, 0.5), (2.0, -0.1), (2.0, 1.5)])
def test_bad_temperature_or_weight_raises(loss_fn, temperature, weight):
    s, t, y = logits_and_labels()
    with pytest.raises(DistillError):
        loss_fn(as_tensor(s), as_tensor(t), as_tensor(y), **options(loss_fn, temperature, weight))


def options(loss, temperature: float, weight: float) -> dict:
    """The keyword options of a soft-target or generalized loss (function or module)."""
    generalized = loss in (generalized_distillation_loss, GeneralizedDistillationLoss)
    return {"temperature": temperature, "lam" if generalized else "alpha": weight}


@pytest.mark.parametrize("loss_fn", [soft_target_loss, generalized_distillation_loss])
def test_options_are_keyword_only_so_a_swap_cannot_run(loss_fn):
    s, t, y = logits_and_labels()
    with pytest.raises(TypeError):
        loss_fn(as_tensor(s), as_tensor(t), as_tensor(y), 2.0, 0.5)


@pytest.mark.parametrize("module", [SoftTargetLoss, GeneralizedDistillationLoss])
def test_module_rejects_bad_settings(module):
    with pytest.raises(DistillError):
        module(**options(module, 0.0, 0.5))
    with pytest.raises(DistillError):
        module(**options(module, 2.0, 2.0))


@pytest.mark.parametrize("loss_fn", [soft_target_loss, generalized_distillation_loss])
def test_class_count_mismatch_raises(loss_fn):
    student, teacher = torch.zeros(4, 10), torch.zeros(4, 5)
    with pytest.raises(DistillError, match="class count mismatch: student has 10 classes, teacher 5"):
        loss_fn(student, teacher, torch.zeros(4, dtype=torch.long), **options(loss_fn, 2.0, 0.5))


# Neuron Selectivity Transfer (Huang & Wang 2017)

def np_maps(features: np.ndarray) -> np.ndarray:
    """(batch, channels, *spatial) -> (batch, channels, positions), rows of unit L2 norm."""
    flat = features.reshape(features.shape[0], features.shape[1], -1)
    return flat / np.linalg.norm(flat, axis=2, keepdims=True)


def np_mmd(student: np.ndarray, teacher: np.ndarray, kernel) -> float:
    """Squared MMD per example, from explicit pairwise kernel values, then the batch mean."""
    values = []
    for s, t in zip(np_maps(student), np_maps(teacher)):
        k_tt = np.mean([kernel(a, b) for a in t for b in t])
        k_ss = np.mean([kernel(a, b) for a in s for b in s])
        k_ts = np.mean([kernel(a, b) for a in t for b in s])
        values.append(k_tt + k_ss - 2.0 * k_ts)
    return float(np.mean(values))


def features(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return rng(seed).normal(size=shape)


@pytest.mark.parametrize("spatial", [(4, 5), (7,)])
@pytest.mark.parametrize("kernel, degree, c, sigma, k", [
    ("linear", 2, 0.0, None, lambda a, b: a @ b),
    ("poly", 2, 0.0, None, lambda a, b: (a @ b) ** 2),
    ("poly", 3, 0.5, None, lambda a, b: (a @ b + 0.5) ** 3),
    ("gaussian", 2, 0.0, 0.7, lambda a, b: np.exp(-np.sum((a - b) ** 2) / (2 * 0.7 ** 2))),
])
def test_nst_matches_formula(spatial, kernel, degree, c, sigma, k):
    s, t = features((3, 4, *spatial), 4), features((3, 6, *spatial), 5)
    expected = np_mmd(s, t, k)
    got = nst_loss(as_tensor(s), as_tensor(t), kernel=kernel, degree=degree, c=c, sigma=sigma)
    assert got.item() == pytest.approx(expected, abs=TOL)
    module = NSTLoss(kernel=kernel, degree=degree, c=c, sigma=sigma)(as_tensor(s), as_tensor(t))
    assert module.item() == pytest.approx(expected, abs=TOL)


def test_nst_gaussian_default_sigma_is_median_pairwise_distance():
    s, t = features((2, 3, 3, 3), 6), features((2, 4, 3, 3), 7)  # 7 maps -> 21 pairs, an odd count
    expected = []
    for b in range(2):
        points = np.concatenate([np_maps(t)[b], np_maps(s)[b]])
        sigma = np.median([np.linalg.norm(points[i] - points[j])
                           for i in range(len(points)) for j in range(i + 1, len(points))])
        kernel = lambda a, c, sigma=sigma: np.exp(-np.sum((a - c) ** 2) / (2 * sigma ** 2))  # noqa: E731
        expected.append(np_mmd(s[b:b + 1], t[b:b + 1], kernel))
    got = nst_loss(as_tensor(s), as_tensor(t), kernel="gaussian")
    assert got.item() == pytest.approx(np.mean(expected), abs=TOL)


def test_nst_linear_is_squared_distance_of_mean_maps():
    s, t = features((2, 3, 4, 4), 8), features((2, 5, 4, 4), 9)
    gap = np_maps(t).mean(axis=1) - np_maps(s).mean(axis=1)  # (batch, positions)
    expected = np.mean(np.sum(gap ** 2, axis=1))
    assert nst_loss(as_tensor(s), as_tensor(t), kernel="linear").item() == pytest.approx(expected, abs=TOL)


def test_nst_poly2_is_frobenius_distance_of_channel_averaged_spatial_grams():
    # sum_{i,i'} (t_i.t_i')^2 = ||F_t F_t^T||_F^2 = ||G_t||_F^2 with G_t = F_t^T F_t (positions x positions),
    # and sum_{i,j} (t_i.s_j)^2 = <G_t, G_s>_F, so MMD^2 = ||G_t / C_t - G_s / C_s||_F^2.
    s, t = features((2, 3, 4, 4), 10), features((2, 5, 4, 4), 11)
    ms, mt = np_maps(s), np_maps(t)
    gram_s = np.einsum("bcp,bcq->bpq", ms, ms) / ms.shape[1]
    gram_t = np.einsum("bcp,bcq->bpq", mt, mt) / mt.shape[1]
    expected = np.mean(np.sum((gram_t - gram_s) ** 2, axis=(1, 2)))
    assert nst_loss(as_tensor(s), as_tensor(t), kernel="poly", degree=2, c=0.0).item() == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("kernel", ["linear", "poly", "gaussian"])
def test_nst_is_zero_for_identical_features(kernel):
    x = as_tensor(features((2, 4, 3, 3), 12))
    assert nst_loss(x, x.clone(), kernel=kernel).item() == pytest.approx(0.0, abs=TOL)


@pytest.mark.parametrize("large, small, pool", [
    ((2, 3, 8, 8), (2, 5, 4, 4), lambda x: F.avg_pool2d(x, 2)),
    ((2, 3, 12), (2, 5, 4), lambda x: F.avg_pool1d(x, 3)),
])
def test_nst_pools_the_larger_map_to_the_smaller(large, small, pool):
    big, little = as_tensor(features(large, 13)), as_tensor(features(small, 14))
    expected = nst_loss(pool(big), little).item()
    assert nst_loss(big, little).item() == pytest.approx(expected, abs=TOL)
    assert nst_loss(little, big).item() == pytest.approx(nst_loss(little, pool(big)).item(), abs=TOL)


def test_nst_gradient_reaches_the_student():
    s = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    for kernel in ("linear", "poly", "gaussian"):
        nst_loss(s, torch.randn(2, 5, 4, 4, dtype=torch.float64), kernel=kernel).backward()
    assert torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0


@pytest.mark.parametrize("student, teacher, options", [
    ((2, 3, 4, 4), (2, 3, 16), {}),
    ((2, 3, 4, 4), (3, 3, 4, 4), {}),
    ((2, 3), (2, 3), {}),
    ((2, 3, 4, 4), (2, 3, 4, 4), {"kernel": "cosine"}),
    ((2, 3, 4, 4), (2, 3, 4, 4), {"degree": 0}),
    ((2, 3, 4, 4), (2, 3, 4, 4), {"kernel": "gaussian", "sigma": 0.0}),
    ((2, 3, 4, 4), (2, 3, 4, 4), {"kernel": "gaussian", "sigma": -1.0}),
])
def test_nst_errors(student, teacher, options):
    with pytest.raises(DistillError):
        nst_loss(torch.randn(student), torch.randn(teacher), **options)


def test_nst_module_rejects_bad_settings():
    with pytest.raises(DistillError):
        NSTLoss(kernel="cosine")
    with pytest.raises(DistillError):
        NSTLoss(kernel="poly", degree=0)


# Subclass distillation (Mueller, Kornblith, Hinton 2020)

CLASSES, SUBCLASSES = 3, 4
LAYOUT = {"classes": CLASSES, "subclasses": SUBCLASSES}


def subclass_logits(seed: int, batch: int = 6) -> np.ndarray:
    return 2.0 * rng(seed).normal(size=(batch, CLASSES * SUBCLASSES))


def np_class_probs(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    return np_softmax(z, temperature).reshape(len(z), CLASSES, SUBCLASSES).sum(axis=2)


def np_aux(z: np.ndarray, temperature: float) -> float:
    """The authors' `negative_sampling_loss` (subclass_distillation/mnist_colab.ipynb), written out: per-example
    moments over the logits, tf.nn.batch_normalization with scale 1 / sqrt(T * n) and epsilon 1e-9, then
    mean_i logsumexp_j (z_i.z_j) - 1/T - log(batch)."""
    batch, n = z.shape
    normal = (z - z.mean(axis=1, keepdims=True)) / np.sqrt(z.var(axis=1, keepdims=True) + 1e-9)
    normal = normal / np.sqrt(temperature * n)
    correlations = normal @ normal.T
    row_max = correlations.max(axis=1, keepdims=True)
    logsumexp = row_max[:, 0] + np.log(np.exp(correlations - row_max).sum(axis=1))
    return float(logsumexp.mean() - 1.0 / temperature - np.log(batch))


def test_class_probabilities_from_subclasses_sum_subclass_probs_and_to_one():
    z = subclass_logits(20)
    log_p = class_log_probs_from_subclasses(as_tensor(z), CLASSES, SUBCLASSES)
    np.testing.assert_allclose(log_p.exp().numpy(), np_class_probs(z), atol=TOL)
    np.testing.assert_allclose(log_p.exp().sum(dim=1).numpy(), np.ones(len(z)), atol=TOL)


@pytest.mark.parametrize("temperature", [0.2, 1.0])
def test_subclass_aux_matches_formula(temperature):
    z = subclass_logits(21)
    got = subclass_aux_loss(as_tensor(z), temperature=temperature)
    assert got.item() == pytest.approx(np_aux(z, temperature), abs=TOL)


@pytest.mark.parametrize("temperature", [0.2, 1.0, 3.0])
def test_subclass_aux_ignores_a_per_example_offset_that_changes_no_probability(temperature):
    z = as_tensor(subclass_logits(26))
    offset = 5.0 * torch.randn(len(z), 1, dtype=z.dtype)  # one number per example, added to all its logits
    assert torch.allclose(torch.softmax(z + offset, 1), torch.softmax(z, 1))
    base = subclass_aux_loss(z, temperature=temperature)
    assert subclass_aux_loss(z + offset, temperature=temperature).item() == pytest.approx(base.item(), abs=1e-9)
    # and a per-example scale (the normalisation divides it out)
    assert subclass_aux_loss(z * 3.0, temperature=temperature).item() == pytest.approx(base.item(), abs=1e-6)


def test_subclass_aux_is_lowest_for_a_batch_spread_over_the_subclasses():
    spread = torch.eye(CLASSES * SUBCLASSES, dtype=torch.float64)[:6] * 10.0  # each example its own subclass
    same = spread[[0] * 6]  # every example in one subclass
    assert subclass_aux_loss(spread, temperature=1.0) < subclass_aux_loss(same, temperature=1.0)


def test_subclass_teacher_loss_matches_formula():
    z, y = subclass_logits(22), rng(22).integers(0, CLASSES, size=6)
    ce = -np.mean(np.log(np_class_probs(z)[np.arange(6), y]))
    expected = ce + 0.5 * np_aux(z, 0.3)
    got = subclass_teacher_loss(as_tensor(z), as_tensor(y), **LAYOUT, beta=0.5, temperature=0.3)
    assert got.item() == pytest.approx(expected, abs=TOL)
    module = SubclassTeacherLoss(**LAYOUT, beta=0.5, temperature=0.3)(as_tensor(z), as_tensor(y))
    assert module.item() == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("temperature, alpha", [(4.0, 0.5), (1.0, 0.3), (2.0, 0.0)])
def test_subclass_distillation_matches_formula(temperature, alpha):
    s, t, y = subclass_logits(23), subclass_logits(24), rng(25).integers(0, CLASSES, size=6)
    soft_ce = -np.sum(np_softmax(t, temperature) * np.log(np_softmax(s, temperature))) / 6
    hard_ce = -np.mean(np.log(np_class_probs(s)[np.arange(6), y]))
    expected = alpha * temperature ** 2 * soft_ce + (1 - alpha) * hard_ce
    args = (as_tensor(s), as_tensor(t), as_tensor(y))
    got = subclass_distillation_loss(*args, **LAYOUT, temperature=temperature, alpha=alpha)
    assert got.item() == pytest.approx(expected, abs=TOL)
    module = SubclassDistillationLoss(**LAYOUT, temperature=temperature, alpha=alpha)(*args)
    assert module.item() == pytest.approx(expected, abs=TOL)


def test_subclass_errors():
    z, y = torch.randn(4, CLASSES * SUBCLASSES), torch.zeros(4, dtype=torch.long)
    with pytest.raises(DistillError, match=r"\(batch, 12\)"):
        class_log_probs_from_subclasses(torch.randn(4, 10), CLASSES, SUBCLASSES)
    with pytest.raises(DistillError):
        subclass_aux_loss(z, temperature=0.0)
    with pytest.raises(DistillError):
        subclass_teacher_loss(z, y, **LAYOUT, beta=-1.0, temperature=1.0)
    with pytest.raises(DistillError):
        subclass_distillation_loss(z, z, y, **LAYOUT, temperature=1.0, alpha=1.5)
    with pytest.raises(DistillError, match="class count mismatch: student has 12 classes, teacher 6"):
        subclass_distillation_loss(z, z[:, :6], y, **LAYOUT, temperature=1.0, alpha=0.5)
    with pytest.raises(DistillError):
        SubclassTeacherLoss(**LAYOUT, beta=-0.1, temperature=1.0)
    with pytest.raises(DistillError):
        SubclassDistillationLoss(**LAYOUT, temperature=-1.0, alpha=0.5)
