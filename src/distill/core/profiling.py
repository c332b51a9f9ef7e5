"""What a model costs, measured by code: parameters, FLOPs per prediction, bytes, CPU latency.

Latency is measured with `torch.utils.benchmark` (`Timer.blocked_autorange`, one thread): blocks of calls
timed for a fixed budget, reported as the median and the interquartile range (IQR) of the per-call times.
A measurement whose IQR is more than `NOISY_SPREAD` times its median (a busy machine) is marked noisy,
and reports quote no speed ratio from it.

FLOPs come from `torch.utils.flop_counter.FlopCounterMode` (2 FLOPs per multiply-add of every matrix
product and convolution). Its table has no entry for the fused LSTM kernel, so one is added here:
each layer and time step does x @ W_ih^T (4H x in) and h @ W_hh^T (4H x H).
"""
from __future__ import annotations

import math
import timeit

import torch
from torch import nn
from torch.utils import benchmark
from torch.utils.flop_counter import FlopCounterMode

from distill.devices import resolve_device, synchronize

NOISY_SPREAD = 0.5  # IQR / median above which a latency is marked noisy
MIN_BLOCKS = 4  # timed blocks at least, so the IQR means something
SECONDS_PER_REPEAT = 0.005  # timing budget per batch size: `repeats` x this (30 repeats: 0.15 s)


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


def measure_latency_ms(model: nn.Module, example: torch.Tensor, repeats: int = 30) -> dict[str, float | bool]:
    """Per-call wall time in milliseconds of one no-grad forward pass on `example`, on one thread: the median
    and IQR of `Timer.blocked_autorange` blocks timed for `repeats * SECONDS_PER_REPEAT` seconds (the clock
    waits for a GPU to finish; at least `MIN_BLOCKS` blocks, so there is a spread to judge), and whether it
    is noisy: IQR above `NOISY_SPREAD` times the median."""
    model.eval()

    def clock() -> float:
        synchronize(example.device)
        return timeit.default_timer()

    timer = benchmark.Timer(stmt="model(example)", globals={"model": model, "example": example}, num_threads=1,
                            timer=clock)
    with torch.no_grad():
        measurement = timer.blocked_autorange(min_run_time=repeats * SECONDS_PER_REPEAT)
        blocks = list(measurement.raw_times)
        while len(blocks) < MIN_BLOCKS:  # torch sizes blocks for low overhead; a slow call gives few in the budget
            blocks += timer.timeit(measurement.number_per_run).raw_times
    measurement = benchmark.Measurement(measurement.number_per_run, blocks, measurement.task_spec)
    median, iqr = measurement.median * 1000.0, measurement.iqr * 1000.0
    noisy = iqr > NOISY_SPREAD * median
    return {"median": median, "iqr": iqr, "noisy": bool(noisy)}


def profile_model(model: nn.Module, input_shape: tuple[int, ...], repeats: int = 30,
                  device: torch.device | str = "cpu") -> dict:
    """Params, FLOPs per prediction, bytes and latency at batch 1 and 256 for a model on `device`.

    `latency_ms` holds `batch1` / `batch256` (medians, ms), `batch1_iqr` / `batch256_iqr` and
    `batch1_noisy` / `batch256_noisy`."""
    device = resolve_device(device)
    model = model.to(device)
    latency: dict[str, float | bool] = {}
    for batch in (1, 256):
        measured = measure_latency_ms(model, torch.zeros((batch, *input_shape), device=device), repeats)
        latency |= {f"batch{batch}": measured["median"], f"batch{batch}_iqr": measured["iqr"],
                    f"batch{batch}_noisy": measured["noisy"]}
    return {
        "params": count_parameters(model),
        "flops": count_flops(model, torch.zeros((1, *input_shape), device=device)),
        "bytes": count_bytes(model),
        "latency_ms": latency,
    }
