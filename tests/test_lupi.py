"""Tests for the synthetic generalized-distillation experiments (Lopez-Paz et al. 2016)."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from distill.errors import DistillError
from distill.losses import generalized_distillation_loss
from distill.protocols.lupi.experiments import (
    EXPERIMENTS,
    PUBLISHED,
    fit_privileged_and_regular,
    make_batch,
    map_in_threads,
    relevant_features,
    run_lupi_synthetic,
    sample_dependent,
)
from distill.protocols.lupi.trainer import (
    PROBABILITY_CLIP,
    RMSPROP_DECAY,
    RMSPROP_EPS,
    LinearSoftmax,
    MiniBatchWeights,
    fit_linear_softmax,
    keras_rmsprop_step,
    margin_gradient,
    repetition_losses,
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
    soft_ce = -(soft * torch.log_softmax(logits, -1)).sum(-1).mean()  # the authors' code: student not softened
    expected = (1 - lam) * hard + lam * temperature**2 * soft_ce
    assert torch.allclose(repetition_losses(logits, labels, soft, lam, temperature), expected)
    plain = repetition_losses(logits, labels, None, 0.0, 1.0)
    assert torch.allclose(plain, F.cross_entropy(logits, labels))


def test_repetition_losses_are_the_library_loss_per_problem():
    generator = torch.Generator().manual_seed(1)
    student, teacher = torch.randn(3, 2, 9, generator=generator), torch.randn(3, 2, 9, generator=generator)
    labels = torch.randint(0, 2, (3, 9), generator=generator)
    lam, temperature = 0.4, 3.0
    batched = repetition_losses(student, labels, torch.softmax(teacher / temperature, dim=1), lam, temperature)
    one_by_one = [generalized_distillation_loss(student[r].T, teacher[r].T, labels[r], temperature=temperature, lam=lam)
                  for r in range(3)]
    assert torch.allclose(batched, torch.stack(one_by_one), atol=1e-6)


def class_one_gradient(logits: torch.Tensor, labels: torch.Tensor, soft: torch.Tensor, lam: float,
                       temperature: float, clip: float = 0.0) -> torch.Tensor:
    """margin_gradient for two-class logits (reps, 2, n), as dL/dz1 of the mean loss: (reps, n)."""
    margins = logits[:, 1] - logits[:, 0]
    return margin_gradient(margins, labels.float(), soft[:, 1], lam, temperature, clip) / logits.shape[-1]


def test_closed_form_gradient_matches_autograd():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 2, 7, generator=generator, requires_grad=True)  # (reps, classes, n)
    labels = torch.randint(0, 2, (3, 7), generator=generator)
    soft = torch.softmax(torch.randn(3, 2, 7, generator=generator), dim=1)
    repetition_losses(logits, labels, soft, 0.3, 2.5).sum().backward()
    closed_form = class_one_gradient(logits.detach(), labels, soft, 0.3, 2.5)
    assert torch.allclose(closed_form, logits.grad[:, 1], atol=1e-6)
    assert torch.allclose(-closed_form, logits.grad[:, 0], atol=1e-6)


def test_clipped_gradient_matches_autograd_of_keras_clipped_cross_entropy():
    """Keras 0.x: CE(t, q) with q = clip(p, c, 1 - c) / sum(clip(p, c, 1 - c)); confident samples give no gradient."""
    logits = torch.tensor([[[0.3, 20.0, -1.0, -19.0]], [[-0.2, 0.0, 1.5, 0.0]]]).transpose(0, 1)  # (1, 2, 4)
    logits = logits.clone().requires_grad_(True)
    labels = torch.tensor([[0, 0, 1, 1]])
    soft = torch.softmax(torch.randn(1, 2, 4, generator=torch.Generator().manual_seed(2)), dim=1)
    lam, temperature = 0.4, 2.0

    def clipped_cross_entropy(z, targets):
        q = torch.softmax(z, dim=1).clamp(PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
        q = q / q.sum(1, keepdim=True)
        return -(targets * torch.log(q)).sum(1).mean()

    one_hot = F.one_hot(labels, 2).transpose(1, 2).float()
    ((1 - lam) * clipped_cross_entropy(logits, one_hot)
     + lam * temperature**2 * clipped_cross_entropy(logits, soft)).backward()
    closed_form = class_one_gradient(logits.detach(), labels, soft, lam, temperature, clip=PROBABILITY_CLIP)
    assert torch.allclose(closed_form, logits.grad[:, 1], atol=1e-7)
    assert torch.allclose(-closed_form, logits.grad[:, 0], atol=1e-7)
    assert closed_form[0, 1] == 0 and closed_form[0, 3] == 0  # the clipped samples
    assert closed_form[0, 0] != 0


def test_keras_rmsprop_step_follows_its_formula():
    parameter, gradient = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.1, -3.0, 0.0])
    mean_square = torch.tensor([0.0, 4.0, 0.0])
    expected_square = RMSPROP_DECAY * mean_square + (1 - RMSPROP_DECAY) * gradient**2
    expected = parameter - 0.01 * gradient / torch.sqrt(expected_square + RMSPROP_EPS)
    keras_rmsprop_step(parameter, gradient, mean_square, 0.01)
    assert torch.allclose(parameter, expected) and torch.allclose(mean_square, expected_square)
    assert parameter[2] == 0.5  # a zero gradient leaves its element where it is


@pytest.mark.parametrize("n, batch_size", [(10, 4), (9, 3), (7, 7), (5, 64)])
def test_mini_batch_weights_split_every_epoch_into_keras_batches(n, batch_size):
    weights = MiniBatchWeights(3, n, batch_size, seeds=[5, 7, 9])
    expected_sizes = [min(batch_size, n - start) for start in range(0, n, batch_size)]
    for epoch in weights.epochs(4):
        stacked = torch.stack(epoch)  # (steps, reps, 1, n)
        assert stacked.shape == (len(expected_sizes), 3, 1, n)
        members = stacked > 0
        assert torch.equal(members.sum(0), torch.ones(3, 1, n, dtype=torch.long))  # each sample in one batch
        sizes = members.sum(-1)  # (steps, reps, 1)
        assert sizes[:, :, 0].T.tolist() == [expected_sizes] * 3
        assert torch.allclose(stacked.sum(-1), torch.ones(len(expected_sizes), 3, 1))  # a mean per batch


def test_mini_batch_orders_are_random_and_follow_their_own_seed():
    together = [torch.stack(epoch) for epoch in MiniBatchWeights(2, 12, 4, seeds=[5, 7]).epochs(60)]
    alone = [torch.stack(epoch) for epoch in MiniBatchWeights(1, 12, 4, seeds=[7]).epochs(60)]
    assert all(torch.equal(t[:, 1:], a) for t, a in zip(together, alone))  # across a redraw (50 epochs)
    first_batches = {tuple(torch.nonzero(t[0, 0, 0]).flatten().tolist()) for t in together}
    assert len(first_batches) > 50  # a new split nearly every epoch
    with pytest.raises(DistillError, match="one shuffling seed per repetition"):
        MiniBatchWeights(2, 12, 4, seeds=[1])


def keras_reference_fit(inputs, labels, init, soft, lam, temperature, epochs, lr, batch_size, seed):
    """One repetition trained the plain way: both weight rows, autograd of Keras' clipped cross-entropy on the
    gathered mini-batch, Keras' RMSprop on every parameter; batches as MiniBatchWeights draws them."""
    samples = torch.cat([inputs[0].T, torch.ones(inputs.shape[2], 1)], dim=1)  # (n, d + 1)
    one_hot, soft = F.one_hot(labels[0], 2).float(), soft[0].T  # (n, 2) each
    weight = torch.cat([init.weight[0], init.bias[0]], dim=1).clone()  # (2, d + 1)
    mean_square = torch.zeros_like(weight)

    def clipped_cross_entropy(z, targets):
        q = torch.softmax(z, dim=1).clamp(PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
        return -(targets * torch.log(q / q.sum(1, keepdim=True))).sum(1).mean()

    for epoch in MiniBatchWeights(1, inputs.shape[2], batch_size, [seed]).epochs(epochs):
        for step in epoch:
            rows = torch.nonzero(step[0, 0]).flatten()
            parameter = weight.clone().requires_grad_(True)
            logits = samples[rows] @ parameter.T
            loss = ((1 - lam) * clipped_cross_entropy(logits, one_hot[rows])
                    + lam * temperature**2 * clipped_cross_entropy(logits, soft[rows]))  # their graph: one softmax
            loss.backward()
            keras_rmsprop_step(weight, parameter.grad, mean_square, lr)
    return weight


@pytest.mark.parametrize("lam, temperature", [(0.0, 1.0), (1.0, 1.0), (0.6, 2.0)])
def test_training_the_weight_difference_equals_keras_training_of_both_rows(lam, temperature):
    batch = make_batch("clean_features", 1, **SMALL)
    soft = torch.softmax(torch.randn(1, 2, SMALL["train_size"], generator=torch.Generator().manual_seed(4)), dim=1)
    settings = {"epochs": 30, "lr": 0.02, "batch_size": 6}
    ours = fit_linear_softmax(batch.regular_train, batch.labels_train, batch.inits["regular"],
                              shuffle_seeds=batch.shuffle_seeds, soft_targets=soft, lam=lam, temperature=temperature,
                              **settings)
    reference = keras_reference_fit(batch.regular_train, batch.labels_train, batch.inits["regular"], soft, lam,
                                    temperature, seed=batch.shuffle_seeds[0], **settings)
    assert torch.allclose(torch.cat([ours.weight[0], ours.bias[0]], dim=1), reference, atol=1e-5)


@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_batched_training_equals_training_each_repetition_alone(lam):
    batch = make_batch("clean_labels", 3, **SMALL)
    soft = torch.softmax(torch.randn(3, 2, SMALL["train_size"], generator=torch.Generator().manual_seed(1)), dim=1)
    settings = {"epochs": 40, "lr": 0.01, "batch_size": 7, "lam": lam, "soft_targets": soft if lam else None}
    together = fit_linear_softmax(batch.regular_train, batch.labels_train, batch.inits["regular"],
                                  shuffle_seeds=batch.shuffle_seeds, **settings)
    for rep in range(3):
        alone_settings = dict(settings, soft_targets=soft[rep:rep + 1] if lam else None)
        alone = fit_linear_softmax(batch.regular_train[rep:rep + 1], batch.labels_train[rep:rep + 1],
                                   one_repetition(batch.inits["regular"], rep),
                                   shuffle_seeds=batch.shuffle_seeds[rep:rep + 1], **alone_settings)
        assert torch.allclose(together.weight[rep:rep + 1], alone.weight, atol=1e-5)
        assert torch.allclose(together.bias[rep:rep + 1], alone.bias, atol=1e-5)


def test_mini_batches_are_not_full_batch():
    batch = make_batch("clean_labels", 2, **SMALL)
    settings = {"epochs": 30, "lr": 0.01, "shuffle_seeds": batch.shuffle_seeds}
    mini = fit_linear_softmax(batch.regular_train, batch.labels_train, batch.inits["regular"], batch_size=5, **settings)
    full = fit_linear_softmax(batch.regular_train, batch.labels_train, batch.inits["regular"], batch_size=20, **settings)
    assert not torch.allclose(mini.weight, full.weight, atol=1e-3)


@pytest.mark.parametrize("experiment", ["clean_labels", "clean_features"])
def test_teacher_and_regular_trained_together_equal_their_separate_fits(experiment):
    batch = make_batch(experiment, 2, **SMALL)
    settings = {"epochs": 25, "lr": 0.02, "batch_size": 6}
    teacher, regular = fit_privileged_and_regular(batch, **settings)
    for inputs, name, together in ((batch.privileged_train, "privileged", teacher),
                                   (batch.regular_train, "regular", regular)):
        alone = fit_linear_softmax(inputs, batch.labels_train, batch.inits[name], shuffle_seeds=batch.shuffle_seeds,
                                   **settings)
        assert together.weight.shape == alone.weight.shape
        assert torch.allclose(together.weight, alone.weight, atol=1e-5)
        assert torch.allclose(together.bias, alone.bias, atol=1e-5)


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


def test_results_do_not_depend_on_the_number_of_worker_threads():
    settings = {"repetitions": 3, "train_size": 20, "test_size": 30, "dim": 6, "epochs": 20, "lr": 0.02,
                "batch_size": 8, "experiments": ["clean_labels", "clean_features", "relevant_features"]}
    assert run_lupi_synthetic(workers=1, **settings) == run_lupi_synthetic(workers=3, **settings)
    assert map_in_threads(lambda x: x * x, [3, 1, 2], workers=2) == [9, 1, 4]
    with pytest.raises(DistillError, match="workers"):
        map_in_threads(abs, [1], workers=0)


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
