"""The regression distillation loss against its formula."""
import pytest
import torch

from distill.errors import DistillError
from distill.losses import RegressionDistillationLoss, regression_distillation_loss


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
def test_matches_formula(lam):
    g = torch.Generator().manual_seed(0)
    student, truth, teacher = (torch.rand(8, 14, generator=g, dtype=torch.float64) for _ in range(3))
    expected = (1 - lam) * ((student - truth) ** 2).mean() + lam * ((student - teacher) ** 2).mean()
    assert regression_distillation_loss(student, teacher, truth, lam=lam).item() == pytest.approx(expected.item(), abs=1e-12)
    assert RegressionDistillationLoss(lam)(student, teacher, truth).item() == pytest.approx(expected.item(), abs=1e-12)


def test_lambda_one_ignores_the_truth_and_zero_ignores_the_teacher():
    student, truth, teacher = torch.zeros(2, 3), torch.ones(2, 3), torch.full((2, 3), 2.0)
    assert regression_distillation_loss(student, teacher, truth, lam=1.0).item() == 4.0
    assert regression_distillation_loss(student, teacher, truth, lam=0.0).item() == 1.0


@pytest.mark.parametrize("lam", [-0.1, 1.5])
def test_lambda_outside_unit_interval(lam):
    with pytest.raises(DistillError, match="lambda must be in"):
        regression_distillation_loss(torch.zeros(1), torch.zeros(1), torch.zeros(1), lam=lam)


def test_weight_is_keyword_only():
    student, teacher, truth = torch.zeros(2, 3), torch.ones(2, 3), torch.full((2, 3), 2.0)
    with pytest.raises(TypeError):
        regression_distillation_loss(student, teacher, truth, 0.5)  # type: ignore[misc]
