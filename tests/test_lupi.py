"""Tests for the synthetic generalized-distillation experiments (Lopez-Paz et al. 2016)."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from distill.errors import DistillError
from distill.lupi import (
    EXPERIMENTS,
    PUBLISHED,
    LinearSoftmax,
    distillation_logit_gradient,
    fit_linear_softmax,
    generalized_distillation_loss,
    make_batch,
    relevant_features,
    run_lupi_synthetic,
    sample_dependent,
)

SMALL = {"dim": 6, "train_size": 20, "test_size": 15, "seed": 3}


def one_repetition(model: LinearSoftmax, rep: int) -> LinearSoftmax:
    return LinearSoftmax(model.weight[rep:rep + 1], model.bias[rep:rep + 1])


def test_loss_matches_the_formula_on_a_hand_example():
    logits = torch.tensor([[2.0, 0.0], [0.5, 1.5]])  # (n, classes)
    labels = torch.tensor([0, 1])
    soft = torch.tensor([[0.7, 0.3], [0.4, 0.6]])
    lam, temperature = 0.25, 2.0
    hard = -torch.log_softmax(logits, -1)[torch.arange(2), labels].mean()
    soft_ce = -(soft * torch.log_softmax(logits / temperature, -1)).sum(-1).mean()
    expected = (1 - lam) * hard + lam * temperature**2 * soft_ce
    assert torch.allclose(generalized_distillation_loss(logits, labels, soft, lam, temperature), expected)
    plain = generalized_distillation_loss(logits, labels, None, 0.0, 1.0)
    assert torch.allclose(plain, F.cross_entropy(logits, labels))


def test_closed_form_gradient_matches_autograd():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 2, 7, generator=generator, requires_grad=True)  # (reps, classes, n)
    labels = torch.randint(0, 2, (3, 7), generator=generator)
    soft = torch.softmax(torch.randn(3, 2, 7, generator=generator), dim=1)
    generalized_distillation_loss(logits, labels, soft, 0.3, 2.5).sum().backward()
    one_hot = F.one_hot(labels, 2).transpose(1, 2).float()
    closed_form = distillation_logit_gradient(logits.detach(), one_hot, soft, 0.3, 2.5)
    assert torch.allclose(closed_form, logits.grad, atol=1e-6)


@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_batched_training_equals_training_each_repetition_alone(lam):
    batch = make_batch("clean_labels", 3, **SMALL)
    soft = torch.softmax(torch.randn(3, 2, SMALL["train_size"], generator=torch.Generator().manual_seed(1)), dim=1)
    settings = {"epochs": 40, "lr": 0.01, "lam": lam, "soft_targets": soft if lam else None}
    together = fit_linear_softmax(batch.regular_train, batch.labels_train, batch.inits["regular"], **settings)
    for rep in range(3):
        alone_settings = dict(settings, soft_targets=soft[rep:rep + 1] if lam else None)
        alone = fit_linear_softmax(batch.regular_train[rep:rep + 1], batch.labels_train[rep:rep + 1],
                                   one_repetition(batch.inits["regular"], rep), **alone_settings)
        assert torch.allclose(together.weight[rep:rep + 1], alone.weight, atol=1e-5)
        assert torch.allclose(together.bias[rep:rep + 1], alone.bias, atol=1e-5)


def test_repetition_data_do_not_depend_on_the_number_of_repetitions():
    one, three = make_batch("relevant_features", 1, **SMALL), make_batch("relevant_features", 3, **SMALL)
    assert torch.equal(one.regular_train[0], three.regular_train[0])
    assert torch.equal(one.inits["distilled"].weight[0], three.inits["distilled"].weight[0])


def test_training_does_not_modify_the_starting_point():
    batch = make_batch("clean_labels", 2, **SMALL)
    before = batch.inits["regular"].weight.clone()
    fit_linear_softmax(batch.regular_train, batch.labels_train, batch.inits["regular"], epochs=5, lr=0.1)
    assert torch.equal(batch.inits["regular"].weight, before)


def coordinates_used(sample) -> list[int]:
    """Which columns of the regular inputs the privileged inputs were copied from."""
    return [int(np.flatnonzero((sample.regular == column[:, None]).all(0))[0]) for column in sample.privileged.T]


def test_sample_dependent_draws_privileged_coordinates_anew_per_data_set():
    rng, alpha = np.random.default_rng(0), np.random.default_rng(1).standard_normal(50)
    draws = [coordinates_used(sample_dependent(rng, alpha, 30)) for _ in range(3)]
    assert len({tuple(d) for d in draws}) == 3
    assert coordinates_used(relevant_features(rng, alpha, 30)) == [0, 1, 2]


def test_sample_dependent_labels_split_at_the_median():
    sample = sample_dependent(np.random.default_rng(0), np.ones(10), 40)
    assert sample.labels.sum() == 20


def test_privileged_model_beats_regular_model_on_clean_labels():
    result = run_lupi_synthetic(repetitions=4, train_size=40, test_size=200, dim=20, epochs=150, lr=0.02,
                                experiments=["clean_labels"])
    models = result["experiments"]["clean_labels"]
    assert models["privileged"]["accuracy"]["mean"] > models["regular"]["accuracy"]["mean"] + 5
    assert models["distilled"]["accuracy"]["mean"] > models["regular"]["accuracy"]["mean"]


def test_result_layout_and_published_numbers():
    result = run_lupi_synthetic(repetitions=2, train_size=10, test_size=10, dim=4, epochs=2)
    assert set(result["experiments"]) == set(EXPERIMENTS) == set(result["published"])
    accuracy = result["experiments"]["sample_dependent"]["distilled"]["accuracy"]
    assert set(accuracy) == {"mean", "sem", "std", "per_repetition"} and len(accuracy["per_repetition"]) == 2
    assert all(0.0 <= a <= 100.0 for a in accuracy["per_repetition"])
    assert PUBLISHED["clean_labels"]["distilled"]["mean"] == 95


@pytest.mark.parametrize("settings, message", [
    ({"lam": -0.1}, "lambda"), ({"lam": 1.5}, "lambda"), ({"temperature": 0.0}, "temperature"),
    ({"temperature": -2.0}, "temperature"), ({"repetitions": 0}, "repetitions"), ({"dim": 2}, "dim"),
    ({"lr": 0.0}, "lr"), ({"experiments": ["noisy_labels"]}, "noisy_labels"),
])
def test_bad_settings_raise_distill_error(settings, message):
    with pytest.raises(DistillError, match=message):
        run_lupi_synthetic(**settings)


def test_distillation_without_soft_targets_is_an_error():
    batch = make_batch("clean_labels", 1, **SMALL)
    with pytest.raises(DistillError, match="soft targets"):
        fit_linear_softmax(batch.regular_train, batch.labels_train, batch.inits["regular"], epochs=1, lr=0.1, lam=0.5)
