"""Typed experiment configs: plain YAML in, validated once at the edge, saved next to every result.

A config names its `protocol`; each protocol has its own schema (see `distill.protocols`). `--set key=value` overrides are
applied to the raw YAML before validation, so an unknown key or a bad value fails with one line that
names the key, the value and what is allowed.
"""
from __future__ import annotations

import difflib
import json
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from distill.errors import DistillError
from distill.methods import RENAMED, default
from distill.model_options import check_model_option

Alpha = Annotated[float, Field(ge=0, le=1, description="weight of the teacher term, in [0, 1]: (1 - alpha) truth "
                                                      "+ alpha teacher (Lopez-Paz et al.'s imitation weight lambda)")]
Temperature = Annotated[float, Field(gt=0, description="softmax temperature T > 0")]


MAX_BATCH = 2**31 - 1  # larger than any training set here (a batch >= the rows trains full batch); torch's limit
MAX_CONFIG_BYTES = 1 << 20  # a recipe is a few kB; a larger "YAML" file is refused before it is read
MAX_SEED = 2**32 - 1  # scikit-learn's and numpy's RandomState limit
MAX_EPOCHS = 1_000_000  # far beyond any recipe; 1e23 epochs is a typo, not a plan
MAX_CONFIG_NODES = 100_000  # values after expanding YAML aliases; a recipe has a few hundred (billion laughs: 10^9)


def _accepts_bool(annotation: object) -> bool:
    """Whether a field's type admits true/false itself (bool, Any, or a union holding one of them)."""
    if annotation is bool or annotation is Any:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, Annotated):
        return any(_accepts_bool(arg) for arg in typing.get_args(annotation))
    return typing.get_origin(annotation) is not None and not _is_number(annotation)


def _is_number(annotation: object) -> bool:
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, Annotated):
        return any(_is_number(arg) for arg in typing.get_args(annotation))
    return False


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # every float is finite (no .inf, no .nan)

    @field_validator("*", mode="before")
    @classmethod
    def _no_true_false_for_numbers(cls, value: object, info: ValidationInfo) -> object:
        """`epochs: true` is not 1: a number field refuses YAML's true/false (pydantic would read them as 1/0)."""
        annotation = cls.model_fields[info.field_name].annotation
        if isinstance(value, bool) and _is_number(annotation) and not _accepts_bool(annotation):
            raise ValueError("a number is expected, not true/false")
        return value


class RecipeConfig(Section):
    """What every protocol's config starts with: the protocol it names (each schema narrows it to its own name),
    the recipe's name and description, and the one seed."""

    protocol: str
    name: str
    description: str = ""
    seed: int = Field(0, ge=0, le=MAX_SEED)


class ModelSpec(Section):
    """A model family from `distill.models.MODELS`, its constructor options, and its learning rate."""

    model: str
    options: dict[str, Any] = Field(default_factory=dict)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    epochs: int | None = Field(None, ge=1, le=MAX_EPOCHS, description="this model's epochs; default train.epochs")

    @model_validator(mode="after")
    def _options_in_range(self) -> ModelSpec:
        if ":" in self.model:  # a user's own factory (package.module:Factory) defines its own options
            return self
        for option, value in self.options.items():
            check_model_option(self.model, option, value)
        return self


class BlendMember(ModelSpec):
    """Another family averaged into the teacher: `copies` of it, each from its own seeds."""

    copies: int = Field(1, ge=1, description="how many copies of this family the teacher averages")


class TeacherSpec(ModelSpec):
    """The teacher. With `candidates` (and inner validation windows), each fold trains every candidate and keeps
    the one with the lowest inner-validation error; the top-level model/options/lr are then not used. With
    `ensemble` K > 1, the teacher (or every candidate) is K copies trained from other seeds, averaged. With
    `blend`, the copies of each listed family join the average (equal weight per copy)."""

    select: Literal["per_fold", "best"] = "per_fold"
    candidates: list[ModelSpec] = Field(default_factory=list)
    ensemble: int = Field(1, ge=1, description="train this many copies (other seeds) and average them")
    blend: list[BlendMember] = Field(default_factory=list, description="other families averaged into the teacher, "
                                     "each {model, options, lr, weight_decay, epochs, copies}: an equal-weight "
                                     "forecast combination of every copy (the `ensemble` model)")
    shrink: Literal["none", "ridge"] = Field("none", description="ridge: per fold, mix the trained teacher with ridge "
                                             "regression on its inputs, the weight chosen on inner validation "
                                             "(distill.core.shrinkage; point-forecasting teachers)")

    @model_validator(mode="after")
    def _blend_alone(self) -> TeacherSpec:
        if self.blend and self.candidates:
            raise ValueError("teacher.blend and teacher.candidates do not combine: blend averages families, "
                             "candidates choose one")
        return self


class DistilledSpec(ModelSpec):
    """A student: learns from `teacher` ("teacher", or an earlier student for assistant chains)."""

    teacher: str = "teacher"


class StudentSpec(DistilledSpec):
    """A regression student: the `regression` method's mix of the truth and the teacher (`distill.methods`)."""

    alpha: Alpha = Field(default("regression", "alpha"))


class TrainSection(Section):
    epochs: int = Field(100, ge=1, le=MAX_EPOCHS)
    batch_size: int = Field(32, ge=1, le=MAX_BATCH)
    threads: int | None = Field(1, ge=1, description="torch intra-op threads; null: torch's own (one per core). "
                                "The models are small, so one thread is as fast alone and does not collapse "
                                "when other work shares the cores (benchmarks/bench_threads.py)")
    fold_parallel: bool = Field(True, description="train all folds' models at once where the task allows")
    workers: int = Field(1, ge=1, le=64, description="processes that train an ensemble's copies, and students "
                         "that learn from models already trained, at once; each child at one torch thread (the "
                         "same numbers as one process; distill.core.workers)")
    curve_every: int = Field(1, ge=1, description="score the learning curves every N epochs (and the last)")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$",
                        description="auto (a CUDA GPU, else MPS, else the CPU), cpu, cuda, cuda:N or mps")
    patience: int | None = Field(None, ge=1, description="with inner validation windows: stop after this many "
                                 "epochs without improvement (the best epoch's weights are kept in any case)")
    log: Literal["none", "csv", "tensorboard"] = Field("none", description="per-epoch training loss of every "
                                                       "training loop, into the run folder's logs/: train.csv, or "
                                                       "TensorBoard files (needs the tensorboard extra)")


class CVSection(Section):
    folds: int = Field(5, ge=2)
    split: Literal["blocked", "rolling", "shuffled"] = "blocked"
    random_state: int = Field(22, ge=0, le=MAX_SEED)


RECIPES = resources.files("distill") / "recipes"


def recipe_names() -> list[str]:
    """Built-in recipe names (the YAML files shipped in `distill/recipes`)."""
    return sorted(p.name[:-5] for p in RECIPES.iterdir() if p.name.endswith(".yaml"))


RECIPE_TIMES = "times.json"  # in `RECIPES`: measured by benchmarks/bench_recipe_times.py, never typed


def recipe_time(name: str) -> dict | None:
    """The measured wall time of a built-in recipe at its full settings (seconds, cores, load average, date), or
    None if benchmarks/bench_recipe_times.py has not measured it."""
    path = RECIPES / RECIPE_TIMES
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get(name)


def expected_seconds(entry: dict) -> float:
    """What a recipe should take on an idle machine of the measured one's cores: its wall time, or, when other
    work kept more than every core busy as it started, its CPU time (the recipes train on one thread, so on an
    idle machine the wall time is about the CPU time; under load the wall time measures the other work)."""
    return entry["seconds"] if entry["load_average"] < entry["cores"] else entry["cpu_seconds"]


def recipe_time_text(entry: dict | None, short: bool = False) -> str:
    """'~4 min' (short), or '~4 min (250 s wall time, 240 s CPU, on 2 cores with load average 1.2 ...)'."""
    if entry is None:
        return "time ?" if short else ("not measured yet (python benchmarks/bench_recipe_times.py NAME measures it "
                                        "and records it here)")
    seconds = expected_seconds(entry)
    rounded = f"~{seconds:.0f} s" if seconds < 90 else f"~{seconds / 60:.0f} min" if seconds < 5400 else \
        f"~{seconds / 3600:.1f} h"
    if short:
        return rounded
    basis = ("the wall time" if seconds == entry["seconds"] else "the CPU time: other work kept every core busy, "
             "so the wall time measured that work too")
    return (f"{rounded} ({entry['seconds']:.0f} s wall time, {entry['cpu_seconds']:.0f} s CPU, on {entry['cores']} "
            f"cores with load average {entry['load_average']:.1f} from other work when it started, measured "
            f"{entry['measured']}; the estimate is {basis})")


def read_recipe(name_or_path: str) -> dict:
    """Raw YAML of a built-in recipe name or a path to a YAML file."""
    if name_or_path.endswith((".yaml", ".yml")):
        path = Path(name_or_path)
        if not path.is_file():
            raise DistillError(f"config file not found: {path}")
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise DistillError(f"config file {path} is {path.stat().st_size:,} bytes; a recipe is at most "
                               f"{MAX_CONFIG_BYTES:,}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise DistillError(f"config file {path} is not UTF-8 text (byte {error.start}: "
                               f"{error.object[error.start:error.start + 1]!r})") from None
    elif name_or_path in recipe_names():
        text = (RECIPES / f"{name_or_path}.yaml").read_text()
    else:
        raise DistillError(f"unknown recipe {name_or_path!r}; built-in: {', '.join(recipe_names())}")
    try:
        raw = load_yaml(text, name_or_path)
    except yaml.YAMLError as error:
        raise DistillError(f"{name_or_path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise DistillError(f"{name_or_path} must hold a YAML mapping at the top level")
    return raw


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int], where: str) -> int:
    """How many values `node` stands for once every alias is expanded (shared nodes counted once each use)."""
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in open_nodes:
        raise DistillError(f"{where}: a YAML alias refers to itself (a recursive value); refused")
    open_nodes.add(id(node))
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, sizes, open_nodes, where) for item in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(key, sizes, open_nodes, where) + _expanded_size(value, sizes, open_nodes, where)
                    for key, value in node.value)
    open_nodes.discard(id(node))
    sizes[id(node)] = min(size, MAX_CONFIG_NODES + 1)  # capped: no huge integers either
    return sizes[id(node)]


def load_yaml(text: str, where: str) -> Any:
    """`yaml.safe_load` with a bound: a document whose aliases expand to more than `MAX_CONFIG_NODES` values
    (an alias bomb, "billion laughs") or refer to themselves is refused before it is built."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}, set(), where) > MAX_CONFIG_NODES:
            raise DistillError(f"{where}: its YAML aliases expand to more than {MAX_CONFIG_NODES:,} values (an alias "
                               "bomb?); refused")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def apply_override(raw: dict, assignment: str) -> None:
    """Apply one `dotted.key=value` (value parsed as YAML) to the raw config, in place."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise DistillError(f"--set expects key=value, got {assignment!r}")
    try:
        value = load_yaml(text, f"--set {key}") if text else None
    except yaml.YAMLError:
        value = text
    node = raw
    *parents, leaf = key.split(".")
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise DistillError(f"unknown config key {key!r}: {part!r} is not a section")
        node = child
    node[leaf] = value


FREE_NAME = "*"  # stands for a user's own name or a list index in a dotted key (students.*.alpha)


def _sections_in(annotation: object) -> tuple[type[Section] | None, bool]:
    """The Section a field holds (directly, optional, as the values of a dict keyed by the user's names, or as the
    items of a list) and whether it is such a dict or list (the next part of a key is a name or an index)."""
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return annotation, False
    arguments = typing.get_args(annotation)
    if typing.get_origin(annotation) in (dict, list) and arguments:
        inner, _ = _sections_in(arguments[-1])
        return inner, inner is not None
    for argument in arguments:
        inner, keyed = _sections_in(argument)
        if inner is not None:
            return inner, keyed
    return None, False


def schema_keys(schema: type[Section], prefix: str = "") -> list[str]:
    """Every dotted key a schema accepts, a user's own names (students, sweep cells) written `FREE_NAME`."""
    keys = []
    for name, field in schema.model_fields.items():
        key = f"{prefix}{name}"
        keys.append(key)
        inner, keyed = _sections_in(field.annotation)
        if inner is not None:
            keys += schema_keys(inner, f"{key}.{FREE_NAME}." if keyed else f"{key}.")
    return keys


def _generic(loc: tuple, schema: type[Section]) -> list[str]:
    """The error's location with the user's own names replaced by `FREE_NAME` (as in `schema_keys`)."""
    parts, current = [], schema
    index = 0
    while index < len(loc):
        part = str(loc[index])
        parts.append(part)
        field = current.model_fields.get(part) if current is not None else None
        inner, keyed = _sections_in(field.annotation) if field is not None else (None, False)
        if keyed and index + 1 < len(loc):
            parts.append(FREE_NAME)
            index += 1
        current = inner
        index += 1
    return parts


def did_you_mean(loc: tuple, schema: type[Section]) -> str | None:
    """The accepted key closest to an unknown one: the closest by difflib (`train.epoch` -> `train.epochs`), else
    one with the same last part elsewhere (`epochs` -> `train.epochs`); None when nothing is close."""
    generic = _generic(loc, schema)
    key, keys = ".".join(generic), schema_keys(schema)
    leaf = generic[-1]
    same_leaf = [other for other in keys if other.rsplit(".", 1)[-1] == leaf and other != key]
    close = difflib.get_close_matches(key, [other for other in keys if other != key], n=1, cutoff=0.8) or same_leaf[:1]
    if not close:
        return None
    names = iter(str(part) for part, template in zip(loc, generic) if template == FREE_NAME)
    return ".".join(next(names, "NAME") if part == FREE_NAME else part for part in close[0].split("."))


def _renamed(error: ValidationError) -> str | None:
    """The one line for a key of the old vocabulary (`distill.methods.RENAMED`), naming the new key."""
    for item in error.errors():
        if item["type"] != "extra_forbidden":
            continue
        path = [str(part) for part in item["loc"]]
        for old, new in RENAMED.items():
            suffix = old.split(".")
            if path[-len(suffix):] == suffix:
                new_key = ".".join([*path[:-len(suffix)], new])
                return f"config key {'.'.join(path)!r} is now {new_key!r} (one name: alpha weights the teacher's " \
                       "outputs, feature_weight a feature term)"
    return None


def _describe(error: ValidationError, schema: type[Section] | None = None) -> str:
    renamed = _renamed(error)
    if renamed is not None:
        return renamed
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        suggestion = did_you_mean(first["loc"], schema) if schema is not None else None
        return f"unknown config key {key!r}" + (f"; did you mean {suggestion!r}?" if suggestion else "")
    if first["type"] == "missing":
        return f"config key {key!r} is required"
    return f"bad value for {key}: {first['input']!r} ({first['msg']})"


def validate_config(raw: dict, schema: type[Section]) -> Section:
    """Validate raw YAML against a schema; errors become one DistillError line."""
    try:
        config = schema.model_validate(raw)
    except ValidationError as error:
        raise DistillError(_describe(error, schema)) from None
    if getattr(config, "students", None) == {} and getattr(config, "sweep", None) is None:
        raise DistillError("students is empty: a distillation run needs at least one student to distil into")
    return config


def config_to_yaml(config: Section) -> str:
    """The resolved config as YAML, for saving beside results."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


class LambdaTemperatureGrid(Section):
    """An alpha (lambda) x temperature sweep of distilled students (a heat map in the report)."""

    alpha: list[Alpha] = Field(min_length=1)
    temperature: list[Temperature] = Field(min_length=1)
