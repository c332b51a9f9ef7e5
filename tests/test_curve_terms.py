"""A distilled student's named loss terms (issue 20) in the recipes' curves: one value per epoch trained, the mean
over the epoch's training steps, as the Distiller's history has them; the teacher's curves have none."""
import math

import torch

from distill.losses import TermLog


def test_the_term_log_gives_each_epochs_mean_and_starts_the_next():
    log = TermLog()
    first = log.record({"loss_hard": torch.tensor(1.0, requires_grad=True), "loss_kd": torch.tensor(3.0)})
    log.add({"loss_hard": torch.tensor(2.0), "loss_kd": torch.tensor(5.0)})
    assert float(first.detach()) == 4.0 and first.requires_grad  # the objective: the terms summed
    assert not log.steps[0]["loss_hard"].requires_grad  # kept detached: no graph outlives its step
    assert log.epoch_means() == {"loss_hard": 1.5, "loss_kd": 4.0}
    log.add({"loss_hard": torch.tensor(7.0)})
    assert log.epoch_means() == {"loss_hard": 7.0}


def test_a_distilled_students_curves_hold_each_of_its_methods_terms(tiny_recipe_run):
    run = tiny_recipe_run("hinton-digits")
    curves = run.results["curves"]
    assert not [key for fold in curves["teacher"] for key in fold if key.startswith("loss_")]
    expected = {"student_kd": ["loss_hard", "loss_kd"], "student_scratch": ["loss_hard"]}  # alpha 0.5 and 0
    for name, terms in expected.items():
        for fold in curves[name]:
            assert sorted(key for key in fold if key.startswith("loss_")) == terms
            trained = len(fold["val"]) if "val" in fold else fold["epoch"][-1]
            for term in terms:
                assert len(fold[term]) == trained
                assert all(math.isfinite(value) and value >= 0 for value in fold[term])


def test_a_forecast_students_curves_hold_its_terms(tiny_recipe_run):
    curves = tiny_recipe_run("covid-lstm").results["curves"]
    assert all("loss_kd" in fold for fold in curves["student_kd"])  # alpha 1: the teacher's term only
    assert all("loss_hard" in fold and "loss_kd" not in fold for fold in curves["student_scratch"])
