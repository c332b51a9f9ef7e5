"""The method objects of `distill.methods`: named terms that sum to the loss of `distill.losses`, one set of
defaults shared by the Distiller and the recipes, one vocabulary (old keys refused with their new names)."""
import copy
import dataclasses

import pytest
import torch
from torch.nn import functional as F

from distill.config import validate_config
from distill.core.distiller import build_method
from distill.errors import DistillError
from distill.losses import (
    attention_transfer_loss,
    dist_loss,
    dkd_loss,
    generalized_distillation_loss,
    hint_loss,
    nst_loss,
    pkt_loss,
    regression_distillation_loss,
    rkd_loss,
    similarity_preserving_loss,
    soft_target_loss,
    subclass_distillation_loss,
)
from distill.losses.pinball import quantile_distillation_loss
from distill.methods import (
    AT,
    CRD,
    DIST,
    DKD,
    METHODS,
    NST,
    PKT,
    RKD,
    SP,
    VID,
    Generalized,
    Guide,
    Hint,
    Quantile,
    Regression,
    Scratch,
    SoftTarget,
    Subclass,
    default,
    make_method,
    settings,
)
from distill.protocols.classification.config import ClassificationConfig
from distill.tasks.specs import ClassStudentSpec

torch.manual_seed(0)
S, T, Y = torch.randn(8, 4), torch.randn(8, 4), torch.arange(8) % 4
FS, FT = torch.randn(8, 3, 4, 4), torch.randn(8, 3, 4, 4)
LEVELS = (0.1, 0.25, 0.5, 0.9)  # S and T read as (rows, levels) quantiles of one value per row


def learned_parts():
    """The learned parts of VID and CRD, built once, and the losses a copy of each gives (CRD's negatives are
    drawn from the generator seeded at 0, as in the test)."""
    torch.manual_seed(1)
    vid = VID().learned_part(FS, FT, len(FS))
    crd = CRD(negatives=4, dim=8).learned_part(FS, FT, 2 * len(FS))
    torch.manual_seed(0)
    crd_loss_value = copy.deepcopy(crd)(FS, FT, torch.arange(len(FS)))
    return {"vid": vid, "crd": crd}, {"vid": copy.deepcopy(vid)(FS, FT), "crd": crd_loss_value}


PARTS, PART_LOSSES = learned_parts()


def examples():
    """One configured object of every method, with its inputs and the independent loss it must equal."""
    log_t = F.log_softmax(T, 1)
    ce = F.cross_entropy(S, Y)
    return {
        "none": (Scratch(), Guide(), None, F.cross_entropy(S, Y)),
        "soft_target": (SoftTarget(3.0, 0.4), Guide(log_t), None,
                        soft_target_loss(F.log_softmax(S, 1), log_t, Y, temperature=3.0, alpha=0.4)),
        "regression": (Regression(0.3), Guide(T), None, regression_distillation_loss(S, T, T.flip(0), lam=0.3)),
        "generalized": (Generalized(2.0, 0.6), Guide(T), None,
                        generalized_distillation_loss(S, T, Y, temperature=2.0, lam=0.6)),
        "subclass": (Subclass(2.0, 0.5, classes=2, subclasses=2), Guide(T), None,
                     subclass_distillation_loss(S, T, Y % 2, classes=2, subclasses=2, temperature=2.0, alpha=0.5)),
        "quantile": (Quantile(0.3, LEVELS), Guide(T), None,
                     quantile_distillation_loss(S, T, T[:, 0], lam=0.3, levels=torch.tensor(LEVELS))),
        "nst": (NST(feature_weight=10.0), Guide(log_t, FT), FS, F.cross_entropy(S, Y) + 5.0 * nst_loss(FS, FT)),
        "hint": (Hint(2.0, 0.5, feature_weight=3.0), Guide(log_t, FT), FS,
                 soft_target_loss(F.log_softmax(S, 1), log_t, Y, temperature=2.0, alpha=0.5) + 3.0 * hint_loss(FS, FT)),
        "at": (AT(feature_weight=10.0), Guide(log_t, FT), FS, ce + 10.0 * attention_transfer_loss(FS, FT)),
        "pkt": (PKT(feature_weight=100.0), Guide(log_t, FT), FS, ce + 100.0 * pkt_loss(FS, FT)),
        "rkd": (RKD(feature_weight=2.0, angle_weight=5.0), Guide(log_t, FT), FS,
                ce + 2.0 * rkd_loss(FS, FT, distance_weight=25.0, angle_weight=5.0)),
        "sp": (SP(feature_weight=7.0), Guide(log_t, FT), FS, ce + 7.0 * similarity_preserving_loss(FS, FT)),
        "vid": (VID(feature_weight=2.0), Guide(log_t, FT), FS, ce + 2.0 * PART_LOSSES["vid"]),
        "crd": (CRD(negatives=4, dim=8), Guide(log_t, FT, torch.arange(len(FS))), FS, ce + 0.8 * PART_LOSSES["crd"]),
        "dkd": (DKD(temperature=2.0, ce_weight=0.5, standardise=True), Guide(log_t), None,
                0.5 * ce + dkd_loss(S, T, Y, temperature=2.0, standardise=True)),
        "dist": (DIST(kd_weight=1.5, intra_weight=0.5), Guide(log_t), None,
                 ce + 1.5 * dist_loss(S, T, temperature=4.0, intra_weight=0.5)),
    }


def targets(name):
    return {"regression": T.flip(0), "subclass": Y % 2, "quantile": T[:, 0]}.get(name, Y)


@pytest.mark.parametrize("name", list(METHODS))
def test_terms_sum_to_the_loss_of_distill_losses(name):
    method, guide, features, expected = examples()[name]
    assert isinstance(method, METHODS[name]) and method.name == name
    part = copy.deepcopy(PARTS.get(name))
    torch.manual_seed(0)
    terms = method.losses(S, targets(name), guide, features, part)
    assert terms and all(key.startswith("loss_") and value.dim() == 0 for key, value in terms.items())
    torch.manual_seed(0)
    assert torch.allclose(method.loss(S, targets(name), guide, features, copy.deepcopy(PARTS.get(name))), expected,
                          atol=1e-5)
    assert method.__doc__ and ("distill.losses" in method.__doc__ or name == "none")


def test_term_names_and_zero_weights_left_out():
    log_t = F.log_softmax(T, 1)
    assert set(SoftTarget(alpha=0.5).losses(S, Y, Guide(log_t))) == {"loss_hard", "loss_kd"}
    assert set(SoftTarget(alpha=1.0).losses(S, Y, Guide(log_t))) == {"loss_kd"}
    assert set(Regression(0.0).losses(S, T, Guide())) == {"loss_hard"}  # the truth alone needs no teacher
    assert set(NST().losses(S, Y, Guide(log_t, FT), FS)) == {"loss_hard", "loss_nst"}
    assert set(Hint().losses(S, Y, Guide(log_t, FT), FS)) == {"loss_hard", "loss_kd", "loss_hint"}


def test_declared_needs():
    assert not Scratch.uses_teacher and Generalized.privileged and NST.uses_features and Hint.uses_features
    assert not SoftTarget.uses_features and not SoftTarget.privileged
    assert Hint.channels_must_match and not NST.channels_must_match  # NST compares maps of any channel count
    with pytest.raises(DistillError, match="feature maps"):
        NST().losses(S, Y, Guide(F.log_softmax(T, 1)))
    with pytest.raises(DistillError, match="teacher's outputs"):
        SoftTarget().losses(S, Y, Guide())


def test_guide_rows_and_stack():
    guide = Guide(T, FT)
    part = guide.rows(torch.tensor([1, 3]))
    assert torch.equal(part.outputs, T[[1, 3]]) and torch.equal(part.features, FT[[1, 3]]) and len(part) == 2
    stacked = Guide.stack([Guide(T), Guide(2 * T)], torch.tensor([[0, 1], [2, 3]]))
    assert stacked.outputs.shape == (2, 2, 4) and stacked.features is None
    assert torch.equal(stacked.outputs[1], 2 * T[[2, 3]])


def test_one_set_of_defaults_for_the_distiller_and_the_recipes():
    for name in ("soft_target", "subclass", "nst", "hint"):
        spec = ClassStudentSpec(model="mlp", method=name)
        distiller = build_method(name, "classification", classes=2, subclasses=1, nst_kernel="poly")
        assert spec.alpha == default(name, "alpha") == distiller.alpha
        assert spec.temperature == default(name, "temperature") == distiller.temperature
    assert ClassStudentSpec(model="mlp", method="nst").feature_weight == NST.feature_weight == 50.0
    assert build_method("regression", "regression", classes=None, subclasses=1, nst_kernel="poly").alpha == 1.0
    assert settings("generalized") == {"temperature": 1.0, "alpha": 1.0, "values": False}


def test_bad_settings_are_one_line():
    with pytest.raises(DistillError, match="alpha must be in"):
        SoftTarget(alpha=1.5)
    with pytest.raises(DistillError, match="temperature must be > 0"):
        Generalized(temperature=0.0)
    with pytest.raises(DistillError, match="'lam' is now 'alpha'"):
        make_method("regression", lam=0.5)
    with pytest.raises(DistillError, match="no setting 'temperature'"):
        make_method("regression", temperature=2.0)
    with pytest.raises(DistillError, match="unknown method"):
        make_method("magic")
    with pytest.raises(DistillError, match="needs classes"):
        Subclass()
    with pytest.raises(dataclasses.FrozenInstanceError):
        SoftTarget().alpha = 0.5  # type: ignore[misc]


def recipe(student: dict) -> dict:
    return {"protocol": "classification", "name": "x", "data": {"source": "digits"},
            "teacher": {"model": "mlp"}, "students": {"kd": {"model": "mlp", **student}}}


@pytest.mark.parametrize("student, message", [
    ({"lam": 0.5}, "config key 'students.kd.lam' is now 'students.kd.alpha'"),
    ({"method": "nst", "nst": {"weight": 5}}, "config key 'students.kd.nst.weight' is now 'students.kd.feature_weight'"),
])
def test_old_keys_name_the_new_ones(student, message):
    with pytest.raises(DistillError, match=message.replace(".", r"\.")):
        validate_config(recipe(student), ClassificationConfig)


def test_the_catalogue_names_its_terms_and_needs_what_it_says():
    log_t = F.log_softmax(T, 1)
    assert set(AT().losses(S, Y, Guide(log_t, FT), FS)) == {"loss_hard", "loss_at"}
    assert set(DKD(ce_weight=0.0).losses(S, Y, Guide(log_t))) == {"loss_dkd"}
    assert set(DIST().losses(S, Y, Guide(log_t))) == {"loss_hard", "loss_dist"}
    crd = CRD(alpha=0.5, negatives=4, dim=8)
    part = crd.learned_part(FS, FT, 16)
    assert set(crd.losses(S, Y, Guide(log_t, FT, torch.arange(8)), FS, part)) == {"loss_hard", "loss_kd", "loss_crd"}
    assert CRD.needs_rows and VID.uses_features and not DKD.uses_features and SoftTarget(standardise=True).standardise
    with pytest.raises(DistillError, match="row numbers"):
        crd.losses(S, Y, Guide(log_t, FT), FS, part)
    with pytest.raises(DistillError, match="needs its learned part"):
        VID().losses(S, Y, Guide(log_t, FT), FS)
    with pytest.raises(DistillError, match="larger than its memory bank"):
        crd.losses(S, Y, Guide(log_t, FT, torch.arange(8)), FS, CRD(negatives=2, dim=8).learned_part(FS, FT, 4))
    with pytest.raises(DistillError, match="negatives must be in"):
        CRD().learned_part(FS, FT, 100)  # 16384 negatives from a bank of 100 rows
    with pytest.raises(DistillError, match="tckd_weight must be >= 0"):
        DKD(tckd_weight=-1.0)


@pytest.mark.parametrize("method", [PKT(values=True), RKD(values=True), SP(values=True), VID(values=True)])
def test_relational_methods_teach_a_regression_student(method):
    """Not tied to classes: on a forecaster's (batch, horizon) outputs the hard term is the MSE to the truth."""
    truth, teacher_forecast = torch.randn(8, 4), torch.randn(8, 4)
    part = method.learned_part(S, teacher_forecast, 8)
    terms = method.losses(S, truth, Guide(teacher_forecast, teacher_forecast), S, part)
    assert torch.allclose(terms["loss_hard"], F.mse_loss(S, truth)) and f"loss_{method.name}" in terms


def test_dist_on_values_correlates_raw_forecasts():
    truth = torch.randn(8, 4)
    terms = DIST(values=True, temperature=1.0).losses(2 * T + 1, truth, Guide(T))
    assert torch.allclose(terms["loss_hard"], F.mse_loss(2 * T + 1, truth))
    assert float(terms["loss_dist"]) < 1e-6  # a shifted, scaled copy correlates perfectly


def test_dkd_warms_up_over_its_first_epochs_as_mdistiller():
    """mdistiller's DKD: loss_dkd = min(epoch / warmup, 1) * dkd_loss (epochs from 1, warmup 20), the CE unscaled."""
    guide = Guide(F.log_softmax(T, 1))
    full = DKD().losses(S, Y, guide)
    first = DKD().at_epoch(1).losses(S, Y, guide)
    assert DKD().warmup == 20
    assert torch.allclose(first["loss_dkd"], full["loss_dkd"] / 20, rtol=1e-6, atol=0)
    assert torch.equal(first["loss_hard"], full["loss_hard"])
    assert torch.allclose(DKD(warmup=4).at_epoch(3).losses(S, Y, guide)["loss_dkd"], 0.75 * full["loss_dkd"])
    assert DKD().at_epoch(20) == DKD() and DKD().at_epoch(21) == DKD() and DKD(warmup=0).at_epoch(1) == DKD(warmup=0)
    assert SoftTarget().at_epoch(1) == SoftTarget()  # no schedule: the method itself
    for bad in (-1, 2.5, True):
        with pytest.raises(DistillError, match="warmup must be a whole number of epochs"):
            DKD(warmup=bad)
