"""Shared test settings: one torch thread (small models; avoids thread contention on busy machines)."""
import torch

torch.set_num_threads(1)
