"""`Distiller`: distil any teacher `nn.Module` into any student with your own DataLoaders.

    distiller = Distiller(teacher, student, method="soft_target", temperature=4, alpha=0.9)
    history = distiller.fit(train_loader, epochs=20, val_loader=val_loader, callbacks=[EarlyStopping()])
    distiller.evaluate(test_loader)   # {"accuracy", "loss", "agreement", "kl", ...} against the truth

The objectives are the method objects of `distill.methods` (the recipes' too), whose named loss terms the
history shows per epoch; the loop is `distill.core.train.run_epochs` (the one the recipes use, with its
resume machinery), feature maps are hooked by module path (`distill.core.features`). The teacher is
frozen in eval mode; its outputs are computed once per row and reused when the loader cannot change a row
between epochs (a `TensorDataset`, or any dataset read in a fixed order; pass `cache_teacher=False` if such
a dataset augments). Under `torchrun` or `launch`, the student trains with DistributedDataParallel.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from distill.core.batches import Batch, RankBatches, check_batch_keys, eval_batches, unpack_batch
from distill.core.callbacks import Callback, Checkpoint, FitCheckpoint, GradientClipping
from distill.core.distributed import World, init_from_env
from distill.core.features import FeatureTap, make_adapter
from distill.core.loggers import Progress
from distill.core.scores import distillation_scores
from distill.core.train import make_adam, run_epochs
from distill.core.trainee import (
    PRECISIONS,
    Forward,
    Selector,
    Trainee,
    check_class_targets,
    epoch_logs,
    labels_checked,
    precision_autocast,
    select_output,
    weighted_losses,
)
from distill.devices import resolve_device, to_device
from distill.errors import DistillError
from distill.losses import LossTerms, total
from distill.methods import EpochMethod, Guide
from distill.methods.for_task import build_method

CACHE_BATCH = 1024


def _cat(values: list[torch.Tensor | None]) -> torch.Tensor | None:
    """The parts concatenated, or None when the guide holds none."""
    present = [value for value in values if value is not None]
    return torch.cat(present) if present else None


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
    `lr`, the recipes' fused kernel). `device`: auto, cpu, cuda, cuda:N, mps. `precision`: "fp32", "bf16"
    (bfloat16 autocast of the forward passes, CPU and CUDA; the losses in float32) or "fp16" (float16 autocast
    with a gradient scaler, CUDA only). `compile=True` runs the student through `torch.compile` (a one-time
    cost of seconds to a minute at the first batches; see docs/library.md); a dict is passed on as its options
    (`{"mode": "max-autotune"}`, `{"backend": "eager"}`). `teacher_output` / `student_output`
    pick the outputs from a model returning a tuple, dict or ModelOutput (`select_output`); `batch_keys` maps
    the fields of dict batches (`distill.core.batches`). `seed` fixes the batch order and the adapter's
    initial weights.
    """

    def __init__(self, teacher: nn.Module, student: nn.Module, method: str = "soft_target", *,
                 temperature: float | None = None, alpha: float | None = None, taps: dict[str, str] | None = None,
                 adapter: bool | None = None, feature_weight: float | None = None, nst_kernel: str = "poly",
                 settings: dict[str, Any] | None = None,
                 classes: int | None = None, subclasses: int = 1, task: str | None = None,
                 optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] | None = None,
                 lr: float = 1e-3, weight_decay: float = 0.0, device: str | torch.device = "auto",
                 precision: str = "fp32", compile: bool | dict[str, Any] = False, teacher_output: Selector = None,
                 student_output: Selector = None, batch_keys: Mapping[str, str] | None = None,
                 cache_teacher: bool | None = None, seed: int = 0) -> None:
        self.task = task or ("regression" if method == "regression" else "classification")
        if self.task not in ("classification", "regression"):
            raise DistillError(f"unknown task {self.task!r}; allowed: classification, regression")
        self.method_ = build_method(method, self.task, classes=classes, subclasses=subclasses, nst_kernel=nst_kernel,
                                    settings=settings, temperature=temperature, alpha=alpha,
                                    feature_weight=feature_weight)
        if self.method_.uses_features and not (taps and {"student", "teacher"} <= set(taps)):
            raise DistillError(f"method {method!r} needs taps={{'student': <module path>, 'teacher': <module path>}}")
        if precision not in PRECISIONS:
            raise DistillError(f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)}")
        self.teacher, self.student, self.method = teacher, student, method
        self.taps, self.adapter, self.classes = taps or {}, adapter, classes
        self.optimizer, self.lr, self.weight_decay = optimizer, lr, weight_decay
        self.device, self.precision, self.compile = device, precision, compile
        self.teacher_output, self.student_output = teacher_output, student_output
        self.batch_keys = check_batch_keys(batch_keys)
        self.cache_teacher, self.seed = cache_teacher, seed

    # --- batches and the teacher ----------------------------------------------------------------------
    def _unpack(self, batch: Any) -> Batch:
        return unpack_batch(batch, self.batch_keys, privileged=self.method_.privileged)

    def _teacher_input(self, x: torch.Tensor, privileged: torch.Tensor | None) -> torch.Tensor:
        if not self.method_.privileged:
            return x
        if privileged is None:
            raise DistillError("method 'generalized' needs batches (x, y, privileged): the teacher reads "
                               "the privileged inputs")
        return privileged

    @torch.no_grad()
    def _teacher_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The teacher's outputs (picked by `teacher_output`) and hooked features on x, in eval mode."""
        if not self.method_.uses_features:
            return select_output(self.teacher(x), self.teacher_output, "teacher"), None
        with FeatureTap(self.teacher, self.taps["teacher"]) as tap:
            outputs = select_output(self.teacher(x), self.teacher_output, "teacher")
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
        batch = self._unpack(tuple(tensors))
        source = self._teacher_input(batch.x, batch.privileged)
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

    def _build_part(self, trainee: Trainee, x: torch.Tensor, batches: RankBatches) -> nn.Module | None:
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

    def _preflight(self, trainee: Trainee, batches: RankBatches) -> None:
        """The method's loss on the first batch, before any step (eval mode, no gradients): taps, feature shapes,
        output sizes and settings that do not fit fail here, in one line, before training."""
        batch, key = next(iter(batches.epoch(0)))
        x, y, privileged, weight = to_device(tuple(self._unpack(batch)), self.device_)
        training = trainee.training
        with labels_checked(), torch.no_grad(), torch.random.fork_rng(devices=[]):  # CRD's negatives stay the same
            self._loss(trainee.eval(), x, y, weight, self._guide(key, x, privileged), [])
        trainee.train(training)

    # --- fit and evaluate -------------------------------------------------------------------------
    def _prepare(self, world: World) -> None:
        self.device_ = resolve_device(self.device)
        if self.precision == "fp16" and self.device_.type != "cuda":
            raise DistillError(f"precision='fp16' (float16 with a gradient scaler) needs a CUDA device; this fit "
                               f"runs on {self.device_}: use precision='bf16' or 'fp32'")
        if self.precision == "bf16" and self.device_.type not in ("cpu", "cuda"):
            raise DistillError(f"precision='bf16' runs on CPU and CUDA; this fit runs on {self.device_}: use 'fp32'")
        self.rank_, self.world_size_ = world.rank, world.size
        self.epoch_method_ = EpochMethod(self.method_)  # the method of the epoch training is in (DKD's warm-up)
        self.teacher.to(self.device_).eval().requires_grad_(False)
        self.student.to(self.device_)

    def fit(self, train_loader: DataLoader, epochs: int, val_loader: DataLoader | None = None,
            callbacks: Sequence[Callback] = (), *, accumulate: int = 1, progress: bool = True,
            resume: str | Path | None = None) -> dict[str, list[float]]:
        """Train the student for `epochs` epochs (fewer if a callback stops it); returns the history:
        per epoch `epoch` (from 1), `loss` (training objective), its named terms (`loss_hard`, `loss_kd`,
        `loss_nst`...: the method's), `lr` and `val_*` (see `evaluate`).

        `accumulate=N` steps the optimiser once every N batches on their averaged gradients (as one batch N
        times larger). `progress` shows a bar over the epochs on a terminal, else one line per epoch on stderr
        (`distill.core.loggers.Progress`); False shows nothing. `resume=path` continues from a file a
        `Checkpoint` callback wrote, with the same numbers as a fit never interrupted (same data, callbacks
        and settings).
        """
        if epochs < 1:
            raise DistillError(f"epochs must be >= 1, got {epochs}")
        if accumulate < 1:
            raise DistillError(f"accumulate must be >= 1 batches, got {accumulate}")
        if hasattr(train_loader, "__len__") and len(train_loader) == 0:
            raise DistillError("train_loader yields no batches (an empty dataset?); there is nothing to train on")
        if resume is not None and not Path(resume).is_file():
            raise DistillError(f"resume: no checkpoint at {resume}; pass a file a Checkpoint callback wrote, "
                               "or resume=None to start")
        given = list(callbacks)  # what a checkpoint saves the state of
        callbacks = [*given, *([Progress(epochs)] if progress else [])]
        saves = [c for c in callbacks if isinstance(c, Checkpoint)]
        if len(saves) > 1:
            raise DistillError(f"{len(saves)} Checkpoint callbacks given; a fit saves its state to one file")
        world = init_from_env(resolve_device(self.device))
        self._prepare(world)
        batches = RankBatches(train_loader, world, self.seed)
        self._setup_cache(batches)
        first = Batch(*to_device(tuple(self._unpack(next(iter(batches.epoch(0)))[0])), self.device_))
        check_class_targets(self.task, self.method, first.y)
        trainee = Trainee(self.student, self.taps.get("student") if self.method_.uses_features else None,
                           self._build_adapter(first.x), self.student_output)
        try:
            trainee.part = self.part_ = self._build_part(trainee, first.x, batches)
            self._preflight(trainee, batches)
        except DistillError:
            if trainee.tap is not None:
                trainee.tap.close()
            raise
        model: Forward = DistributedDataParallel(trainee) if world.size > 1 else trainee
        if self.compile:
            try:
                model = torch.compile(model, **({} if self.compile is True else self.compile))
            except TypeError as error:  # an option torch.compile does not take
                raise DistillError(f"compile={self.compile!r}: {error}") from None
        build = self.optimizer or (lambda parameters: make_adam(parameters, self.lr, self.weight_decay))
        self.optimizer_ = build(trainee.parameters())
        scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        clip = next((c.max_norm for c in callbacks if isinstance(c, GradientClipping)), None)
        self.history_: dict[str, list[float]] = {}
        for callback in callbacks:
            callback.on_fit_start(self)
        steps: list[LossTerms] = []  # this epoch's terms per step, detached; summed once per epoch
        sizes: list[int] = []
        stepping = [c for c in callbacks if type(c).on_step_end is not Callback.on_step_end]
        on_device = batches.tensors is not None and all(t.device == self.device_ for t in batches.tensors)

        def step(item: tuple[Any, Any]) -> torch.Tensor:
            batch, key = item
            fields = self._unpack(batch)  # rows of tensors already on the device need no copy
            x, y, privileged, weight = fields if on_device else Batch(*to_device(tuple(fields), self.device_))
            sizes.append(len(y))
            return self._loss(model, x, y, weight, self._guide(key, x, privileged), steps)

        def on_step() -> None:
            for callback in stepping:
                callback.on_step_end(self)

        def on_epoch_end(index: int) -> bool:
            epoch = index + 1
            logs = {"epoch": float(epoch), **epoch_logs(steps, sizes, world, epoch, self.optimizer_)}
            steps.clear()
            sizes.clear()
            if val_loader is not None:
                logs.update({f"val_{key}": value for key, value in self.evaluate(val_loader).items()})
            for key, value in logs.items():
                self.history_.setdefault(key, []).append(value)
            return any([callback.on_epoch_end(self, epoch, logs) for callback in callbacks])

        def save_extra() -> dict:
            return {"history": self.history_, "scaler": {} if scaler is None else scaler.state_dict(),
                    "callbacks": [[type(c).__name__, c.state_dict()] for c in given]}

        def load_extra(saved: dict) -> None:
            names = [name for name, _ in saved["callbacks"]]
            if names != [type(c).__name__ for c in given]:
                raise DistillError(f"resume: {resume} was written by a fit with callbacks [{', '.join(names)}]; this "
                                   f"fit has [{', '.join(type(c).__name__ for c in given)}]: pass the same ones")
            self.history_ = {key: list(values) for key, values in saved["history"].items()}
            if scaler is not None:
                scaler.load_state_dict(saved["scaler"])
            for callback, (_, state) in zip(given, saved["callbacks"], strict=True):
                callback.load_state_dict(state)

        try:
            with labels_checked():
                run_epochs(trainee, self.optimizer_, batches.epoch, step, epochs=epochs, on_epoch_end=on_epoch_end,
                           scaler=scaler, max_grad_norm=clip, accumulate=accumulate,
                           on_step=on_step if stepping else None, on_epoch_start=self.epoch_method_.start,
                           save_extra=save_extra, load_extra=load_extra,
                           saves=saves[0].unit() if saves else None,
                           resumes=None if resume is None else FitCheckpoint(Path(resume)))
            for callback in callbacks:
                callback.on_fit_end(self)
        finally:
            if trainee.tap is not None:
                trainee.tap.close()
        self.adapter_ = trainee.adapter
        self.student.eval()
        return self.history_

    def _loss(self, model: Forward, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None, guide: Guide,
              steps: list[LossTerms]) -> torch.Tensor:
        """The method's objective on a batch (the forward pass at the fit's precision, the loss in float32); its
        terms, detached, are appended to `steps` for the history. With sample weights, each term is the
        weighted mean of its per-row values."""
        with precision_autocast(self.device_, self.precision):
            outputs, features = model(x)
        outputs, features = outputs.float(), None if features is None else features.float()
        if weight is None:
            terms = self.epoch_method_.current.losses(outputs, y, guide, features, self.part_)
        else:
            terms = weighted_losses(self.epoch_method_.current, outputs, y, weight, guide, features, self.part_)
        loss = total(terms)
        steps.append({"loss": loss.detach(), **{name: value.detach() for name, value in terms.items()}})
        return loss

    @torch.no_grad()
    def predict(self, loader: DataLoader, model: str = "student") -> torch.Tensor:
        """Outputs of the student (or `model="teacher"`) on every batch of `loader`, on the CPU."""
        network = self.student if model == "student" else self.teacher
        selector = self.student_output if model == "student" else self.teacher_output
        device = resolve_device(self.device) if not hasattr(self, "device_") else self.device_
        network.to(device).eval()
        outputs = []
        for batch in eval_batches(loader):
            x, _, privileged, _ = self._unpack(batch)
            source = self._teacher_input(x, privileged) if model == "teacher" else x
            outputs.append(select_output(network(to_device(source, device)), selector, model).float().cpu())
        return torch.cat(outputs)

    def evaluate(self, loader: DataLoader, model: str = "student") -> dict[str, float]:
        """Scores against the truth and, for the student, fidelity to the teacher (all on the CPU).

        classification: `loss` (CE of the true class), `accuracy`, `agreement` (same class as the teacher),
        `kl` (KL(teacher || student) of the class distributions). regression: `loss` and `mse`, `mae`,
        `fidelity_mse` (to the teacher's outputs). Sample weights are not applied here.
        """
        if model not in ("student", "teacher"):
            raise DistillError(f"evaluate model must be 'student' or 'teacher', got {model!r}")
        y = torch.cat([self._unpack(batch).y for batch in eval_batches(loader)])
        outputs = self.predict(loader, model)
        teacher = self.predict(loader, "teacher") if model == "student" else None
        return distillation_scores(self.task, outputs, y, teacher, self.classes)
