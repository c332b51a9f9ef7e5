"""What differs per task, on the `distill.core.task.Task` base class: regression (forecasting), classification
(labelled images, every KD method of `distill.losses`), generalized distillation (privileged information); and
the teacher / student config entries they read (`specs`)."""
