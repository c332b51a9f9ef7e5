"""Forecast skill machinery: window scaling, splits, baselines, scores, collapse detection, teacher choice."""
import numpy as np
import pytest
import torch

from distill.data.covid_sim import simulate_covid, simulate_covid_with_oracle
from distill.data.window_scaling import WindowLogScaler
from distill.data.windows import inner_validation, make_folds, rolling_folds
from distill.io.checkpoints import load_model
from distill.io.run_writer import write_run
from distill.protocols import load_config
from distill.protocols.forecast.baselines import linear_drift, persistence, seven_day_mean
from distill.protocols.forecast.evaluation import summaries
from distill.protocols.forecast.output import forecast_output
from distill.protocols.forecast.run import run_forecast
from distill.protocols.forecast.scoring import fold_scores, output_spread
from distill.protocols.forecast.windows import make_window_table

TINY = ["data.sim_days=220", "train.epochs=2", "cv.folds=2", "teacher.options.hidden=4", "report.latency_repeats=3"]


def test_window_log_scaling_round_trips_and_reads_each_window_relative_to_its_level():
    rng = np.random.default_rng(0)
    windows = rng.uniform(10, 1000, size=(30, 10, 3))
    targets = rng.uniform(10, 1000, size=(30, 14))
    scaler = WindowLogScaler(target_index=0).fit(windows[:20], targets[:20])
    encoded = scaler.encode_targets(windows, targets)
    assert np.allclose(scaler.decode(windows, encoded), targets, rtol=1e-4)
    # a window ten times larger reads (almost: log1p is not log) the same, and its forecast is ten times larger
    assert np.abs(scaler.transform_inputs(windows * 10) - scaler.transform_inputs(windows)).max() < 0.2
    assert np.allclose(scaler.decode(windows * 10, encoded), targets * 10, rtol=0.1)


def test_rolling_folds_train_only_on_the_past_and_inner_validation_is_purged():
    span = 24
    for train, test in rolling_folds(300, 4, span):
        assert train.max() <= test.min() - span  # every training window ends before the test block starts
        fit, val = inner_validation(train, span, 0.2)
        assert val.min() > fit.max() and val.min() - fit.max() >= span and not set(val) & set(test)
    starts = np.delete(np.arange(320), np.arange(100, 120))  # windows dropped for a missing target day
    for train, test in make_folds(len(starts), 5, "blocked", span, 0, starts=starts):
        gaps = np.abs(starts[train][:, None] - starts[test][None, :])
        assert gaps.min() >= span


def test_windows_touching_an_unreported_target_day_are_dropped():
    values = np.arange(60, dtype=float)[:, None].repeat(2, axis=1)
    target = values[:, 0].copy()
    target[30] = np.nan
    table = make_window_table(values, target, input_days=4, horizon=3)
    assert table.dropped == 7 and not np.isnan(table.targets).any() and not np.isnan(table.history).any()
    assert all(not (start <= 30 < start + 7) for start in table.starts)


def test_naive_baselines():
    history = np.array([[1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10]])
    assert persistence(history, 3).tolist() == [[10, 10, 10]]
    assert seven_day_mean(history, 2).tolist() == [[7, 7]]
    assert np.allclose(linear_drift(history, 3), [[11, 12, 13]])


def test_scores_skill_share_and_the_collapse_detector():
    rng = np.random.default_rng(1)
    truth = rng.uniform(100, 200, size=(40, 14))
    last = np.full_like(truth, 150.0)
    perfect = fold_scores(truth, truth, last, oracle_mae=0.0)
    assert perfect["skill"] == 1.0 and perfect["share_of_achievable"] == 1.0 and perfect["output_spread"] == 1.0
    constant = np.tile(truth.mean(axis=0), (40, 1))  # one vector for every window
    assert output_spread(constant, truth) == pytest.approx(0.0, abs=1e-12)
    scores = {"teacher": [fold_scores(constant, truth, last)] * 2, "persistence": [fold_scores(last, truth, last)] * 2}
    _, warnings = summaries(scores)
    assert len(warnings) == 1 and "teacher has collapsed" in warnings[0]


def test_the_simulator_records_its_oracle_without_changing_the_table():
    table, oracle = simulate_covid_with_oracle(days=200, seed=3)
    assert table.equals(simulate_covid(days=200, seed=3))
    observed = table["new_hospitalized_patients"].to_numpy()
    both = ~np.isnan(observed) & ~np.isnan(oracle.to_numpy())
    assert both.sum() > 100
    # reported counts scatter around the oracle (negative binomial): the mean ratio is close to 1
    assert np.mean(observed[both]) / np.mean(oracle.to_numpy()[both]) == pytest.approx(1.0, abs=0.05)


def test_teacher_candidates_are_chosen_per_fold_on_inner_validation_and_reload(tmp_path):
    candidates = "teacher.candidates=[{model: rnn, options: {hidden: 4}}, {model: tcn, options: {channels: 4}}]"
    config = load_config("covid-lstm", TINY + [candidates, "teacher.ensemble=2", "teacher.blend=[]"])
    run = run_forecast(config, show_progress=False)
    curves = run.results["curves"]["teacher"]
    assert all(len(fold["members"]) == 2 and fold["candidate"] in (0, 1) for fold in curves)
    write_run(forecast_output(run, config), config, tmp_path)
    for fold, teacher in enumerate(run.protocol.models, start=1):
        loaded = load_model(tmp_path, "teacher", fold)
        x = run.protocol.folds[fold - 1].x_test
        x = x[torch.arange(len(x))]  # the test windows, scaled (a fold holds them as a lazily scaled WindowSet)
        assert type(loaded).__name__ == "Ensemble"
        assert torch.equal(loaded(x), teacher["teacher"].eval()(x))


def test_a_blended_teacher_averages_every_family_and_reloads(tmp_path):
    blend = "teacher.blend=[{model: compact_mlp, options: {hidden: [8]}, copies: 2}]"
    config = load_config("covid-lstm", TINY + [blend, "teacher.ensemble=1"])
    run = run_forecast(config, show_progress=False)
    assert all(len(fold["members"]) == 3 for fold in run.results["curves"]["teacher"])
    write_run(forecast_output(run, config), config, tmp_path)
    for fold, models in enumerate(run.protocol.models, start=1):
        teacher = models["teacher"].eval()
        assert [type(m).__name__ for m in teacher.members] == ["RecurrentForecaster", "CompactMLP", "CompactMLP"]
        x = run.protocol.folds[fold - 1].x_test
        x = x[torch.arange(len(x))]
        mean = torch.stack([member(x) for member in teacher.members]).mean(dim=0)  # equal weight per copy
        assert torch.allclose(teacher(x), mean)
        assert not torch.equal(teacher.members[1](x), teacher.members[2](x))  # the copies have their own seeds
        assert torch.equal(load_model(tmp_path, "teacher", fold)(x), teacher(x))
    assert type(load_model(tmp_path, "teacher")).__name__ == "Ensemble"  # the final teacher: the same blend


@pytest.mark.parametrize("blend, message", [
    ("not a list", "must be a list"),
    ([{"model": "mlp", "size": 2}], "each entry is"),
    ([{"model": "mlp", "copies": 0}], "copies of 'mlp'"),
    ([{"model": "mlp", "options": [1]}], "options of 'mlp'"),
    ([{"model": "ensemble"}], "cannot be ensembles"),
    ([], "at least 2 members")])
def test_a_bad_blend_is_one_line(blend, message):
    from distill.errors import DistillError
    from distill.models import build_model
    with pytest.raises(DistillError, match=message):
        build_model("ensemble", (10, 3), 14, member="mlp", size=1, blend=blend)


def test_the_report_names_a_blended_teacher_by_its_families():
    from distill.models.ensemble import spec_text
    options = {"member": "rnn", "member_options": {"hidden": 64}, "size": 3,
               "blend": [{"model": "compact_mlp", "options": {"hidden": [128]}, "copies": 2}]}
    assert spec_text("ensemble", options) == "mean of 3 x rnn {hidden: 64} + 2 x compact_mlp {hidden: [128]}"
    assert spec_text("rnn", {"hidden": 4}) == "rnn {hidden: 4}" and spec_text("mlp", {}) == "mlp"


def test_blend_and_candidates_together_are_refused():
    from distill.errors import DistillError
    with pytest.raises(DistillError, match="blend and teacher.candidates"):
        load_config("covid-lstm", TINY + ["teacher.candidates=[{model: rnn, options: {hidden: 4}}]"])


def test_candidates_without_inner_validation_are_refused():
    from distill.errors import DistillError
    config = load_config("covid-lstm", TINY + ["cv.inner_validation=0", "teacher.blend=[]",
                                              "teacher.candidates=[{model: rnn, options: {hidden: 4}}]"])
    with pytest.raises(DistillError, match="inner validation"):
        run_forecast(config, show_progress=False)
