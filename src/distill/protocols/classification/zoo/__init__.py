"""kd-zoo: every distillation method of the catalogue side by side on one CPU-sized classification task, one
teacher per seed, with the student alone and vanilla KD beside them (see docs/methods.md)."""
