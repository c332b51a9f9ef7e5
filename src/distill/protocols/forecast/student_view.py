"""The compact student's view needs to know where the target is among the features: fill it in from the data.

`compact_mlp` (distill.models.compact) reads the target's last days at option `target_index`; the column
order comes from the data, so a recipe leaves the option out and the run sets it here for every model that
reads a compact view (students, the teacher and the families blended into it), before anything is built (the
checkpoints then carry it with the other options).
"""
from __future__ import annotations

from distill.protocols.forecast.config import ForecastConfig

COMPACT = "compact_mlp"


def with_target_index(config: ForecastConfig, target_index: int) -> ForecastConfig:
    """The config with `target_index` set on every compact_mlp spec that does not give it."""
    def filled(spec):
        if spec.model != COMPACT or "target_index" in spec.options:
            return spec
        return spec.model_copy(update={"options": {**spec.options, "target_index": target_index}})
    students = {name: filled(spec) for name, spec in config.students.items()}
    teacher = filled(config.teacher).model_copy(update={"blend": [filled(m) for m in config.teacher.blend]})
    return config.model_copy(update={"teacher": teacher, "students": students})
