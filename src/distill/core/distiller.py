"""`Distiller`: distil any teacher `nn.Module` into any student with your own DataLoaders.

    distiller = Distiller(teacher, student, method="soft_target", temperature=4, alpha=0.9)
    history = distiller.fit(train_loader, epochs=20, val_loader=val_loader, callbacks=[EarlyStopping()])
    distiller.evaluate(test_loader)   # {"accuracy", "loss", "agreement", "kl", ...} against the truth

The objectives are the method objects of `distill.methods` (the recipes' too), whose named loss terms the
history shows per epoch; the optimiser step is `distill.core.train.train_step`
(the one the recipes use), feature maps are hooked by module path (`distill.core.features`). The teacher is
frozen in eval mode; its outputs are computed once per row and reused when the loader cannot change a row
between epochs (a `TensorDataset`, or any dataset read in a fixed order; pass `cache_teacher=False` if such
a dataset augments). Under `torchrun` or `launch`, the student trains with DistributedDataParallel.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from distill.core.batches import RankBatches, eval_batches, unpack_batch
from distill.core.callbacks import Callback, GradientClipping
from distill.core.distributed import World, init_from_env
from distill.core.features import FeatureTap, make_adapter
from distill.core.train import make_adam, run_epochs
from distill.devices import autocast, resolve_device, to_device
from distill.errors import DistillError
from distill.losses import LossTerms, total
from distill.methods import METHODS, Guide, Method, class_log_probs, make_method

CACHE_BATCH = 1024


def build_method(name: str, task: str, *, classes: int | None, subclasses: int, nst_kernel: str,
                 settings: dict[str, Any] | None = None, **weights: float | None) -> Method:
    """The method object of a Distiller: `weights` (temperature, alpha, feature_weight) left None take the
    method's defaults; `settings` are any other settings of the method (e.g. `standardise`, `negatives`); a
    setting the method does not have is refused. Methods tied to classes refuse a regression task; the others
    compare the regression student's values (`values`)."""
    if name not in METHODS:
        raise DistillError(f"unknown method {name!r}; allowed: {', '.join(METHODS)}")
    values = task == "regression"
    if values and name in ("soft_target", "subclass", "dkd"):
        raise DistillError(f"method {name!r} compares class distributions; for value targets use method='regression' "
                           "or a method not tied to classes (rkd, pkt, sp, dist, hint, nst)")
    if name == "regression" and not values:
        raise DistillError("method 'regression' needs task='regression' (value targets)")
    shapes: dict[str, dict[str, Any]] = {
        "none": {"classes": classes, "values": values}, "soft_target": {"classes": classes}, "regression": {},
        "generalized": {"values": values}, "subclass": {"classes": classes or 0, "subclasses": subclasses},
        "nst": {"classes": classes, "values": values, "kernel": nst_kernel}, "dkd": {"classes": classes},
        **{feature: {"classes": classes, "values": values} for feature in ("hint", "at", "pkt", "rkd", "sp", "vid",
                                                                           "crd", "dist")}}
    chosen = {key: value for key, value in weights.items() if value is not None}
    both = sorted((set(chosen) | set(shapes[name])) & set(settings or {}))
    if both:
        raise DistillError(f"setting {both[0]!r} comes from the Distiller's own argument; remove it from settings")
    return make_method(name, **shapes[name], **(settings or {}), **chosen)


def _cat(values: list[torch.Tensor | None]) -> torch.Tensor | None:
    """The parts concatenated, or None when the guide holds none."""
    present = [value for value in values if value is not None]
    return torch.cat(present) if present else None


class _Trainee(nn.Module):
    """The student and, for feature methods, its adapter and the method's learned part (VID, CRD): one module,
    so DDP synchronises them all. forward(x) -> (outputs, the hooked features after the adapter, or None)."""

    def __init__(self, student: nn.Module, tap: str | None, adapter: nn.Module | None) -> None:
        super().__init__()
        self.student, self.adapter = student, adapter
        self.part: nn.Module | None = None
        self.tap = FeatureTap(student, tap) if tap is not None else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        outputs = self.student(x)
        if self.tap is None:
            return outputs, None
        features = self.tap.value
        if not isinstance(features, torch.Tensor):
            raise DistillError(f"feature path {self.tap.path!r} gives a {type(features).__name__}, not a tensor")
        return outputs, features if self.adapter is None else self.adapter(features)


class Distiller:
    """Teacher -> student distillation with one of `distill.methods.METHODS` (each method's docstring gives
    its formula, paper and defaults; `temperature`, `alpha`, `feature_weight` left None take them).

    - `none`: the labels (or values) alone, the baseline.
    - `soft_target`: (1 - alpha) CE(y) + alpha T^2 KL(teacher_T || student_T) (Hinton et al. 2015).
    - `regression`: (1 - alpha) MSE(y) + alpha MSE(teacher) (alpha is Lopez-Paz et al.'s lambda).
    - `generalized`: the teacher reads the batch's privileged field, the student never does
      (Lopez-Paz et al. 2016); regression targets use the regression mix.
    - `nst` / `hint`: the soft-target (or regression) terms + `feature_weight` x a feature loss on the maps
      hooked at `taps={"student": path, "teacher": path}`: NST's MMD^2 / 2, or FitNets' MSE through a learned
      adapter (built when channel counts differ, or when `adapter=True`).
    - `subclass`: match a classes x subclasses teacher head (Mueller et al. 2020); needs `classes`.
    - `dkd`, `dist`: decoupled KD (Zhao et al. 2022) and DIST's correlations (Huang et al. 2022, also for
      regression); `at`, `pkt`, `rkd`, `sp`, `vid`, `crd`: CE (or MSE) + `feature_weight` x the feature term
      at `taps` (pkt, rkd, sp and vid take vectors of any width, so a regression student can use them; vid
      and crd train a part of their own beside the student; crd needs a TensorDataset, its memory bank's rows).
      `settings` holds any other setting of the method, e.g. `{"standardise": True}` (logit standardisation,
      Sun et al. 2024) or `{"negatives": 4096}`; each method's docstring lists them.

    `task` is "classification" (labels are class indices) or "regression"; default: regression for the
    regression method, else classification. `optimizer(parameters)` builds the optimiser (default: Adam at
    `lr`, the recipes' fused kernel). `device`: auto, cpu, cuda, cuda:N, mps. `mixed_precision` (float16
    autocast with a gradient scaler) needs CUDA. `seed` fixes the batch order and the adapter's initial weights.
    """

    def __init__(self, teacher: nn.Module, student: nn.Module, method: str = "soft_target", *,
                 temperature: float | None = None, alpha: float | None = None, taps: dict[str, str] | None = None,
                 adapter: bool | None = None, feature_weight: float | None = None, nst_kernel: str = "poly",
                 settings: dict[str, Any] | None = None,
                 classes: int | None = None, subclasses: int = 1, task: str | None = None,
                 optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] | None = None,
                 lr: float = 1e-3, weight_decay: float = 0.0, device: str | torch.device = "auto",
                 mixed_precision: bool = False, cache_teacher: bool | None = None, seed: int = 0) -> None:
        self.task = task or ("regression" if method == "regression" else "classification")
        if self.task not in ("classification", "regression"):
            raise DistillError(f"unknown task {self.task!r}; allowed: classification, regression")
        self.method_ = build_method(method, self.task, classes=classes, subclasses=subclasses, nst_kernel=nst_kernel,
                                    settings=settings, temperature=temperature, alpha=alpha,
                                    feature_weight=feature_weight)
        if self.method_.uses_features and not (taps and {"student", "teacher"} <= set(taps)):
            raise DistillError(f"method {method!r} needs taps={{'student': <module path>, 'teacher': <module path>}}")
        self.teacher, self.student, self.method = teacher, student, method
        self.taps, self.adapter, self.classes = taps or {}, adapter, classes
        self.optimizer, self.lr, self.weight_decay = optimizer, lr, weight_decay
        self.device, self.mixed_precision, self.cache_teacher, self.seed = device, mixed_precision, cache_teacher, seed

    # --- the teacher ------------------------------------------------------------------------------
    def _teacher_input(self, x: torch.Tensor, privileged: torch.Tensor | None) -> torch.Tensor:
        if not self.method_.privileged:
            return x
        if privileged is None:
            raise DistillError("method 'generalized' needs batches (x, y, privileged): the teacher reads "
                               "the privileged inputs")
        return privileged

    @torch.no_grad()
    def _teacher_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The teacher's raw outputs (and hooked features) on x, in eval mode."""
        if not self.method_.uses_features:
            return self.teacher(x), None
        with FeatureTap(self.teacher, self.taps["teacher"]) as tap:
            outputs = self.teacher(x)
        if not isinstance(tap.value, torch.Tensor):
            raise DistillError(f"feature path {self.taps['teacher']!r} gives a {type(tap.value).__name__}, "
                               "not a tensor")
        return outputs, tap.value

    def _teach(self, x: torch.Tensor) -> Guide:
        """What the teacher hands the method for the rows of x (nothing for a method without a teacher)."""
        if not self.method_.uses_teacher:
            return Guide()
        return self.method_.guide(*self._teacher_outputs(x))

    def _teach_rows(self, tensors: Sequence[torch.Tensor]) -> Guide:
        """The teacher's view of every row of a TensorDataset, once, on the device."""
        x, _, privileged = unpack_batch(tuple(tensors))
        source = self._teacher_input(x, privileged)
        parts = [self._teach(to_device(part, self.device_)) for part in source.split(CACHE_BATCH)]
        return Guide(_cat([p.outputs for p in parts]), _cat([p.features for p in parts]))

    def _guide(self, key: torch.Tensor | int, x: torch.Tensor, privileged: torch.Tensor | None) -> Guide:
        if self.cache_ is None:
            return self._teach(self._teacher_input(x, privileged))
        if isinstance(self.cache_, Guide):  # rows of a TensorDataset
            assert isinstance(key, torch.Tensor)
            return self.cache_.rows(key.to(self.device_))
        assert isinstance(key, int)  # a batch's position in a loader read in a fixed order
        if key not in self.cache_:
            self.cache_[key] = self._teach(self._teacher_input(x, privileged))
        guide = self.cache_[key]
        if len(guide) != len(x):
            raise DistillError("the train loader changed its batches between epochs; pass cache_teacher=False")
        return guide

    def _setup_cache(self, batches: RankBatches) -> None:
        kind = batches.key_kind if self.cache_teacher is not False and self.method_.uses_teacher else None
        if self.cache_teacher and kind is None:
            raise DistillError("cache_teacher=True needs a TensorDataset or a loader that does not shuffle")
        self.cache_: Guide | dict[int, Guide] | None = None
        if kind == "row" and batches.tensors is not None:
            self.cache_ = self._teach_rows(batches.tensors)
        elif kind == "position":
            self.cache_ = {}

    # --- the student ------------------------------------------------------------------------------
    def _build_adapter(self, x: torch.Tensor) -> nn.Module | None:
        """The learned map from student to teacher channels, when the method needs one."""
        if not self.method_.uses_features or self.adapter is False:
            return None
        with FeatureTap(self.student, self.taps["student"]) as tap, torch.no_grad():
            training = self.student.training
            self.student.eval()
            self.student(x[:2])
            self.student.train(training)
        teacher = self._teacher_outputs(x[:2])[1]
        if not isinstance(tap.value, torch.Tensor) or teacher is None:
            raise DistillError(f"feature paths {self.taps} give no tensors to compare")
        if tap.value.dim() != teacher.dim():
            raise DistillError(f"feature maps differ in rank: student {tuple(tap.value.shape[1:])}, teacher "
                               f"{tuple(teacher.shape[1:])} per example")
        if self.adapter is None and (not self.method_.channels_must_match or tap.value.shape[1] == teacher.shape[1]):
            return None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return make_adapter(tap.value.shape[1], teacher.shape[1], tap.value.dim()).to(self.device_)

    def _build_part(self, trainee: _Trainee, x: torch.Tensor, batches: RankBatches) -> nn.Module | None:
        """The method's own learnable part (VID, CRD), sized from the first rows' features, or None."""
        if not self.method_.uses_features:
            return None
        if self.method_.needs_rows and not isinstance(self.cache_, Guide):
            raise DistillError(f"method {self.method!r} needs each batch's row numbers in the training set: train from "
                               "a TensorDataset (and leave cache_teacher on)")
        with torch.no_grad():
            training = trainee.training
            student = trainee.eval()(x[:2])[1]
            trainee.train(training)
        teacher = self._teacher_outputs(x[:2])[1]
        assert student is not None and teacher is not None  # checked by _build_adapter
        rows = len(batches.tensors[0]) if batches.tensors is not None else 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return self.method_.learned_part(student, teacher, rows)

    def _preflight(self, trainee: _Trainee, batches: RankBatches) -> None:
        """The method's loss on the first batch, before any step (eval mode, no gradients): taps, feature shapes,
        output sizes and settings that do not fit fail here, in one line, before training."""
        batch, key = next(iter(batches.epoch(0)))
        x, y, privileged = to_device(unpack_batch(batch), self.device_)
        training = trainee.training
        with torch.no_grad(), torch.random.fork_rng(devices=[]):  # CRD draws negatives: training's draws stay the same
            self._loss(trainee.eval(), x, y, self._guide(key, x, privileged), [])
        trainee.train(training)

    def _class_log_probs(self, outputs: torch.Tensor) -> torch.Tensor:
        return class_log_probs(outputs.float(), self.classes)

    # --- fit and evaluate -------------------------------------------------------------------------
    def _prepare(self, world: World) -> None:
        self.device_ = resolve_device(self.device)
        if self.mixed_precision and self.device_.type != "cuda":
            raise DistillError(f"mixed precision needs a CUDA device; this fit runs on {self.device_}")
        self.rank_, self.world_size_ = world.rank, world.size
        self.teacher.to(self.device_).eval().requires_grad_(False)
        self.student.to(self.device_)

    def fit(self, train_loader: DataLoader, epochs: int, val_loader: DataLoader | None = None,
            callbacks: Sequence[Callback] = ()) -> dict[str, list[float]]:
        """Train the student for `epochs` epochs (fewer if a callback stops it); returns the history:
        per epoch `epoch`, `loss` (training objective), its named terms (`loss_hard`, `loss_kd`, `loss_nst`...:
        the method's), `lr` and `val_*` (see `evaluate`)."""
        if epochs < 1:
            raise DistillError(f"epochs must be >= 1, got {epochs}")
        if hasattr(train_loader, "__len__") and len(train_loader) == 0:
            raise DistillError("train_loader yields no batches (an empty dataset?); there is nothing to train on")
        world = init_from_env(resolve_device(self.device))
        self._prepare(world)
        batches = RankBatches(train_loader, world, self.seed)
        self._setup_cache(batches)
        first_x = to_device(unpack_batch(next(iter(batches.epoch(0)))[0])[0], self.device_)
        trainee = _Trainee(self.student, self.taps.get("student") if self.method_.uses_features else None,
                           self._build_adapter(first_x))
        try:
            trainee.part = self.part_ = self._build_part(trainee, first_x, batches)
            self._preflight(trainee, batches)
        except DistillError:
            if trainee.tap is not None:
                trainee.tap.close()
            raise
        model = DistributedDataParallel(trainee) if world.size > 1 else trainee
        build = self.optimizer or (lambda parameters: make_adam(parameters, self.lr, self.weight_decay))
        self.optimizer_ = build(trainee.parameters())
        scaler = torch.amp.GradScaler("cuda") if self.mixed_precision else None
        clip = next((c.max_norm for c in callbacks if isinstance(c, GradientClipping)), None)
        for callback in callbacks:
            callback.on_fit_start(self)
        self.history_: dict[str, list[float]] = {}
        steps: list[LossTerms] = []  # this epoch's terms per step, detached; summed once per epoch
        sizes: list[int] = []

        def step(item: tuple[Any, Any]) -> torch.Tensor:
            batch, key = item
            x, y, privileged = to_device(unpack_batch(batch), self.device_)
            sizes.append(len(y))
            return self._loss(model, x, y, self._guide(key, x, privileged), steps)

        def on_epoch_end(epoch: int) -> bool:
            logs = {"epoch": float(epoch + 1), **self._epoch_logs(steps, sizes, world, epoch)}
            steps.clear()
            sizes.clear()
            if val_loader is not None:
                logs.update({f"val_{key}": value for key, value in self.evaluate(val_loader).items()})
            for key, value in logs.items():
                self.history_.setdefault(key, []).append(value)
            return any([callback.on_epoch_end(self, epoch, logs) for callback in callbacks])

        try:
            run_epochs(model, self.optimizer_, batches.epoch, step, epochs=epochs, on_epoch_end=on_epoch_end,
                       scaler=scaler, max_grad_norm=clip)
            for callback in callbacks:
                callback.on_fit_end(self)
        except IndexError as error:  # cross-entropy's "Target 5 is out of bounds."
            if "out of bounds" not in str(error):
                raise
            raise DistillError(f"a label is not a class index 0..C-1 of the outputs: {error}") from None
        finally:
            if trainee.tap is not None:
                trainee.tap.close()
        self.adapter_ = trainee.adapter
        self.student.eval()
        return self.history_

    def _epoch_logs(self, steps: list[LossTerms], sizes: list[int], world: World,
                    epoch: int) -> dict[str, float]:
        """The epoch's objective and its terms, averaged over its rows (over every rank's), and the lr."""
        weights = torch.tensor(sizes, device=self.device_, dtype=torch.float64)
        names = list(steps[0])
        sums = torch.stack([torch.stack([step[name] for step in steps]).double() @ weights for name in names]
                           + [weights.sum()])
        if world.size > 1:
            dist.all_reduce(sums)  # every rank logs the loss over the whole epoch
        if not torch.isfinite(sums[0]):
            losses = torch.stack([step["loss"] for step in steps])
            bad = torch.nonzero(~torch.isfinite(losses)).flatten()
            raise DistillError(f"the training loss is not finite in epoch {epoch + 1}, batch "
                               f"{int(bad[0]) + 1 if len(bad) else '?'}: NaN or inf in the inputs or targets, or "
                               "a learning rate too large")
        means = {name: float(sums[i] / sums[-1]) for i, name in enumerate(names)}
        return {**means, "lr": float(self.optimizer_.param_groups[0]["lr"])}

    def _loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, guide: Guide,
              steps: list[LossTerms]) -> torch.Tensor:
        """The method's objective on a batch; its terms, detached, are appended to `steps` for the history."""
        with autocast(self.device_, self.mixed_precision):
            outputs, features = model(x)
            terms = self.method_.losses(outputs, y, guide, features, self.part_)
            loss = total(terms)
            steps.append({"loss": loss.detach(), **{name: value.detach() for name, value in terms.items()}})
            return loss

    @torch.no_grad()
    def predict(self, loader: DataLoader, model: str = "student") -> torch.Tensor:
        """Outputs of the student (or `model="teacher"`) on every batch of `loader`, on the CPU."""
        network = self.student if model == "student" else self.teacher
        device = resolve_device(self.device) if not hasattr(self, "device_") else self.device_
        network.to(device).eval()
        outputs = []
        for batch in eval_batches(loader):
            x, _, privileged = unpack_batch(batch)
            source = self._teacher_input(x, privileged) if model == "teacher" else x
            outputs.append(network(to_device(source, device)).float().cpu())
        return torch.cat(outputs)

    def evaluate(self, loader: DataLoader, model: str = "student") -> dict[str, float]:
        """Scores against the truth and, for the student, fidelity to the teacher (all on the CPU).

        classification: `loss` (CE of the true class), `accuracy`, `agreement` (same class as the teacher),
        `kl` (KL(teacher || student) of the class distributions). regression: `loss` and `mse`, `mae`,
        `fidelity_mse` (to the teacher's outputs).
        """
        if model not in ("student", "teacher"):
            raise DistillError(f"evaluate model must be 'student' or 'teacher', got {model!r}")
        y = torch.cat([unpack_batch(batch)[1] for batch in eval_batches(loader)])
        outputs = self.predict(loader, model)
        teacher = self.predict(loader, "teacher") if model == "student" else None
        if self.task == "regression":
            mse = float(F.mse_loss(outputs, y.float()))
            scores = {"loss": mse, "mse": mse, "mae": float(F.l1_loss(outputs, y.float()))}
            if teacher is not None:
                scores["fidelity_mse"] = float(F.mse_loss(outputs, teacher))
            return scores
        log_p = self._class_log_probs(outputs)
        scores = {"loss": float(F.nll_loss(log_p, y)), "accuracy": float((log_p.argmax(1) == y).float().mean())}
        if teacher is not None:
            teacher_log_p = self._class_log_probs(teacher)
            scores["agreement"] = float((log_p.argmax(1) == teacher_log_p.argmax(1)).float().mean())
            scores["kl"] = float(F.kl_div(log_p, teacher_log_p, reduction="batchmean", log_target=True))
        return scores
