"""What `Distiller.evaluate` reports: scores against the truth and, for a student, fidelity to its teacher."""
from __future__ import annotations

import torch
from torch.nn import functional as F

from distill.methods import class_log_probs


def distillation_scores(task: str, outputs: torch.Tensor, y: torch.Tensor, teacher: torch.Tensor | None,
                        classes: int | None) -> dict[str, float]:
    """classification: `loss` (CE of the true class), `accuracy` and, given the teacher's outputs, `agreement`
    (same class as the teacher) and `kl` (KL(teacher || student) of the class distributions); regression: `loss`
    and `mse`, `mae` and `fidelity_mse` (to the teacher's outputs)."""
    if task == "regression":
        mse = float(F.mse_loss(outputs, y.float()))
        scores = {"loss": mse, "mse": mse, "mae": float(F.l1_loss(outputs, y.float()))}
        if teacher is not None:
            scores["fidelity_mse"] = float(F.mse_loss(outputs, teacher))
        return scores
    log_p = class_log_probs(outputs.float(), classes)
    scores = {"loss": float(F.nll_loss(log_p, y)), "accuracy": float((log_p.argmax(1) == y).float().mean())}
    if teacher is not None:
        teacher_log_p = class_log_probs(teacher.float(), classes)
        scores["agreement"] = float((log_p.argmax(1) == teacher_log_p.argmax(1)).float().mean())
        scores["kl"] = float(F.kl_div(log_p, teacher_log_p, reduction="batchmean", log_target=True))
    return scores
