"""The classification task of the shared protocol: a student's method object (`distill.methods`), what a
teacher hands over (its `Guide`), and the scores (accuracy, error count, macro-F1, ROC AUC, NLL).

Heads with subclasses emit (batch, classes * subclasses) logits; every score and every class-level loss
first reduces them to class log-probabilities (`class_log_probs`). Feature maps for NST and hints are taken by
forward hooks on module paths (`FeatureTap`); the teacher's are computed once per fold in `guide`.
"""
from __future__ import annotations

import math
import pickle
import struct

import numpy as np
import torch
from sklearn.metrics import f1_score, roc_auc_score
from torch import nn
from torch.nn import functional as F

from distill.config import ModelSpec, TrainSection
from distill.core.features import FeatureTap, make_adapter, resolve_module
from distill.core.task import FoldData, Task
from distill.core.train import fit
from distill.errors import DistillError
from distill.losses import LossTerms, subclass_teacher_loss
from distill.methods import Guide, class_log_probs
from distill.tasks.specs import ClassStudentSpec, ClassTeacherSpec, FeaturePair, Pretrained

ADAPTER = "distill_adapter"  # name of the learned adapter attached to a student for its training
GUIDE_BATCH = 512


def jitter_images(x: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Shift each image by its own random (dy, dx) in [-max_shift, max_shift], filling with zeros.

    Hinton et al. 2015 trained the MNIST teacher with inputs jittered by up to two pixels. x is
    (batch, channels, H, W); randomness comes from torch's global generator (seeded per model).
    """
    if max_shift == 0:
        return x
    if x.dim() != 4:
        raise DistillError(f"jitter needs image inputs (batch, channels, H, W), got shape {tuple(x.shape)}")
    batch, _, height, width = x.shape
    padded = F.pad(x, (max_shift,) * 4)  # (batch, channels, H + 2s, W + 2s)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, batch, 1))
    rows = (dy + torch.arange(height))[:, :, None]  # (batch, H, 1)
    cols = (dx + torch.arange(width))[:, None, :]  # (batch, 1, W)
    picked = padded[torch.arange(batch)[:, None, None], :, rows, cols]  # (batch, H, W, channels)
    # contiguous: a channels-last batch crashes oneDNN 3.12's 1x1-convolution backward on AVX2-only CPUs
    # (a segmentation fault in jit_avx2_1x1_convolution_bwd_weights, torch 2.13 CPU)
    return picked.permute(0, 3, 1, 2).contiguous()


def roc_auc(y: np.ndarray, probs: np.ndarray) -> float:
    """Binary ROC AUC of the positive class, or macro one-vs-rest over classes; NaN when a class is absent."""
    if len(np.unique(y)) < 2:
        return math.nan
    try:
        if probs.shape[1] == 2:
            return float(roc_auc_score(y, probs[:, 1]))
        return float(roc_auc_score(y, probs, multi_class="ovr", labels=list(range(probs.shape[1]))))
    except ValueError:  # a class of the head without test rows
        return math.nan


def head_path(model: nn.Module, pretrained: Pretrained) -> str:
    """The module path of the classification head: as configured, else `fc` (ResNets) or `head`."""
    if pretrained.head is None:
        return "fc" if hasattr(model, "fc") else "head"
    if pretrained.head not in dict(model.named_modules()):
        children = ", ".join(name for name, _ in model.named_children())
        raise DistillError(f"pretrained.head {pretrained.head!r} names no module of the {type(model).__name__}; "
                           f"its top-level modules: {children}")
    return pretrained.head


def _under(name: str, path: str) -> bool:
    return name == path or name.startswith(f"{path}.")


def load_backbone(model: nn.Module, pretrained: Pretrained) -> str:
    """Load every weight but the head's from the checkpoint (weights_only); return the head's path."""
    head = head_path(model, pretrained)
    try:
        saved = torch.load(pretrained.checkpoint, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DistillError(f"checkpoint {pretrained.checkpoint} not found") from None
    except (pickle.UnpicklingError, struct.error, RuntimeError, EOFError, ValueError, OSError) as error:
        raise DistillError(f"cannot load checkpoint {pretrained.checkpoint}: {str(error).splitlines()[0]}") from None
    if not isinstance(saved, dict) or not all(isinstance(v, torch.Tensor) for v in saved.values()):
        raise DistillError(f"checkpoint {pretrained.checkpoint} is not a state dict (names -> tensors); "
                           "save one with torch.save(model.state_dict(), path)")
    own = {name: value for name, value in model.state_dict().items() if not _under(name, head)}
    for name, value in own.items():
        if name not in saved:
            raise DistillError(f"checkpoint {pretrained.checkpoint} has no weight {name!r} for this "
                               f"{type(model).__name__}; is it the same architecture?")
        if saved[name].shape != value.shape:
            raise DistillError(f"checkpoint weight {name!r} has shape {tuple(saved[name].shape)}, the model "
                               f"needs {tuple(value.shape)}; is it the same architecture and width?")
    model.load_state_dict({**model.state_dict(), **{name: saved[name] for name in own}})
    return head


class ClassificationTask(Task[ClassTeacherSpec, ClassStudentSpec]):
    """Classification with `classes` classes; `seed` fixes which rows a student's transfer set keeps."""

    name = "classification"
    curve_metric = "nll"
    prepares_models = True  # a pretrained teacher's head; an NST student's adapter
    picks_transfer_rows = True  # a student's transfer set

    def __init__(self, classes: int, seed: int = 0) -> None:
        self.classes, self.seed = classes, seed

    def output_dim(self, spec: ModelSpec, fold: FoldData | None) -> int:
        subclasses = spec.subclasses if isinstance(spec, ClassTeacherSpec | ClassStudentSpec) else 1
        return self.classes * subclasses

    # --- before training -------------------------------------------------------------------------
    def prepare(self, model: nn.Module, spec: ClassTeacherSpec | ClassStudentSpec, fold: FoldData,
                train: TrainSection, seed: int, guide: Guide | None) -> None:
        """Teacher: load a checkpoint and train its head alone. Feature student: attach its learned adapter."""
        if isinstance(spec, ClassTeacherSpec) and spec.pretrained is not None:
            self._train_head(model, spec, spec.pretrained, fold, train, seed)
        if isinstance(spec, ClassStudentSpec) and spec.features is not None and spec.method in ("nst", "hint"):
            if guide is None or guide.features is None:
                raise DistillError("a feature student's adapter needs the teacher's feature maps")
            matching = spec.make_method(self.classes).channels_must_match
            self._attach_adapter(model, spec.features, fold, guide.features, always=spec.features.adapter,
                                 if_channels_differ=matching)

    def _train_head(self, model: nn.Module, spec: ClassTeacherSpec, pretrained: Pretrained, fold: FoldData,
                    train: TrainSection, seed: int) -> None:
        """Transfer learning, phase 1: backbone from the checkpoint, frozen and in eval mode; head trains."""
        head = resolve_module(model, load_backbone(model, pretrained))
        if pretrained.frozen_epochs == 0:
            return
        head_ids = {id(parameter) for parameter in head.parameters()}
        frozen = [parameter for parameter in model.parameters() if id(parameter) not in head_ids]
        for parameter in frozen:
            parameter.requires_grad_(False)
        model.eval()  # fit() switches only the head to train mode: frozen batch norms keep their statistics
        x = fold.inputs("teacher")[0]
        assert isinstance(x, torch.Tensor)  # images are tensors (windows are for series)
        fit(head, lambda rows: self.teacher_loss(model, x[rows], fold.y_train[rows], spec), len(x),
            epochs=pretrained.frozen_epochs, batch_size=train.batch_size, lr=pretrained.frozen_lr or spec.lr,
            weight_decay=spec.weight_decay, seed=seed, unit=("teacher-head", fold.index, seed))
        for parameter in frozen:
            parameter.requires_grad_(True)

    def _attach_adapter(self, model: nn.Module, pair: FeaturePair, fold: FoldData, teacher_features: torch.Tensor,
                        always: bool, if_channels_differ: bool) -> None:
        """A 1x1 map from the student's feature channels to the teacher's, trained with the student: `always`
        (features.adapter), or when the channel counts differ and the method compares channel by channel."""
        if not (always or if_channels_differ):
            return
        with FeatureTap(model, pair.student) as tap, torch.no_grad():
            model.eval()
            model(fold.x_train[:2])
        student = tap.value
        if student.dim() != teacher_features.dim():
            raise DistillError(f"feature maps differ in rank: student {pair.student!r} gives "
                               f"{tuple(student.shape[1:])}, teacher {pair.teacher!r} "
                               f"{tuple(teacher_features.shape[1:])} per example")
        if always or (if_channels_differ and student.shape[1] != teacher_features.shape[1]):
            model.add_module(ADAPTER, make_adapter(student.shape[1], teacher_features.shape[1], student.dim()))

    def transfer_rows(self, fold: FoldData, spec: ClassStudentSpec) -> torch.Tensor:
        """The fold's training rows in the student's transfer set: a stratified share, minus omitted classes."""
        y = fold.y_train.cpu().numpy()
        rng = np.random.default_rng([self.seed, fold.index])
        keep = []
        for label in np.unique(y):
            if label in spec.transfer.omit:
                continue
            rows = np.flatnonzero(y == label)
            count = max(1, round(spec.transfer.fraction * len(rows)))
            keep.append(rng.choice(rows, size=count, replace=False) if count < len(rows) else rows)
        if not keep:
            raise DistillError("the transfer set is empty: every class is omitted")
        return torch.from_numpy(np.sort(np.concatenate(keep)))

    # --- losses ----------------------------------------------------------------------------------
    def teacher_loss(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor,
                     spec: ClassTeacherSpec) -> torch.Tensor:
        logits = model(jitter_images(x, spec.jitter))
        if spec.subclasses == 1:
            return F.cross_entropy(logits, targets)
        return subclass_teacher_loss(logits, targets, classes=self.classes, subclasses=spec.subclasses, beta=spec.beta,
                                     temperature=spec.aux_temperature)

    def guide(self, teacher: nn.Module, x: torch.Tensor, spec: ClassStudentSpec) -> Guide:
        """The teacher's outputs as the student's method compares them and, for feature methods, its hooked
        feature maps; nothing for a student that learns from the labels alone."""
        method = spec.make_method(self.classes)
        if not method.uses_teacher:
            return Guide()
        path = _feature_pair(spec).teacher if method.uses_features else None
        outputs, features = outputs_and_features(teacher, x, path)
        return method.guide(outputs, features)

    def student_loss(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor, guide: Guide,
                     spec: ClassStudentSpec) -> LossTerms:
        """The named loss terms of the student's method (`distill.methods`) on a batch."""
        x = jitter_images(x, spec.jitter)
        method = spec.make_method(self.classes)
        if not method.uses_features:
            return method.losses(model(x), targets, guide)
        pair = _feature_pair(spec)
        with FeatureTap(model, pair.student) as tap:
            outputs = model(x)
        features = tap.value
        if not isinstance(features, torch.Tensor):
            raise DistillError(f"feature path {pair.student!r} gives a {type(features).__name__}, not a tensor")
        adapter = getattr(model, ADAPTER, None)
        if adapter is not None:
            features = adapter(features)
        return method.losses(outputs, targets, guide, features)

    # --- scores ----------------------------------------------------------------------------------
    def curve_scores(self, outputs: torch.Tensor, targets: torch.Tensor, fold: FoldData) -> dict[str, float]:
        """Per-epoch curves: NLL of the true class and accuracy (cheap; no AUC)."""
        log_p = class_log_probs(outputs, self.classes)
        return {"nll": float(F.nll_loss(log_p, targets)),
                "accuracy": float((log_p.argmax(1) == targets).float().mean())}

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor, fold: FoldData) -> dict[str, float]:
        log_p = class_log_probs(outputs, self.classes)
        predicted = log_p.argmax(1)
        errors = int((predicted != targets).sum())
        y, predicted = targets.cpu().numpy(), predicted.cpu()
        probs = log_p.double().exp()
        probs_np = (probs / probs.sum(1, keepdim=True)).cpu().numpy()
        return {"accuracy": 1.0 - errors / len(y), "errors": float(errors), "error_rate": errors / len(y),
                "macro_f1": float(f1_score(y, predicted.numpy(), average="macro", labels=list(range(self.classes)),
                                           zero_division=0)),
                "roc_auc": roc_auc(y, probs_np), "nll": float(F.nll_loss(log_p, targets))}

    def fidelity(self, outputs: torch.Tensor, teacher: torch.Tensor) -> dict[str, float]:
        """Agreement of predicted classes and KL(teacher || student) of class distributions, on test rows."""
        student_log_p = class_log_probs(outputs, self.classes)
        teacher_log_p = class_log_probs(teacher, self.classes)
        return {"agreement": float((student_log_p.argmax(1) == teacher_log_p.argmax(1)).float().mean()),
                "kl": float(F.kl_div(student_log_p, teacher_log_p, reduction="batchmean", log_target=True))}


def _feature_pair(spec: ClassStudentSpec) -> FeaturePair:
    if spec.features is None:
        raise DistillError(f"method {spec.method!r} needs features: {{student: <module path>, teacher: <module path>}}")
    return spec.features


@torch.no_grad()
def outputs_and_features(model: nn.Module, x: torch.Tensor,
                         path: str | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Outputs on all rows of x in eval mode and, when `path` is given, the hooked module's output."""
    model.eval()
    if path is None:
        return torch.cat([model(part) for part in x.split(GUIDE_BATCH)]), None
    outputs, features = [], []
    with FeatureTap(model, path) as tap:
        for part in x.split(GUIDE_BATCH):
            outputs.append(model(part))
            if not isinstance(tap.value, torch.Tensor):
                raise DistillError(f"feature path {path!r} gives a {type(tap.value).__name__}, not a tensor")
            features.append(tap.value)
    return torch.cat(outputs), torch.cat(features)
