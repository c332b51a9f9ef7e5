"""The classification task's pieces: jitter, losses by method, scores, transfer sets, transfer learning,
and the report's analyses (bias correction, subclass matching, sweep grid, chains)."""
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, roc_auc_score
from torch.nn import functional as F

from distill.config import TrainSection
from distill.core.task import FoldData
from distill.errors import DistillError
from distill.losses import soft_target_loss, subclass_aux_loss, total
from distill.methods import Guide
from distill.models import build_model
from distill.protocols.classification.analysis import (
    assign_subclasses,
    chains,
    matching_accuracy,
    prior_matching_shift,
    sweep_grid,
)
from distill.protocols.classification.config import SweepSection, all_students, soft_target_cell_name
from distill.tasks.classification import ADAPTER, ClassificationTask, class_log_probs, jitter_images, load_backbone
from distill.tasks.specs import ClassStudentSpec, ClassTeacherSpec, Pretrained


def make_fold(rows: int = 40, classes: int = 4, shape=(1, 8, 8), seed: int = 0) -> FoldData:
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(rows) % classes
    x = torch.rand((rows, *shape), generator=generator)
    return FoldData(index=0, x_train=x, y_train=y, x_test=x[:10], y_test=y[:10], test_rows=torch.arange(10))


def student(**fields) -> ClassStudentSpec:
    return ClassStudentSpec(model="mlp", options={"hidden": [8]}, **fields)


# --- jitter and head layouts -------------------------------------------------------------------

def test_jitter_moves_each_image_by_at_most_the_shift():
    torch.manual_seed(0)
    x = torch.zeros(200, 1, 7, 7)
    x[:, 0, 3, 3] = 1.0  # one lit pixel in the centre
    moved = jitter_images(x, 2)
    assert moved.shape == x.shape
    assert torch.all(moved.sum((1, 2, 3)) == 1.0)  # nothing falls off a 2-pixel border
    where = moved[:, 0].flatten(1).argmax(1)
    rows, cols = where // 7, where % 7
    assert (rows - 3).abs().max() == 2 and (cols - 3).abs().max() == 2
    assert len(set(zip(rows.tolist(), cols.tolist()))) == 25  # every shift occurs


def test_jitter_hands_back_the_usual_memory_layout():
    """A channels-last batch crashed oneDNN's 1x1-convolution backward on AVX2-only CPUs (segmentation fault)."""
    torch.manual_seed(0)
    moved = jitter_images(torch.rand(4, 3, 8, 8), 2)
    assert moved.is_contiguous()


def test_jitter_zero_is_identity_and_needs_images():
    x = torch.rand(3, 1, 4, 4)
    assert jitter_images(x, 0) is x
    with pytest.raises(DistillError, match="image inputs"):
        jitter_images(torch.rand(3, 16), 1)


def test_class_log_probs_sum_subclasses():
    logits = torch.randn(5, 6)
    expected = torch.log(F.softmax(logits, 1).view(5, 2, 3).sum(2))
    assert torch.allclose(class_log_probs(logits, 2), expected, atol=1e-6)
    assert torch.allclose(class_log_probs(logits, 6), F.log_softmax(logits, 1))
    with pytest.raises(DistillError, match="class count mismatch"):
        class_log_probs(logits, 4)


# --- losses by method --------------------------------------------------------------------------

def test_student_losses_by_method():
    torch.manual_seed(0)
    fold, task = make_fold(), ClassificationTask(classes=4)
    teacher = build_model("mlp", (1, 8, 8), 4, hidden=[16])
    x, y = fold.x_train[:8], fold.y_train[:8]
    model = build_model("mlp", (1, 8, 8), 4, hidden=[8])
    kd = student(method="soft_target", temperature=3.0, alpha=0.4)
    guide = task.guide(teacher, x, kd)
    expected = soft_target_loss(F.log_softmax(model(x), 1), F.log_softmax(teacher(x), 1), y, temperature=3.0, alpha=0.4)
    terms = task.student_loss(model, x, y, guide, kd)
    assert set(terms) == {"loss_hard", "loss_kd"} and torch.allclose(total(terms), expected, atol=1e-6)
    assert torch.allclose(terms["loss_hard"], 0.6 * F.cross_entropy(model(x), y), atol=1e-6)
    alone = student(method="none")
    assert task.guide(teacher, x, alone) == Guide()
    terms = task.student_loss(model, x, y, Guide(), alone)
    assert set(terms) == {"loss_hard"} and torch.allclose(terms["loss_hard"], F.cross_entropy(model(x), y), atol=1e-6)


def test_subclass_student_needs_the_teachers_head():
    task = ClassificationTask(classes=2)
    teacher = build_model("mlp", (1, 8, 8), 10, hidden=[8])
    with pytest.raises(DistillError, match="class count mismatch"):
        task.guide(teacher, torch.rand(4, 1, 8, 8), student(method="subclass", subclasses=3))
    guide = task.guide(teacher, torch.rand(4, 1, 8, 8), student(method="subclass", subclasses=5))
    assert guide.outputs.shape == (4, 10) and guide.features is None  # the subclass logits, as the method compares


def test_subclass_teacher_loss_uses_aux_term():
    torch.manual_seed(0)
    task = ClassificationTask(classes=2)
    model = build_model("mlp", (1, 8, 8), 6, hidden=[8])
    x, y = torch.rand(16, 1, 8, 8), torch.arange(16) % 2
    plain = ClassTeacherSpec(model="mlp", subclasses=3, beta=0.0)
    with_aux = ClassTeacherSpec(model="mlp", subclasses=3, beta=2.0)
    aux = subclass_aux_loss(model(x), temperature=with_aux.aux_temperature)
    difference = task.teacher_loss(model, x, y, with_aux) - task.teacher_loss(model, x, y, plain)
    assert difference.item() == pytest.approx(2.0 * aux.item(), abs=1e-5) and aux.item() != 0


def nst_spec(**features) -> ClassStudentSpec:
    return ClassStudentSpec(model="cnn", options={"channels": [4, 6], "hidden": 8}, method="nst", alpha=0.0,
                            features={"student": "features.1", "teacher": "features.1", **features})


def test_nst_student_gets_teacher_maps_and_gradients():
    torch.manual_seed(0)
    fold, task = make_fold(), ClassificationTask(classes=4)
    teacher = build_model("cnn", (1, 8, 8), 4, channels=[8, 12], hidden=8)
    spec = nst_spec()
    guide = task.guide(teacher, fold.x_train, spec)
    assert guide.features.shape == (40, 12, 2, 2) and guide.outputs.shape == (40, 4)
    model = build_model("cnn", (1, 8, 8), 4, channels=[4, 6], hidden=8)
    terms = task.student_loss(model, fold.x_train[:8], fold.y_train[:8], guide.rows(torch.arange(8)), spec)
    assert set(terms) == {"loss_hard", "loss_nst"}  # alpha 0: CE + NST, as in the paper
    total(terms).backward()
    assert model.features[0][0].weight.grad.abs().sum() > 0


def test_nst_adapter_maps_student_channels_to_the_teachers():
    fold, task = make_fold(), ClassificationTask(classes=4)
    spec = nst_spec(adapter=True)
    guide = Guide(torch.zeros(40, 4), torch.rand(40, 12, 2, 2))
    model = build_model("cnn", (1, 8, 8), 4, channels=[4, 6], hidden=8)
    task.prepare(model, spec, fold, TrainSection(), seed=0, guide=guide)
    adapter = getattr(model, ADAPTER)
    assert (adapter.in_channels, adapter.out_channels) == (6, 12)
    total(task.student_loss(model, fold.x_train[:4], fold.y_train[:4], guide.rows(torch.arange(4)), spec)).backward()
    assert adapter.weight.grad is not None


# --- scores ------------------------------------------------------------------------------------

def test_metrics_match_sklearn():
    torch.manual_seed(1)
    task = ClassificationTask(classes=3)
    logits, y = torch.randn(30, 3), torch.arange(30) % 3
    scores = task.metrics(logits, y, make_fold())
    probs = F.softmax(logits.double(), 1).numpy()
    predicted = logits.argmax(1)
    assert scores["errors"] == float((predicted != y).sum())
    assert scores["accuracy"] == pytest.approx(float((predicted == y).float().mean()))
    assert scores["macro_f1"] == pytest.approx(f1_score(y, predicted, average="macro"))
    assert scores["roc_auc"] == pytest.approx(roc_auc_score(y, probs, multi_class="ovr"))
    assert scores["nll"] == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-5)


def test_binary_auc_and_a_missing_class():
    task = ClassificationTask(classes=2)
    logits = torch.tensor([[0.0, 1.0], [0.0, -1.0], [0.0, 2.0], [0.0, 0.5]])
    y = torch.tensor([1, 0, 1, 0])
    assert task.metrics(logits, y, make_fold())["roc_auc"] == 1.0
    assert math.isnan(task.metrics(logits, torch.ones(4, dtype=torch.long), make_fold())["roc_auc"])


def test_fidelity_agreement():
    task = ClassificationTask(classes=2)
    student_out = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert task.fidelity(student_out, student_out) == {"agreement": 1.0, "kl": pytest.approx(0.0, abs=1e-7)}
    assert task.fidelity(student_out, student_out.flip(1))["agreement"] == 0.0


# --- transfer sets -----------------------------------------------------------------------------

def test_transfer_rows_stratified_without_omitted_classes():
    fold, task = make_fold(rows=200, classes=4), ClassificationTask(classes=4, seed=3)
    rows = task.transfer_rows(fold, student(transfer={"fraction": 0.2, "omit": [2]}))
    counts = torch.bincount(fold.y_train[rows], minlength=4).tolist()
    assert counts == [10, 10, 0, 10]
    assert torch.equal(rows, task.transfer_rows(fold, student(transfer={"fraction": 0.2, "omit": [2]})))
    assert len(task.transfer_rows(fold, student())) == 200


# --- transfer learning from a checkpoint -------------------------------------------------------

def test_backbone_from_checkpoint_and_frozen_head_phase(tmp_path):
    torch.manual_seed(0)
    source = build_model("mlp", (1, 8, 8), 7, hidden=[16])  # trained elsewhere, other classes
    torch.save(source.state_dict(), tmp_path / "source.pt")
    fold, task = make_fold(), ClassificationTask(classes=4)
    spec = ClassTeacherSpec(model="mlp", options={"hidden": [16]}, lr=0.01,
                            pretrained={"checkpoint": str(tmp_path / "source.pt"), "frozen_epochs": 2})
    model = build_model("mlp", (1, 8, 8), 4, hidden=[16])
    head_before = model.head.weight.clone()
    task.prepare(model, spec, fold, TrainSection(batch_size=8), seed=0, guide=None)
    assert torch.equal(model.body[1].weight, source.body[1].weight)  # backbone loaded, then frozen
    assert not torch.equal(model.head.weight, head_before)  # the new head trained
    assert all(p.requires_grad for p in model.parameters())  # unfrozen for fine-tuning


def test_checkpoint_errors(tmp_path):
    model = build_model("mlp", (1, 8, 8), 4, hidden=[16])
    with pytest.raises(DistillError, match="not found"):
        load_backbone(model, Pretrained(checkpoint=str(tmp_path / "missing.pt")))
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(DistillError, match="not a state dict"):
        load_backbone(model, Pretrained(checkpoint=str(tmp_path / "list.pt")))
    torch.save(build_model("mlp", (1, 8, 8), 4, hidden=[32]).state_dict(), tmp_path / "wide.pt")
    with pytest.raises(DistillError, match="has shape"):
        load_backbone(model, Pretrained(checkpoint=str(tmp_path / "wide.pt")))
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(DistillError, match="cannot load checkpoint"):
        load_backbone(model, Pretrained(checkpoint=str(tmp_path / "junk.pt")))
    with pytest.raises(DistillError, match="names no module"):
        load_backbone(model, Pretrained(checkpoint=str(tmp_path / "wide.pt"), head="classifier"))


# --- analyses ----------------------------------------------------------------------------------

def test_prior_matching_shift_is_the_smallest_that_reaches_the_prior():
    log_p = torch.log_softmax(torch.tensor([[2.0, 0.0], [3.0, 0.5], [1.0, 0.8], [0.0, 1.0]]), 1)
    shift = prior_matching_shift(log_p, target=1, prior=0.5)
    share = lambda s: float(((log_p + torch.tensor([0.0, s])).argmax(1) == 1).float().mean())
    assert share(shift) >= 0.5 > share(shift - 1e-3)
    assert shift == pytest.approx(0.2, abs=1e-6)
    assert prior_matching_shift(log_p, target=1, prior=0.25) == 0.0


def test_matching_accuracy_and_subclass_assignment():
    hidden = np.array([0, 0, 1, 1, 2, 2])
    assert matching_accuracy(np.array([5, 5, 3, 3, 4, 4]), hidden) == 1.0
    assert matching_accuracy(np.array([1, 1, 1, 1, 1, 1]), hidden) == pytest.approx(1 / 3)
    outputs = torch.tensor([[5.0, 0.0, -5.0, -5.0], [5.0, 1.0, -5.0, -5.0], [-5.0, -5.0, 0.0, 3.0],
                            [-5.0, -5.0, 1.0, 0.0]])  # 2 classes x 2 subclasses
    assert assign_subclasses(outputs, classes=2).tolist() == [0, 1, 3, 2]


def test_sweep_names_grid_and_best_cell():
    spec = student(method="soft_target")
    sweep = SweepSection(temperatures=[1, 4], alphas=[0.5, 1.0], student=spec)
    from distill.protocols.classification.config import ClassificationConfig
    config = ClassificationConfig(name="s", teacher={"model": "mlp"}, students={"student_scratch": student()},
                                  sweep=sweep)
    students = all_students(config)
    assert list(students) == ["student_scratch", "kd_T1_a0.5", "kd_T1_a1", "kd_T4_a0.5", "kd_T4_a1"]
    assert students["kd_T4_a0.5"].temperature == 4 and students["kd_T4_a0.5"].alpha == 0.5
    models = {soft_target_cell_name(t, a): {"test": {"accuracy": {"mean": t * a, "sem": 0.0}}}
              for t in (1, 4) for a in (0.5, 1.0)}
    grid = sweep_grid(models, sweep)
    assert grid["best"] == {"temperature": 4, "alpha": 1.0, "student": "kd_T4_a1", "accuracy": 4.0,
                            "chosen_on": "test"}
    validation = {name: [1.0, 0.5] if name == "kd_T1_a0.5" else [0.2, 0.1] for name in models}
    chosen = sweep_grid(models, sweep, validation)  # inner validation picks a cell the test scores would not
    assert chosen["best"] == {"temperature": 1, "alpha": 0.5, "student": "kd_T1_a0.5", "accuracy": 0.5,
                              "chosen_on": "validation", "validation_accuracy": 0.75}


def test_chains_follow_assistants():
    students = {"ta": student(), "s_direct": student(), "s_ta": student(teacher="ta"),
                "s_ta2": student(teacher="s_ta")}
    assert chains(students) == [["teacher", "ta", "s_ta", "s_ta2"]]


def test_bias_correction_recovers_an_omitted_class():
    from distill.core.protocol import ModelOutcome, ProtocolResult
    from distill.protocols.classification.analysis import bias_correction
    y = torch.arange(30) % 3  # prior of class 2: 1/3
    evidence = F.one_hot(y, 3).float() * 2.0  # the right class stands out by 2 ...
    outputs = evidence - torch.tensor([0.0, 0.0, 5.0])  # ... but class 2 was never in the transfer set
    fold = FoldData(index=0, x_train=torch.zeros(30, 1), y_train=y, x_test=torch.zeros(30, 1), y_test=y,
                    test_rows=torch.arange(30))
    run = ModelOutcome(train={}, test={}, curves={}, test_outputs=outputs, train_outputs=outputs)
    protocol = ProtocolResult(folds=[fold], outcomes={"s": [run]}, profiles={}, teacher_folds=[0])
    result = bias_correction(protocol, "s", [2], classes=3)
    scores = result["classes"]["2"]
    assert scores["class_accuracy_before"]["mean"] == 0.0
    assert scores["class_accuracy_after"]["mean"] == 1.0
    assert 2.9 < scores["shift"]["mean"] < 7.0  # about 3 (float32 logits), far below 7
    assert result["accuracy_before"]["mean"] == pytest.approx(2 / 3)
    assert result["accuracy_after"]["mean"] == 1.0


def test_hint_student_gets_an_adapter_when_channels_differ():
    torch.manual_seed(0)
    fold, task = make_fold(), ClassificationTask(classes=4)
    teacher = build_model("cnn", (1, 8, 8), 4, channels=[8, 12], hidden=8)
    spec = ClassStudentSpec(model="cnn", options={"channels": [4, 6], "hidden": 8}, method="hint",
                            features={"student": "features.1", "teacher": "features.1"})
    guide = task.guide(teacher, fold.x_train, spec)
    model = build_model("cnn", (1, 8, 8), 4, channels=[4, 6], hidden=8)
    task.prepare(model, spec, fold, TrainSection(), seed=0, guide=guide)
    assert (getattr(model, ADAPTER).in_channels, getattr(model, ADAPTER).out_channels) == (6, 12)
    terms = task.student_loss(model, fold.x_train[:8], fold.y_train[:8], guide.rows(torch.arange(8)), spec)
    assert set(terms) == {"loss_hard", "loss_kd", "loss_hint"} and spec.alpha == 0.9 and spec.feature_weight == 1.0
