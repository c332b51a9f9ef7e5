"""A forecasting run with `data.quantiles: hub`: quantile models end to end, scored against the Hub baseline,
served as the Hub's CSV; `--quantiles` on a point run is one line."""
import numpy as np
import pandas as pd
import pytest

import distill
from distill.cli import main
from distill.data.covid_sim import simulate_covid
from distill.io.run_writer import write_run
from distill.losses.pinball import HUB_LEVELS
from distill.protocols import load_config
from distill.protocols.forecast.run import forecast_output, run_forecast

TINY = ["data.sim_days=200", "train.epochs=2", "cv.folds=2", "teacher.options.hidden=4", "report.latency_repeats=3",
        "train.final_fit=false"]


def _run(tmp_path_factory, overrides: list[str]):
    out_dir = tmp_path_factory.mktemp("run")
    config = load_config("covid-lstm", TINY + overrides)
    run = run_forecast(config, show_progress=False)
    write_run(forecast_output(run, config), config, out_dir)
    return run, out_dir


@pytest.fixture(scope="module")
def quantile_run(tmp_path_factory):
    return _run(tmp_path_factory, ["data.quantiles=hub", "teacher.ensemble=1", "teacher.blend=[]"])


@pytest.fixture(scope="module")
def new_table(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "new.csv"
    simulate_covid(days=260, seed=3).iloc[200:].to_csv(path, index=False)
    return path


def test_a_quantile_run_scores_every_model_against_the_hub_baseline(quantile_run):
    run, out_dir = quantile_run
    scores = run.results["quantiles"]
    assert set(scores["models"]) == {"teacher", "student_kd", "student_scratch", "hub_baseline", "auto_ets"}
    assert scores["models"]["hub_baseline"]["relative_wis"]["overall"] == pytest.approx(1.0)
    assert {"teacher_vs_hub_baseline", "student_kd_vs_student_scratch"} <= set(scores["comparisons"])
    tested = np.concatenate([test for _, _, test in run.splits])
    assert scores["groups"] == len(np.unique(run.table.starts[tested]))  # verdicts paired over forecast origins
    report = (out_dir / "report.md").read_text()
    assert "Intervals calibrated on inner validation: CQR" in report
    assert "## Quantile forecasts" in report and "calibration.png" in report and "wis_parts.png" in report
    assert (out_dir / "calibration.png").is_file() and (out_dir / "wis_parts.png").is_file()
    model = distill.load(out_dir, "student_kd", fold=1).served.model
    assert type(model).__name__ == "QuantileForecaster"  # rebuilt from results.json as trained


def test_quantile_models_are_calibrated_on_inner_validation_and_scored_per_series(quantile_run):
    run, out_dir = quantile_run
    scores = run.results["quantiles"]
    calibration = scores["calibration"]
    assert calibration["method"] == "cqr" and len(calibration["folds"]) == len(run.splits)
    for (_, val, _), fold in zip(run.splits, calibration["folds"]):
        assert {entry["calibration_windows"] for entry in fold.values()} == {len(val)}  # inner validation only
    before = calibration["uncalibrated"]
    assert set(before) == {"teacher", "student_kd", "student_scratch"}
    assert any(before[name]["coverage"] != scores["models"][name]["coverage"] for name in before)
    assert list(scores["per_series"]) == run.results["data"]["series"]  # 3 simulated series
    for entry in scores["per_series"].values():
        assert entry["hub_baseline"]["relative_wis"] == pytest.approx(1.0)
        assert set(entry) == set(scores["models"])
    assert "### Quantile forecasts per series" in (out_dir / "report.md").read_text()
    ets = scores["models"]["auto_ets"]
    assert 0 < ets["wis"]["mean"] and ets["coverage"]["95%"] >= ets["coverage"]["50%"]


def test_without_calibration_the_models_own_quantiles_are_scored(tmp_path_factory):
    run, out_dir = _run(tmp_path_factory, ["data.quantiles=hub", "teacher.ensemble=1", "teacher.blend=[]",
                                           "data.calibration=none", "report.auto_ets=false", "data.sim_locations=1"])
    scores = run.results["quantiles"]
    assert scores["calibration"] == {"method": "none"}
    assert "auto_ets" not in scores["models"] and "per_series" not in scores
    assert "not calibrated (data.calibration: none" in (out_dir / "report.md").read_text()


def test_predict_quantiles_writes_the_hub_format(quantile_run, new_table, tmp_path):
    _, out_dir = quantile_run
    out = tmp_path / "hub.csv"
    assert main(["predict", str(out_dir), "--data", str(new_table), "--fold", "1", "--quantiles", "--out", str(out)]) == 0
    written = pd.read_csv(out)
    assert list(written.columns) == ["forecast_date", "target", "target_end_date", "location", "type", "quantile",
                                     "value"]
    assert len(written) == 14 * (len(HUB_LEVELS) + 1)
    assert written.target.iloc[0] == "1 day ahead new_hospitalized_patients"
    values = written[written.type == "quantile"].value.to_numpy().reshape(14, len(HUB_LEVELS))
    assert (np.diff(values, axis=1) >= 0).all() and (values >= 0).all()


def test_intervals_of_a_quantile_model_are_its_quantiles(quantile_run, new_table, tmp_path, capsys):
    _, out_dir = quantile_run
    out = tmp_path / "forecast.csv"
    assert main(["predict", str(out_dir), "--data", str(new_table), "--fold", "1", "--intervals", "--out", str(out)]) == 0
    assert "from the model's own quantiles" in capsys.readouterr().err
    written = pd.read_csv(out)
    assert (written["lower_95"] <= written["new_hospitalized_patients"]).all()
    assert (written["new_hospitalized_patients"] <= written["upper_95"]).all()


def test_quantiles_on_a_point_run_is_one_line(tmp_path_factory, new_table, capsys):
    _, out_dir = _run(tmp_path_factory, [])  # a point run
    assert main(["predict", str(out_dir), "--data", str(new_table), "--model", "teacher", "--quantiles"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("distill: error: --quantiles needs quantile forecasts") and "\n" not in err


def test_the_quantile_head_exports_to_onnx_from_a_run(quantile_run, tmp_path):
    pytest.importorskip("onnxruntime")
    from distill.io.export_formats import onnx_session, run_onnx

    run, out_dir = quantile_run
    out = tmp_path / "student_kd.onnx"
    assert main(["export", str(out_dir), "student_kd", "--fold", "1", "--format", "onnx", "--out", str(out)]) == 0
    x = run.table.inputs[:2].astype(np.float32)
    quantiles = run_onnx(onnx_session(out.read_bytes()), distill.load(out_dir, "student_kd", fold=1).served._inputs(x))
    assert quantiles.shape == (2, 14, len(HUB_LEVELS)) and (np.diff(quantiles, axis=-1) >= 0).all()
