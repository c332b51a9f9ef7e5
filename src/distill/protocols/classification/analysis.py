"""What the classification report adds to the shared model table, computed from the protocol's outputs.

Confusion matrices and per-class accuracy (pooled over folds: each example is tested exactly once),
the share of the teacher-student gap a distilled student recovers, how well subclass heads recover a
hidden label, Hinton's bias correction for a class the transfer set omitted, the temperature x alpha
grid, and the accuracy at every link of a teacher-assistant chain.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import confusion_matrix, normalized_mutual_info_score

from distill.core.protocol import ProtocolResult
from distill.core.stats import summarize
from distill.protocols.classification.config import ClassStudentSpec, SweepSection, soft_target_cell_name
from distill.tasks.classification import ClassificationTask, class_log_probs

SHIFT_LIMIT = 100.0  # largest logit shift the bias correction searches (log-odds)
SHIFT_STEPS = 60  # bisection steps: the shift is found to SHIFT_LIMIT / 2**60


def confusion(protocol: ProtocolResult, name: str, classes: int) -> np.ndarray:
    """(classes, classes) counts, rows = true class, columns = predicted, summed over folds' test parts."""
    total = np.zeros((classes, classes), dtype=np.int64)
    for fold, run in zip(protocol.folds, protocol.outcomes[name]):
        predicted = class_log_probs(run.test_outputs, classes).argmax(1).numpy()
        total += confusion_matrix(fold.y_test.numpy(), predicted, labels=list(range(classes)))
    return total


def per_class_accuracy(matrix: np.ndarray) -> list[float | None]:
    """Share of each true class predicted correctly (None for a class with no test example)."""
    counts = matrix.sum(1)
    return [float(matrix[i, i] / counts[i]) if counts[i] else None for i in range(len(matrix))]


def gap_recovered(models: dict, student: str, scratch: str) -> dict:
    """(acc_student - acc_scratch) / (acc_teacher - acc_scratch), from the fold means of test accuracy."""
    teacher, alone, taught = (models[name]["test"]["accuracy"]["mean"] for name in ("teacher", scratch, student))
    gap = teacher - alone
    return {"student": student, "scratch": scratch, "teacher_minus_scratch": gap,
            "student_minus_scratch": taught - alone, "share": (taught - alone) / gap if gap > 0 else None}


def matching_accuracy(assigned: np.ndarray, hidden: np.ndarray) -> float:
    """Accuracy of the best one-to-one map from assigned groups to hidden labels (Hungarian algorithm)."""
    groups, labels = np.unique(assigned), np.unique(hidden)
    table = np.array([[np.sum((assigned == g) & (hidden == h)) for h in labels] for g in groups])
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / len(hidden))


def assign_subclasses(outputs: torch.Tensor, classes: int) -> torch.Tensor:
    """Each row's subclass (class * S + s): the predicted class, and within it the largest subclass logit
    after standardising every logit over the rows.

    The auxiliary loss (Mueller et al.'s per-example normalisation) spreads examples by the pattern of
    their logits, not by which subclass logit is largest; a per-subclass offset shared by all rows can
    still make the raw argmax name mostly one subclass per class, and standardising over the rows
    removes it. outputs: (rows, classes * S) -> (rows,).
    """
    subclasses = outputs.shape[1] // classes
    standard = (outputs - outputs.mean(0)) / outputs.std(0).clamp_min(1e-6)
    predicted = class_log_probs(outputs, classes).argmax(1)
    within = standard.view(-1, classes, subclasses)[torch.arange(len(outputs)), predicted].argmax(1)
    return predicted * subclasses + within


def subclass_recovery(protocol: ProtocolResult, names: list[str], hidden: np.ndarray, classes: int) -> dict:
    """How well each subclass head recovers the hidden labels of the test rows (see `assign_subclasses`).

    Per fold: normalised mutual information (arithmetic mean normalisation, sklearn) and the accuracy of
    the best one-to-one matching of subclasses to hidden labels; `class_only` scores the predicted class
    of the same model, the floor a head without subclasses would reach.
    """
    recovery = {}
    for name in names:
        scores: dict[str, list[float]] = {"nmi": [], "matching_accuracy": [], "class_only_nmi": [],
                                          "class_only_matching_accuracy": []}
        for fold, run in zip(protocol.folds, protocol.outcomes[name]):
            truth = hidden[fold.test_rows.numpy()]
            subclass = assign_subclasses(run.test_outputs, classes).numpy()
            predicted = class_log_probs(run.test_outputs, classes).argmax(1).numpy()
            scores["nmi"].append(float(normalized_mutual_info_score(truth, subclass)))
            scores["matching_accuracy"].append(matching_accuracy(subclass, truth))
            scores["class_only_nmi"].append(float(normalized_mutual_info_score(truth, predicted)))
            scores["class_only_matching_accuracy"].append(matching_accuracy(predicted, truth))
        recovery[name] = {key: summarize(values) for key, values in scores.items()}
    return recovery


def prior_matching_shift(log_p: torch.Tensor, target: int, prior: float) -> float:
    """The smallest logit shift s >= 0 of class `target` after which its predicted share reaches `prior`.

    The share predicted as `target` only grows with s, so bisection finds it. log_p: (rows, classes).
    """
    def share(shift: float) -> float:
        shifted = log_p.clone()
        shifted[:, target] += shift
        return float((shifted.argmax(1) == target).float().mean())

    low, high = 0.0, SHIFT_LIMIT
    if share(low) >= prior:
        return 0.0
    for _ in range(SHIFT_STEPS):
        middle = (low + high) / 2
        low, high = (low, middle) if share(middle) >= prior else (middle, high)
    return high


def class_accuracy(log_p: torch.Tensor, y: torch.Tensor, target: int) -> float:
    """Accuracy on the rows whose true class is `target` (NaN without such rows)."""
    rows = y == target
    return float((log_p[rows].argmax(1) == target).float().mean()) if rows.any() else math.nan


def accuracy(log_p: torch.Tensor, y: torch.Tensor) -> float:
    return float((log_p.argmax(1) == y).float().mean())


def bias_correction(protocol: ProtocolResult, name: str, omitted: list[int], classes: int) -> dict:
    """Hinton et al. 2015: raise the bias of each class the transfer set omitted, then score again.

    The shift of each omitted class is chosen on the fold's TRAINING rows only (the images the student
    may see; it never saw their labels): the smallest shift after which the student predicts that class
    for at least its share of the training labels (its prior). The test rows never choose anything.
    """
    scores: dict[str, list[float]] = {"accuracy_before": [], "accuracy_after": []}
    per_class = {target: {"shift": [], "class_accuracy_before": [], "class_accuracy_after": []}
                 for target in omitted}
    for fold, run in zip(protocol.folds, protocol.outcomes[name]):
        train_log_p = class_log_probs(run.train_outputs, classes)
        test_log_p = class_log_probs(run.test_outputs, classes)
        corrected = test_log_p.clone()
        for target in omitted:
            prior = float((fold.y_train == target).float().mean())
            shift = prior_matching_shift(train_log_p, target, prior)
            corrected[:, target] += shift
            per_class[target]["shift"].append(shift)
        for target in omitted:
            per_class[target]["class_accuracy_before"].append(class_accuracy(test_log_p, fold.y_test, target))
            per_class[target]["class_accuracy_after"].append(class_accuracy(corrected, fold.y_test, target))
        scores["accuracy_before"].append(accuracy(test_log_p, fold.y_test))
        scores["accuracy_after"].append(accuracy(corrected, fold.y_test))
    return {"student": name, "omitted": omitted,
            "classes": {str(t): {key: summarize(values) for key, values in entry.items()}
                        for t, entry in per_class.items()},
            **{key: summarize(values) for key, values in scores.items()}}


def held_out_accuracy(protocol: ProtocolResult, name: str, spec: ClassStudentSpec,
                      task: ClassificationTask) -> list[float] | None:
    """Per fold, a student's accuracy on the fold's training rows outside its transfer set: rows it never trained
    on and that are not test rows (its teacher did train on them), an inner validation set for choosing among
    students. None when the transfer set is every training row (nothing is held out)."""
    accuracies = []
    for fold, run in zip(protocol.folds, protocol.outcomes[name]):
        held = torch.ones(len(fold.y_train), dtype=torch.bool)
        held[task.transfer_rows(fold, spec)] = False
        if not held.any():
            return None
        accuracies.append(accuracy(class_log_probs(run.train_outputs[held], task.classes), fold.y_train[held]))
    return accuracies


def sweep_grid(models: dict, sweep: SweepSection, validation: dict[str, list[float]] | None = None) -> dict:
    """Mean and SEM test accuracy per (temperature, alpha) cell, and the best cell: the one with the highest mean
    inner-validation accuracy (`held_out_accuracy`, never a test row) where `validation` gives one per cell,
    else the highest mean test accuracy, marked `chosen_on: test` (an optimistic pick)."""
    cells = [[soft_target_cell_name(t, a) for a in sweep.alphas] for t in sweep.temperatures]
    mean = [[models[cell]["test"]["accuracy"]["mean"] for cell in row] for row in cells]
    sem = [[models[cell]["test"]["accuracy"]["sem"] for cell in row] for row in cells]
    grid = {"temperatures": sweep.temperatures, "alphas": sweep.alphas, "accuracy_mean": mean, "accuracy_sem": sem}
    if validation is not None:
        grid["validation_mean"] = [[float(np.mean(validation[cell])) for cell in row] for row in cells]
    choice = grid.get("validation_mean", mean)
    best = np.unravel_index(int(np.argmax(choice)), (len(sweep.temperatures), len(sweep.alphas)))
    cell = cells[best[0]][best[1]]
    grid["best"] = {"temperature": sweep.temperatures[best[0]], "alpha": sweep.alphas[best[1]], "student": cell,
                    "accuracy": mean[best[0]][best[1]], "chosen_on": "test" if validation is None else "validation"}
    if validation is not None:
        grid["best"]["validation_accuracy"] = choice[best[0]][best[1]]
    return grid


def chains(students: dict[str, ClassStudentSpec]) -> list[list[str]]:
    """Every teacher -> assistant(s) -> student path that passes through at least one assistant."""
    teachers = {spec.teacher for spec in students.values()}
    paths = []
    for name in students:
        if name in teachers:
            continue
        path = [name]
        while path[-1] != "teacher":
            path.append(students[path[-1]].teacher)
        if len(path) > 2:
            paths.append(path[::-1])
    return paths


def chain_table(models: dict, students: dict[str, ClassStudentSpec]) -> list[dict]:
    """For each chain: the links in order with their params and test accuracy (mean, SEM)."""
    return [{"links": [{"model": name, "params": models[name]["params"],
                        "accuracy": models[name]["test"]["accuracy"]} for name in path]}
            for path in chains(students)]
