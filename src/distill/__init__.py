"""distill: knowledge distillation with an honest, cross-validated comparison of teacher and students."""
from distill.errors import DistillError

__all__ = ["DistillError"]
__version__ = "0.1.0"
