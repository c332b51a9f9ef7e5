"""What a model costs, measured by code: parameters, FLOPs per prediction, bytes, CPU latency.

Latency is the wall time of one no-grad forward pass on one thread, measured so that it does not drift with the
machine's load: every model is first warmed up (its first calls allocate and build kernels), then all the models
of a run are timed in interleaved rounds - in each round every model runs one block of calls, in a rotating order -
so that a slow spell of the machine falls on all of them alike. A model's latency is the median over rounds of its
per-call wall time in a block, with the interquartile range (IQR) over rounds, beside the median CPU time per call
(this thread's own: what the call costs on a core of its own, without the time other processes held the core).

A latency is marked noisy when its IQR over rounds is above `NOISY_SPREAD` times its median, or when the thread ran
on the CPU for less than `MIN_CPU_SHARE` of the timed wall time: other processes held the core. (On a shared 2-core
machine the same CNN measured 0.084 to 0.530 ms in four runs with a tight IQR each; at a load average of 17 its
wall time was 8x its CPU time, and only that share tells such runs apart.)

A model's speed-up over the teacher is the median over rounds of the per-round ratio of CPU times per call
(teacher / model; wall times on a GPU, where the CPU waits), with its IQR; it is noisy when that IQR is above
`NOISY_SPREAD` times the median. Reports quote a speed-up only when it is not noisy.

FLOPs come from `torch.utils.flop_counter.FlopCounterMode` (2 FLOPs per multiply-add of every matrix
product and convolution). Its table has no entry for the fused LSTM kernel, so one is added here:
each layer and time step does x @ W_ih^T (4H x in) and h @ W_hh^T (4H x H).
"""
from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from distill.devices import resolve_device, synchronize

NOISY_SPREAD = 0.25  # IQR / median over rounds above which a latency is marked noisy
MIN_CPU_SHARE = 0.8  # CPU time / wall time of the timed calls below which a latency is marked noisy (CPU only)
SECONDS_PER_REPEAT = 0.005  # one round's block of calls lasts about this long per model; `repeats` rounds
WARMUP_SECONDS = 0.02  # untimed calls per model before the rounds (at least WARMUP_CALLS of them)
WARMUP_CALLS = 3
MIN_ROUNDS = 5  # slow models (a deep ResNet at batch 256) get fewer rounds than `repeats`, never fewer than this
BATCHES = (1, 256)
REFERENCE = "teacher"  # speed-ups are quoted against this model when it is profiled


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


def _quartiles(values: list[float]) -> tuple[float, float]:
    """(median, interquartile range) of the values."""
    if len(values) < 2:
        return values[0], 0.0
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return median, q3 - q1


def _caller(model: nn.Module, example: torch.Tensor) -> Callable[[], None]:
    def call() -> None:
        model(example)
        synchronize(example.device)  # a GPU's work is counted to its end
    return call


def _warm_up(call: Callable[[], None]) -> float:
    """Run `call` untimed for `WARMUP_SECONDS` (at least `WARMUP_CALLS` times); the seconds of its last call."""
    end, calls = time.perf_counter() + WARMUP_SECONDS, 0
    while calls < WARMUP_CALLS or time.perf_counter() < end:
        start = time.perf_counter()
        call()
        calls += 1
    return time.perf_counter() - start


def time_interleaved(calls: dict[str, Callable[[], None]], rounds: int,
                     block_seconds: float = SECONDS_PER_REPEAT) -> dict[str, dict[str, list[float]]]:
    """Per name: the wall and CPU seconds per call of each round's block (`wall`, `cpu`), every name timed once
    per round in an order that rotates by one each round. Blocks are sized from a warm-up to last about
    `block_seconds` each (one call at least); when the slowest model's call is longer, fewer rounds are timed
    (`MIN_ROUNDS` at least), so that the time spent stays about `rounds * block_seconds` per model."""
    names = list(calls)
    seconds = {name: max(_warm_up(call), 1e-7) for name, call in calls.items()}
    number = {name: max(1, round(block_seconds / seconds[name])) for name in names}
    slowest_block = max(number[name] * seconds[name] for name in names)
    if slowest_block > block_seconds:  # keep the budget of `rounds` blocks of `block_seconds`
        rounds = min(rounds, max(MIN_ROUNDS, int(rounds * block_seconds / slowest_block)))
    times: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in names}
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            call, count = calls[name], number[name]
            wall, cpu = time.perf_counter(), time.thread_time()
            for _ in range(count):
                call()
            times[name]["cpu"].append((time.thread_time() - cpu) / count)
            times[name]["wall"].append((time.perf_counter() - wall) / count)
    return times


def summarize_latency(wall: list[float], cpu: list[float], on_cpu: bool = True) -> dict[str, float | bool]:
    """Median and IQR (ms) over rounds of the wall times per call, the median CPU time per call (ms), the CPU
    share of the wall time, and whether it is noisy (`on_cpu`: the share counts; a GPU's host thread waits)."""
    median, iqr = _quartiles([seconds * 1000.0 for seconds in wall])
    share = min(1.0, sum(cpu) / sum(wall)) if sum(wall) > 0 else 1.0
    noisy = iqr > NOISY_SPREAD * median or (on_cpu and share < MIN_CPU_SHARE)
    return {"median": median, "iqr": iqr, "cpu": statistics.median(cpu) * 1000.0, "cpu_share": share,
            "noisy": bool(noisy)}


def summarize_speedup(reference: list[float], model: list[float]) -> dict[str, float | bool]:
    """Median and IQR over rounds of the per-round ratio reference time / model time (> 1: the model is faster),
    noisy when the IQR is above `NOISY_SPREAD` times the median."""
    median, iqr = _quartiles([r / m for r, m in zip(reference, model, strict=True) if m > 0])
    return {"median": median, "iqr": iqr, "noisy": bool(iqr > NOISY_SPREAD * median)}


def measure_latency_ms(model: nn.Module, example: torch.Tensor, repeats: int = 30) -> dict[str, float | bool]:
    """Per-call wall time in milliseconds of one no-grad forward pass of one model on `example` (see the module
    docstring): median and IQR over `repeats` rounds, the CPU share, and whether it is noisy."""
    return measure_latencies({"model": (model, example)}, repeats)["model"]


def measure_latencies(models: dict[str, tuple[nn.Module, torch.Tensor]],
                      repeats: int = 30) -> dict[str, dict[str, Any]]:
    """`measure_latency_ms` for several (model, example) pairs timed in interleaved rounds, on one thread; with a
    `REFERENCE` among them, every other entry also gets `speedup` (median and IQR of per-round ratios, noisy)."""
    for model, _ in models.values():
        model.eval()
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            times = time_interleaved({name: _caller(*pair) for name, pair in models.items()}, repeats)
    finally:
        torch.set_num_threads(previous)
    measured: dict[str, dict[str, Any]] = {}
    for name, (_, example) in models.items():
        on_cpu = example.device.type == "cpu"
        measured[name] = summarize_latency(times[name]["wall"], times[name]["cpu"], on_cpu)
        if REFERENCE in times and name != REFERENCE:
            clock = "cpu" if on_cpu else "wall"
            measured[name]["speedup"] = summarize_speedup(times[REFERENCE][clock], times[name][clock])
    return measured


def profile_model(model: nn.Module, input_shape: tuple[int, ...], repeats: int = 30,
                  device: torch.device | str = "cpu") -> dict:
    """Params, FLOPs per prediction, bytes and latency at batch 1 and 256 for one model on `device`."""
    return profile_models({"model": (model, input_shape)}, repeats, device)["model"]


def profile_models(models: dict[str, tuple[nn.Module, tuple[int, ...]]], repeats: int = 30,
                   device: torch.device | str = "cpu") -> dict[str, dict]:
    """Params, FLOPs per prediction, bytes and latency at batch 1 and 256 of every (model, one example's shape),
    the models timed together in interleaved rounds (`measure_latencies`).

    `latency_ms` holds, per batch size b: `batch{b}` (median wall ms), `batch{b}_iqr`, `batch{b}_noisy`,
    `batch{b}_cpu` (median CPU ms), `batch{b}_cpu_share` and, for every model but the teacher, `batch{b}_speedup`
    (the median of per-round teacher / model time ratios), `batch{b}_speedup_iqr` and `batch{b}_speedup_noisy`."""
    device = resolve_device(device)
    models = {name: (model.to(device), shape) for name, (model, shape) in models.items()}
    latency: dict[str, dict] = {name: {} for name in models}
    for batch in BATCHES:
        measured = measure_latencies({name: (model, torch.zeros((batch, *shape), device=device))
                                      for name, (model, shape) in models.items()}, repeats)
        for name, entry in measured.items():
            latency[name] |= {f"batch{batch}": entry["median"], f"batch{batch}_iqr": entry["iqr"],
                              f"batch{batch}_noisy": entry["noisy"], f"batch{batch}_cpu": entry["cpu"],
                              f"batch{batch}_cpu_share": entry["cpu_share"]}
            if "speedup" in entry:
                speedup = entry["speedup"]
                latency[name] |= {f"batch{batch}_speedup": speedup["median"],
                                  f"batch{batch}_speedup_iqr": speedup["iqr"],
                                  f"batch{batch}_speedup_noisy": speedup["noisy"]}
    return {name: {"params": count_parameters(model), "flops": count_flops(model, torch.zeros((1, *shape), device=device)),
                   "bytes": count_bytes(model), "latency_ms": latency[name]}
            for name, (model, shape) in models.items()}
