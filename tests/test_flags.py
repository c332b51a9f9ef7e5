"""Constant targets and constant models are flagged in plain words."""
import torch

from distill.core.flags import constant_flags, is_constant
from distill.core.protocol import ModelOutcome, ProtocolResult
from distill.core.task import FoldData


def outcome(outputs: torch.Tensor) -> ModelOutcome:
    return ModelOutcome(train={}, test={}, curves={}, test_outputs=outputs)


def test_is_constant_sees_a_column_that_never_changes_and_ignores_float_noise():
    assert is_constant(torch.full((5, 3), 7.0)) and is_constant(torch.full((5, 1), 1e6) + torch.rand(5, 1) * 1e-3)
    assert not is_constant(torch.arange(5.0)[:, None]) and not is_constant(torch.ones(1, 3))


def test_constant_target_and_constant_model_are_named_with_their_folds():
    varied = torch.arange(6.0)[:, None]
    folds = [FoldData(index=i, x_train=varied, y_train=varied, x_test=varied, y_test=y, test_rows=torch.arange(6))
             for i, y in enumerate([varied, torch.zeros(6, 1)])]
    outcomes = {"teacher": [outcome(varied), outcome(varied)], "student": [outcome(varied), outcome(torch.ones(6, 2))],
                "persistence": [outcome(torch.ones(6, 1))] * 2}
    flags = constant_flags(ProtocolResult(folds=folds, outcomes=outcomes, profiles={}, teacher_folds=[0, 1]),
                           skip={"persistence"}, where="horizon 3")
    assert flags[0].startswith("horizon 3: CONSTANT TARGET: the test target of fold 2 takes a single value")
    assert flags[1].startswith("horizon 3: CONSTANT MODEL: student gives the same output for every test input "
                               "in fold(s) 2")
    assert len(flags) == 2
