"""The cross-validated protocol shared by every recipe: folds -> teacher -> students -> evaluation.

Per fold: fit the teacher on the training part; compute its outputs once; fit every student with its
own mix of truth and teacher; score every model (and the trivial baselines) against the TRUTH of the
test part; record per-epoch curves. Then summarise over folds (mean +- SEM) and compare students
pairwise on the same folds. What the data is (windows, images, tables) and what the task is
(regression, classification) come in as `FoldData` and a `Task`. Where the task and architecture
allow, each role's K fold models are trained at once as one stacked model (faster; the same training,
but not bit-equal numbers: see `distill.core.fold_parallel`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import nn
from tqdm.auto import tqdm

from distill.config import BlendMember, DistilledSpec, ModelSpec, StudentSpec, TeacherSpec, TrainSection
from distill.core.fold_fits import build, can_fit_stacked, fit_model, fit_stacked_models, input_shape, restored, seed_for
from distill.core.profiling import profile_models
from distill.core.shrinkage import check_before_training, shrink_spec, shrink_teacher
from distill.core.stats import paired_comparison, summarize
from distill.core.task import FoldData, Task
from distill.core.train import predict
from distill.core.workers import run_jobs, student_groups
from distill.devices import resolve_device
from distill.errors import DistillError
from distill.losses import TermLog
from distill.models import build_model
from distill.models.ensemble import Ensemble

ENSEMBLE_SEED_STEP = 50_000  # an ensemble copy's seeds: the first copy's plus this times its number
BaselineFactory = Callable[[FoldData], nn.Module]


@dataclass
class ModelOutcome:
    """One model on one fold: scores, curves and test-set outputs (for figures)."""

    train: dict[str, float]
    test: dict[str, float]
    curves: dict[str, list[float]]
    test_outputs: torch.Tensor
    fidelity: dict[str, float] = field(default_factory=dict)
    train_outputs: torch.Tensor | None = None


@dataclass
class ProtocolResult:
    """Scores, profiles and, per fold, the trained models by name (each fold's own teacher)."""

    folds: list[FoldData]
    outcomes: dict[str, list[ModelOutcome]]
    profiles: dict[str, dict]
    teacher_folds: list[int]
    models: list[dict[str, nn.Module]] = field(default_factory=list)
    teacher_specs: list[ModelSpec] = field(default_factory=list)  # per fold: what its teacher was built from
    teacher_shrinkage: list[dict] = field(default_factory=list)  # per fold, with teacher.shrink: its weight, penalty

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """The input shape of one example, per trained model."""
        return {name: input_shape(self.folds[0], name) for name in self.models[0]}


def _score(model: nn.Module, fold: FoldData, task: Task, curves: dict, role: str) -> ModelOutcome:
    x_train, x_test = fold.inputs(role)
    train_out, test_out = predict(model, x_train), predict(model, x_test)
    return ModelOutcome(train=task.metrics(train_out, fold.y_train, fold),
                        test=task.metrics(test_out, fold.y_test, fold), curves=curves, test_outputs=test_out,
                        train_outputs=train_out)


def _select_teachers(outcomes: list[ModelOutcome], select: str) -> list[int]:
    """Which fold's teacher labels each fold: its own, or (seed protocol) the one best fold's for all."""
    if select == "per_fold":
        return list(range(len(outcomes)))
    scores = [(o.curves["train"][-1] + o.curves["test"][-1]) / 2 for o in outcomes]
    best = min(range(len(scores)), key=scores.__getitem__)
    return [best] * len(outcomes)


def _check_chain(students: Mapping[str, DistilledSpec]) -> None:
    """Each student's `teacher` must be the teacher or a student trained before it."""
    known = ["teacher"]
    for name, spec in students.items():
        if spec.teacher not in known:
            raise DistillError(f"student {name!r} learns from {spec.teacher!r}, which is not the teacher or an "
                               f"earlier student; allowed: {', '.join(known)}")
        known.append(name)


def _train_teachers(folds: list[FoldData], task: Task, spec: ModelSpec, train: TrainSection, seed: int,
                    bar: tqdm, member: int = 0, unit: str = "teacher") -> tuple[list[nn.Module], list[dict]]:
    """One teacher of `spec` per fold, fold-parallel where possible: the models and their curves. `member`
    numbers an ensemble's copies, each with its own seeds; `unit` names the loops for resuming (a candidate's)."""
    seeds = [seed_for(seed, fold.index, 0) + ENSEMBLE_SEED_STEP * member for fold in folds]
    teachers = [build(spec, fold, task, s, role="teacher") for fold, s in zip(folds, seeds)]
    if can_fit_stacked(task, teachers, folds, train):
        bar.set_description(f"{len(folds)} folds at once: teacher")
        return teachers, fit_stacked_models(teachers, folds, "teacher", spec, task, None, train, seeds, bar,
                                      unit=(unit, "stack", member))
    curves = []
    for fold, model, fold_seed in zip(folds, teachers, seeds):
        bar.set_description(f"fold {fold.index + 1}/{len(folds)} teacher ({spec.model})")
        task.prepare(model, spec, fold, train, fold_seed, None)
        x_train = fold.inputs("teacher")[0]
        loss = lambda rows, m=model, f=fold, x=x_train: task.teacher_loss(m, x[rows], f.y_train[rows], spec)
        curves.append(fit_model(model, loss, fold, task, spec, train, fold_seed, bar, role="teacher",
                                 unit=(unit, fold.index, member)))
    return teachers, curves


def _packed_models(result: tuple[list[nn.Module], list[dict]]) -> dict:
    """Trained fold models and their curves as plain data, for a worker process to send back."""
    models, curves = result
    return {"states": [model.state_dict() for model in models], "curves": curves}


def _train_ensembles(folds: list[FoldData], task: Task, spec: ModelSpec, size: int, train: TrainSection, seed: int,
                     bar: tqdm, unit: str = "teacher",
                     blend: list[BlendMember] | None = None) -> tuple[list[nn.Module], list[dict], ModelSpec]:
    """`size` teachers of `spec` per fold, and each `blend` family's copies, averaged into an `Ensemble` (one
    teacher when there is one copy in all); the models, their curves (the first copy's, with the ensemble's own
    inner-validation score) and the spec they rebuild from. Copies are numbered on (seeds, resume units) across
    the families."""
    families = [spec] * size + [member for member in blend or [] for _ in range(member.copies)]
    jobs = [partial(_train_teachers, folds, task, family, train, seed, member=number, unit=unit)
            for number, family in enumerate(families)]

    def rebuilt(number: int, packed: dict) -> tuple[list[nn.Module], list[dict]]:
        return [restored(partial(build, families[number], fold, task, 0, role="teacher"), state, fold.y_train.device)
                for fold, state in zip(folds, packed["states"])], packed["curves"]

    copies = run_jobs(jobs, train.workers, bar, pack=_packed_models, unpack=rebuilt, device=folds[0].y_train.device)
    if len(families) == 1:
        return *copies[0], spec
    options = {"member": spec.model, "member_options": dict(spec.options), "size": size,
               **({"blend": [{"model": m.model, "options": dict(m.options), "copies": m.copies} for m in blend]}
                  if blend else {})}
    built = ModelSpec(model="ensemble", options=options, lr=spec.lr, weight_decay=spec.weight_decay, epochs=None)
    models: list[nn.Module] = []
    curves = []
    for k, fold in enumerate(folds):
        ensemble = Ensemble.of([copy[0][k] for copy in copies], **options)
        fold_curves = {**copies[0][1][k], "members": [copy[1][k].get("best_epoch") for copy in copies]}
        x_val = fold.val_inputs("teacher")
        if x_val is not None and fold.y_val is not None:
            outputs = predict(ensemble, x_val)
            fold_curves["best_val"] = task.metrics(outputs, fold.y_val, fold)[task.curve_metric]
        models.append(ensemble)
        curves.append(fold_curves)
    return models, curves, built


def _fit_teachers(folds: list[FoldData], task: Task, spec: TeacherSpec, train: TrainSection, seed: int,
                  bar: tqdm, outcomes: list[ModelOutcome], shrinkage: list[dict],
                  scope: str = "") -> tuple[list[nn.Module], list[ModelSpec]]:
    """One teacher per fold (appending each fold's outcome, and its shrinkage with `spec.shrink`) and the spec
    each fold's teacher was built from.

    With `spec.candidates`, every candidate is trained on every fold and each fold keeps the candidate with
    the lowest error on its own inner validation windows: the choice never sees a test window.
    """
    if not spec.candidates:
        teachers, curves, built = _train_ensembles(folds, task, spec, spec.ensemble, train, seed, bar,
                                                   f"{scope}teacher", spec.blend)
        specs = [built] * len(folds)
    else:
        if folds[0].x_val is None:
            raise DistillError("teacher.candidates are compared on inner validation windows; this protocol "
                               "has none (set cv.inner_validation > 0)")
        tried = [_train_ensembles(folds, task, candidate, spec.ensemble, train, seed, bar,
                                  f"{scope}teacher-candidate{c}")
                 for c, candidate in enumerate(spec.candidates)]
        picks = [min(range(len(tried)), key=lambda c: tried[c][1][k]["best_val"]) for k in range(len(folds))]
        teachers = [tried[c][0][k] for k, c in enumerate(picks)]
        curves = [{**tried[c][1][k], "candidate": c} for k, c in enumerate(picks)]
        specs = [tried[c][2] for c in picks]
    if spec.shrink == "ridge":
        shrunk = [shrink_teacher(model, built, fold) for model, built, fold in zip(teachers, specs, folds)]
        teachers, specs = [model for model, _ in shrunk], [shrink_spec(built) for built in specs]
        shrinkage.extend(record.describe() for _, record in shrunk)
    outcomes.extend(_score(model, fold, task, c, role="teacher") for model, fold, c in zip(teachers, folds, curves))
    return teachers, specs


@dataclass
class StudentFit:
    """One student's fold models and outcomes, and what rebuilds its models (per fold: the input shape)."""

    outcomes: list[ModelOutcome]
    models: list[nn.Module]
    input_shapes: list[tuple[int, ...]]
    output_dim: int


def _fit_students(folds: list[FoldData], task: Task, name: str, spec: DistilledSpec, role: int,
                  trained: list[dict[str, nn.Module]], train: TrainSection, seed: int,
                  bar: tqdm, scope: str = "") -> StudentFit:
    """One student per fold, taught by `spec.teacher` of the same fold; fold-parallel where possible."""
    seeds = [seed_for(seed, fold.index, role) for fold in folds]
    guide_models = [fold_models[spec.teacher] for fold_models in trained]
    folds = [task.student_fold(fold, spec, model, s) for fold, model, s in zip(folds, guide_models, seeds)]
    rows = [task.transfer_rows(fold, spec) for fold in folds]
    guides = [task.guide(model, fold.inputs(spec.teacher)[0][r], spec)  # computed once per fold
              for model, fold, r in zip(guide_models, folds, rows)]
    models = [build(spec, fold, task, s) for fold, s in zip(folds, seeds)]
    if can_fit_stacked(task, models, folds, train):
        bar.set_description(f"{len(folds)} folds at once: {name}")
        curves = fit_stacked_models(models, folds, name, spec, task, guides, train, seeds, bar,
                                    unit=(scope + name, "stack", 0))
    else:
        curves = []
        for fold, model, fold_seed, guide, r in zip(folds, models, seeds, guides, rows):
            bar.set_description(f"fold {fold.index + 1}/{len(folds)} {name}")
            task.prepare(model, spec, fold, train, fold_seed, guide)
            log = TermLog()
            loss = (lambda batch, m=model, f=fold, g=guide, r=r, log=log:
                    log.record(task.student_loss(m, f.x_train[r[batch]], f.y_train[r[batch]], g.rows(batch), spec)))
            curves.append(fit_model(model, loss, fold, task, spec, train, fold_seed, bar, role=name,
                                    unit=(scope + name, fold.index, 0), n_train=len(r), terms=log))
    outcomes = []
    for fold, model, guide_model, fold_curves in zip(folds, models, guide_models, curves):
        outcome = _score(model, fold, task, fold_curves, role=name)
        outcome.fidelity = task.fidelity(outcome.test_outputs, predict(guide_model, fold.inputs(spec.teacher)[1]))
        outcomes.append(outcome)
    return StudentFit(outcomes, models, [input_shape(fold, "student") for fold in folds],
                      task.output_dim(spec, folds[0]))


def _fit_student_groups(folds: list[FoldData], task: Task, students: Mapping[str, DistilledSpec],
                        trained: list[dict[str, nn.Module]], train: TrainSection, seed: int, bar: tqdm,
                        scope: str, outcomes: dict[str, list[ModelOutcome]]) -> None:
    """Every student, those of one group on `train.workers` processes (a task that changes a model before
    fitting it trains them one after another); each fold's models join `trained` by name."""
    roles = {name: role for role, name in enumerate(students, start=1)}
    workers = 1 if task.prepares_models else train.workers
    for group in student_groups(students):
        def rebuilt(index: int, packed: dict, group: list[str] = group) -> StudentFit:
            spec = students[group[index]]
            models = [restored(partial(build_model, spec.model, tuple(shape), packed["output_dim"], **spec.options),
                               state, folds[0].y_train.device)
                      for shape, state in zip(packed["input_shapes"], packed["states"])]
            return StudentFit([ModelOutcome(**outcome) for outcome in packed["outcomes"]], models,
                              packed["input_shapes"], packed["output_dim"])

        jobs = [partial(_fit_students, folds, task, name, students[name], roles[name], trained, train, seed,
                        scope=scope) for name in group]
        fits = run_jobs(jobs, workers, bar, pack=_packed_student, unpack=rebuilt, device=folds[0].y_train.device)
        for name, student in zip(group, fits):
            outcomes[name] = student.outcomes
            for fold_models, model in zip(trained, student.models):
                fold_models[name] = model


def _packed_student(student: StudentFit) -> dict:
    """A student's fit as plain data, for a worker process to send back."""
    return {"outcomes": [vars(outcome) for outcome in student.outcomes],
            "states": [model.state_dict() for model in student.models],
            "input_shapes": [list(shape) for shape in student.input_shapes], "output_dim": student.output_dim}


def run_protocol(folds: list[FoldData], task: Task, teacher: TeacherSpec, students: Mapping[str, StudentSpec],
                 train: TrainSection, seed: int, baselines: dict[str, BaselineFactory],
                 latency_repeats: int = 30, show_progress: bool | None = None, scope: str = "") -> ProtocolResult:
    """Run teacher, students and baselines on every fold; see the module docstring.

    Students are trained in the order given; a student whose `teacher` names an earlier student
    learns from that one (teacher-assistant chains). `scope` names this call's training loops for resuming
    (`distill.core.resume`) when one run calls the protocol several times (the privileged protocol's cells).
    """
    _check_chain(students)
    check_before_training(teacher.shrink, task.name, folds)
    if train.threads is not None:
        torch.set_num_threads(train.threads)
    device = resolve_device(train.device)
    on_cpu, folds = folds, [fold.to(device) for fold in folds]  # training and scoring run on the device
    teacher_runs = ([*teacher.candidates] or [teacher]) * teacher.ensemble + [m for m in teacher.blend
                                                                           for _ in range(m.copies)]
    total = len(folds) * sum(spec.epochs or train.epochs for spec in (*teacher_runs, *students.values()))
    outcomes: dict[str, list[ModelOutcome]] = {"teacher": [], **{name: [] for name in students}}
    shrinkage: list[dict] = []
    with tqdm(total=total, desc="teacher", unit="epoch", leave=False,
              disable=None if show_progress is None else not show_progress) as bar:
        teachers, teacher_specs = _fit_teachers(folds, task, teacher, train, seed, bar, outcomes["teacher"],
                                                shrinkage, scope)
        chosen = _select_teachers(outcomes["teacher"], teacher.select)
        trained = [{"teacher": teachers[source]} for source in chosen]  # per fold: models by name
        _fit_student_groups(folds, task, students, trained, train, seed, bar, scope, outcomes)
    for name, factory in baselines.items():
        outcomes[name] = []
        for fold in folds:
            outcomes[name].append(_score(factory(fold).to(device), fold, task, {"train": [], "test": []}, role=name))
    example = folds[0]
    most_chosen = max(teacher_specs, key=teacher_specs.count)
    architectures = {"teacher": build(most_chosen, example, task, 0, role="teacher"),
                     **{name: build(spec, example, task, 0) for name, spec in students.items()},
                     **{name: factory(example) for name, factory in baselines.items()}}
    profiles = profile_models({name: (model, input_shape(example, name)) for name, model in architectures.items()},
                              latency_repeats, device)  # timed together, in interleaved rounds
    models = [{name: model.cpu() for name, model in {**fold_models, "teacher": own}.items()}
              for fold_models, own in zip(trained, teachers)]
    for runs in outcomes.values():
        for run in runs:
            run.test_outputs = run.test_outputs.cpu()
            run.train_outputs = None if run.train_outputs is None else run.train_outputs.cpu()
    return ProtocolResult(folds=on_cpu, outcomes=outcomes, profiles=profiles, teacher_folds=chosen, models=models,
                          teacher_specs=teacher_specs, teacher_shrinkage=shrinkage)


def summarize_protocol(result: ProtocolResult, comparisons: list[tuple[str, str]], metric: str) -> dict:
    """The `models` and `comparison` parts of results.json."""
    models = {}
    for name, runs in result.outcomes.items():
        entry = dict(result.profiles[name])
        for part in ("train", "test"):
            keys = getattr(runs[0], part).keys()
            entry[part] = {key: summarize([getattr(run, part)[key] for run in runs]) for key in keys}
        if runs[0].fidelity:
            entry["fidelity_to_teacher"] = {key: summarize([run.fidelity[key] for run in runs])
                                            for key in runs[0].fidelity}
        models[name] = entry
    comparison = {}
    for a, b in comparisons:
        if a in result.outcomes and b in result.outcomes:
            comparison[f"{a}_vs_{b}"] = paired_comparison(
                [run.test[metric] for run in result.outcomes[a]],
                [run.test[metric] for run in result.outcomes[b]], a, b, metric)
    return {"models": models, "comparison": comparison}
