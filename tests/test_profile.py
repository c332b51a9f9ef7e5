"""Parameter, FLOP and byte counts by code, checked against hand-derived formulas for the seed models."""
import torch

from distill.core.profiling import (
    NOISY_SPREAD,
    count_bytes,
    count_flops,
    count_parameters,
    measure_latency_ms,
    profile_model,
)
from distill.models import build_model
from distill.models.baselines import Persistence


def lstm_params(features, hidden, layers):
    first = 4 * hidden * (features + hidden + 2)
    return first + (layers - 1) * 4 * hidden * (hidden + hidden + 2)


def test_seed_teacher_and_student_parameter_counts_are_the_true_ones():
    teacher = build_model("lstm", (10, 472), 14, hidden=15, layers=3, head=[25, 25], output="sigmoid")
    student = build_model("mlp", (10, 472), 14, hidden=[50, 50], output="sigmoid")
    head = 150 * 25 + 25 + 25 * 25 + 25 + 25 * 14 + 14
    assert count_parameters(teacher) == lstm_params(472, 15, 3) + head == 37969
    assert count_parameters(student) == 4720 * 50 + 50 + 50 * 50 + 50 + 50 * 14 + 14 == 239314
    assert count_bytes(student) == 4 * 239314


def test_flops_count_the_lstm_kernel_and_scale_with_batch():
    teacher = build_model("lstm", (10, 472), 14, hidden=15, layers=3, head=[25, 25])
    macs = 10 * (4 * 15 * 472 + 4 * 15 * 15 + 2 * (4 * 15 * 15 + 4 * 15 * 15)) + 150 * 25 + 25 * 25 + 25 * 14
    assert count_flops(teacher, torch.zeros(1, 10, 472)) == 2 * macs
    assert count_flops(teacher, torch.zeros(3, 10, 472)) == 6 * macs
    student = build_model("mlp", (10, 472), 14, hidden=[50, 50])
    assert count_flops(student, torch.zeros(1, 10, 472)) == 2 * (4720 * 50 + 50 * 50 + 50 * 14)


def test_profile_has_every_field_and_baselines_cost_nothing():
    profile = profile_model(Persistence(target_index=0, horizon=14), (10, 3), repeats=3)
    assert profile["params"] == profile["flops"] == profile["bytes"] == 0
    assert set(profile["latency_ms"]) == {f"batch{b}{part}" for b in (1, 256) for part in ("", "_iqr", "_noisy")}
    assert profile["latency_ms"]["batch1"] > 0 and profile["latency_ms"]["batch1_iqr"] >= 0


def test_latency_median_and_spread_from_torch_benchmark_on_one_thread():
    model = torch.nn.Linear(8, 2)
    latency = measure_latency_ms(model, torch.zeros(1, 8), repeats=20)
    assert 0 < latency["median"] < 50 and latency["iqr"] >= 0 and isinstance(latency["noisy"], bool)


def test_a_spread_wider_than_half_the_median_is_noisy(monkeypatch):
    """Blocks alternating 1 ms and 3 ms: median 2 ms, IQR 2 ms > 0.5 * median."""
    from torch.utils.benchmark import Measurement

    def fake_autorange(self, min_run_time):
        return Measurement(number_per_run=1, raw_times=[1e-3, 3e-3] * 4, task_spec=self._task_spec)

    monkeypatch.setattr("torch.utils.benchmark.Timer.blocked_autorange", fake_autorange)
    latency = measure_latency_ms(torch.nn.Linear(8, 2), torch.zeros(1, 8))
    assert latency["noisy"] and latency["iqr"] > NOISY_SPREAD * latency["median"]


def test_a_slow_model_is_still_timed_in_enough_blocks_to_judge_its_spread(monkeypatch):
    """torch sizes blocks for low timer overhead, so a slow call may give one block in the budget: more are timed."""
    from torch.utils.benchmark import Measurement, Timer

    def one_block(self, min_run_time):
        return Measurement(number_per_run=2, raw_times=[2e-3], task_spec=self._task_spec)

    calls = []
    timeit = Timer.timeit
    monkeypatch.setattr(Timer, "blocked_autorange", one_block)
    monkeypatch.setattr(Timer, "timeit", lambda self, number: calls.append(number) or timeit(self, number))
    measure_latency_ms(torch.nn.Linear(8, 2), torch.zeros(1, 8))
    assert calls == [2, 2, 2]
