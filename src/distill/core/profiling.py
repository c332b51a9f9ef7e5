"""What a model costs, measured by code: parameters, FLOPs per prediction, bytes, CPU latency.

FLOPs come from `torch.utils.flop_counter.FlopCounterMode` (2 FLOPs per multiply-add of every matrix
product and convolution). Its table has no entry for the fused LSTM kernel, so one is added here:
each layer and time step does x @ W_ih^T (4H x in) and h @ W_hh^T (4H x H).
"""
from __future__ import annotations

import math
import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from distill.devices import resolve_device, synchronize


def count_parameters(model: nn.Module) -> int:
    """Number of trainable and frozen parameter values (each tensor counted once)."""
    return sum(p.numel() for p in model.parameters())


def count_bytes(model: nn.Module) -> int:
    """Bytes held by parameters and buffers: the size of the saved weights."""
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def _lstm_flops(input_shape, hx_shapes, param_shapes, has_biases, num_layers, *args, **kwargs) -> int:
    """aten.lstm: every layer's (W_ih, W_hh) pair applied at every (time step, sample)."""
    per_layer = 4 if has_biases else 2
    steps = math.prod(input_shape[:-1])
    macs = sum(math.prod(param_shapes[i]) + math.prod(param_shapes[i + 1])
               for i in range(0, len(param_shapes), per_layer))
    return 2 * macs * steps


def _mkldnn_lstm_layer_flops(input_shape, w_ih_shape, w_hh_shape, *args, **kwargs) -> int:
    """aten.mkldnn_rnn_layer (the CPU kernel): one layer's W_ih and W_hh at every (time step, sample)."""
    return 2 * (math.prod(w_ih_shape) + math.prod(w_hh_shape)) * math.prod(input_shape[:-1])


LSTM_FLOP_FORMULAS = {
    torch.ops.aten.lstm: _lstm_flops,
    torch.ops.aten.mkldnn_rnn_layer: _mkldnn_lstm_layer_flops,
}


def count_flops(model: nn.Module, example: torch.Tensor) -> int:
    """FLOPs of one forward pass on `example` (batch of one sample gives FLOPs per prediction)."""
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=LSTM_FLOP_FORMULAS) as counter:
        model(example)
    return int(counter.get_total_flops())


def measure_latency_ms(model: nn.Module, example: torch.Tensor, repeats: int = 30, warmup: int = 3) -> float:
    """Median wall time in milliseconds of one no-grad forward pass on `example` (on its device; a GPU is
    synchronised before the clock stops)."""
    model.eval()
    times = []
    with torch.no_grad():
        for index in range(warmup + repeats):
            start = time.perf_counter()
            model(example)
            synchronize(example.device)
            if index >= warmup:
                times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def profile_model(model: nn.Module, input_shape: tuple[int, ...], repeats: int = 30,
                  device: torch.device | str = "cpu") -> dict:
    """Params, FLOPs per prediction, bytes and latency at batch 1 and 256 for a model on `device`."""
    device = resolve_device(device)
    model = model.to(device)
    one = torch.zeros((1, *input_shape), device=device)
    many = torch.zeros((256, *input_shape), device=device)
    return {
        "params": count_parameters(model),
        "flops": count_flops(model, one),
        "bytes": count_bytes(model),
        "latency_ms": {
            "batch1": measure_latency_ms(model, one, repeats),
            "batch256": measure_latency_ms(model, many, max(3, repeats // 5)),
        },
    }
