"""What differs per task, on the `Task` base class (defined in `distill.core.task`, because the protocol calls it
and imports point down): regression (forecasting), classification (labelled images, every KD method of
`distill.losses`), generalized distillation (privileged information); and the teacher / student config entries
they read (`specs`)."""
from distill.core.task import FoldData, Task

__all__ = ["FoldData", "Task"]
