"""Generalized distillation with privileged time-series information: what each role reads (and the proof that
students never read privileged data), the recipes end to end at tiny scale, the results contract, bad input."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from distill.cli import main
from distill.core.stats import paired_comparison
from distill.data.privileged_windows import ChangeEncoder, gather, make_layout, valid_samples
from distill.data.series import load_series
from distill.protocols import load_config
from distill.protocols.privileged.config import ALONE, DISTILLED
from distill.protocols.privileged.report import helps_lines
from distill.protocols.privileged.run import add_cell_verdicts, make_cell_folds, nearest_samples, run_cell
from distill.tasks.generalized import GeneralizedDistillationTask

TINY = ["data.mackey_glass.length=300", "target.horizons=[3,5]", "target.train_sizes=[40,80]", "cv.folds=2",
        "train.epochs=3", "report.latency_repeats=3"]


def cli_args(*sets: str) -> list[str]:
    return [part for item in sets for part in ("--set", item)] + ["--no-progress"]


def run(capsys, *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def write_beijing(path, hours: int = 400, gap: slice = slice(200, 210), seed: int = 0) -> None:
    """A small file in the UCI 'Beijing PM2.5' layout: pm2.5 follows the dew point, one long missing stretch."""
    rng = np.random.default_rng(seed)
    time = pd.date_range("2010-01-01", periods=hours, freq="h")
    dewp = np.cumsum(rng.normal(0, 1, hours))
    pm = 80 + 5 * np.roll(dewp, -3) + rng.normal(0, 3, hours)
    pm[gap] = np.nan
    frame = pd.DataFrame({"No": np.arange(1, hours + 1), "year": time.year, "month": time.month, "day": time.day,
                          "hour": time.hour, "pm2.5": pm, "DEWP": dewp, "TEMP": rng.normal(0, 5, hours),
                          "PRES": 1020 + rng.normal(0, 2, hours), "cbwd": rng.choice(["NE", "NW", "SE", "cv"], hours),
                          "Iws": rng.uniform(0, 10, hours), "Is": 0, "Ir": 0})
    frame.to_csv(path, index=False, na_rep="NA")


# --- what each role reads -------------------------------------------------------------------------------------

COLUMNS = ["value", "DEWP", "TEMP", "PRES"]


def test_layout_student_reads_the_past_of_its_columns_teacher_adds_the_privileged_cells():
    layout = make_layout(COLUMNS, "value", ["TEMP"], ["DEWP"], "both", [-2, -1, 1, 2], "all", input_length=4,
                         horizon=8)
    assert layout.student_rows == (-3, -2, -1, 0) and layout.student_columns == (0, 2)
    assert layout.teacher_rows == (-3, -2, -1, 0, 6, 7, 9, 10) and layout.teacher_columns == (0, 2, 1)
    assert (layout.first, layout.last, layout.span) == (3, 10, 14)
    between = make_layout(COLUMNS, "value", [], [], "future", None, "privileged", 2, horizon=4)
    assert between.teacher_rows == (1, 2, 3) and between.teacher_columns == (0,)
    hidden = make_layout(COLUMNS, "value", [], ["DEWP", "PRES"], "columns", None, "privileged", 2, horizon=4)
    assert hidden.teacher_rows == (-1, 0) and hidden.teacher_columns == (1, 3)


def test_students_never_read_privileged_cells_perturbation_proof():
    """Change every cell a sample's student must not know - every row after t and every privileged column -
    and its student inputs stay bit for bit the same, while its teacher inputs change."""
    layout = make_layout(COLUMNS, "value", ["TEMP"], ["DEWP", "PRES"], "both", None, "all", input_length=4,
                         horizon=6)
    rng = np.random.default_rng(0)
    table = torch.from_numpy(rng.normal(size=(60, len(COLUMNS))))
    anchors = torch.from_numpy(layout.anchors(np.arange(layout.sample_count(len(table)))))
    for anchor in anchors[::5]:
        changed = table.clone()
        changed[anchor + 1:] += torch.from_numpy(rng.normal(size=changed[anchor + 1:].shape))
        changed[:, [1, 3]] += 100.0  # the privileged columns, everywhere
        one = anchor.reshape(1)
        student = gather(table, one, layout.student_rows, layout.student_columns)
        assert torch.equal(student, gather(changed, one, layout.student_rows, layout.student_columns))
        assert student.shape == (1, 4, 2)
        assert not torch.equal(gather(table, one, layout.teacher_rows, layout.teacher_columns),
                               gather(changed, one, layout.teacher_rows, layout.teacher_columns))


def test_fold_inputs_are_exactly_the_scaled_past_window_and_ignore_privileged_columns(tmp_path):
    config = load_config("pm25-pi", [f"data.path={tmp_path / 'b.csv'}", "target.inputs=levels", "cv.folds=2",
                                     "target.train_sizes=null", "privileged.kind=columns",
                                     "privileged.columns=[DEWP,TEMP]"])
    write_beijing(tmp_path / "b.csv")
    series = load_series(config.data)
    layout = make_layout(series.columns, series.target, [], ["DEWP", "TEMP"], "columns", None, "all", 3, 8)
    folds = make_cell_folds(config, series.values, layout, None)
    changed = series.values.copy()
    changed[:, [series.columns.index("DEWP"), series.columns.index("TEMP")]] *= -7.0
    other = make_cell_folds(config, changed, layout, None)
    pm = series.values[:, series.columns.index("pm25")]
    for fold, twin in zip(folds, other):
        assert torch.equal(fold.x_train, twin.x_train) and torch.equal(fold.x_test, twin.x_test)
        assert not torch.equal(fold.teacher_x_train, twin.teacher_x_train)
        assert fold.x_test.shape[1:] == (3, 1) and fold.teacher_x_test.shape[1:] == (3, 3)
        anchors = layout.anchors(fold.test_rows.numpy())
        expected = np.stack([pm[anchors + row] for row in (-2, -1, 0)], axis=1)
        assert np.allclose(fold.x_test[:, :, 0].numpy() * fold.units + fold.offset, expected, atol=1e-3)
        truth = (pm[anchors + 8] > pm[anchors]).astype(np.int64)
        assert np.array_equal(fold.y_test.numpy(), truth)


def test_protocol_trains_students_on_student_inputs_only(monkeypatch):
    config = load_config("mackey-glass-pi", TINY)
    seen = []
    original = GeneralizedDistillationTask.student_loss

    def spy(self, model, x, targets, guide, spec):
        seen.append(tuple(x.shape[1:]))
        return original(self, model, x, targets, guide, spec)

    monkeypatch.setattr(GeneralizedDistillationTask, "student_loss", spy)
    cell = run_cell(config, load_series(config.data), 5, 40, False, False)
    assert set(seen) == {(4, 1)}  # 4 past values of one column; the teacher reads 8 rows
    assert cell["inputs"]["student"] == {"rows": [-3, -2, -1, 0], "columns": ["value"]}
    assert cell["inputs"]["teacher"]["rows"] == [-3, -2, -1, 0, 3, 4, 6, 7]


def test_samples_touching_missing_values_are_skipped():
    table = np.arange(40, dtype=float)[:, None].repeat(2, axis=1)
    table[20, 1] = np.nan  # a privileged column
    layout = make_layout(["x", "w"], "x", [], ["w"], "columns", None, "all", input_length=3, horizon=2)
    valid = valid_samples(table, layout)
    anchors = layout.anchors(np.arange(len(valid)))
    assert not valid[anchors == 20].any() and not valid[anchors == 22].any() and valid[anchors == 23].all()
    assert valid[anchors == 19].all()  # reads rows 17..19 and the target at 21, not row 20


def test_change_encoder_keeps_row_t_and_is_fitted_on_training_samples():
    train = torch.tensor([[[1.0], [2.0], [4.0]], [[3.0], [3.0], [1.0]]])  # (samples, rows, columns), t last
    encoder = ChangeEncoder(anchor=2).fit(train)
    encoded = encoder.transform(train)
    assert torch.equal(encoded[:, 2], train[:, 2])
    changes = train - train[:, 2:3]
    assert torch.allclose(encoded[:, :2], changes[:, :2] / changes[:, :2].std(dim=0))
    test = torch.tensor([[[0.0], [0.0], [10.0]]])
    assert torch.allclose(encoder.transform(test)[0, 0], torch.tensor([-10.0]) / changes[:, 0].std(dim=0))


def test_nearest_training_samples_sit_beside_the_test_block():
    train = np.r_[np.arange(0, 40), np.arange(70, 100)]
    assert nearest_samples(train, np.arange(50, 60), 6).tolist() == [37, 38, 39, 70, 71, 72]


def cell_with(distilled: list[float], alone: list[float]) -> dict:
    entry = paired_comparison(distilled, alone, DISTILLED, ALONE, "accuracy")
    gain = {"mean": entry["mean"], "sem": entry["sem"]}
    return {"comparison": {f"{DISTILLED}_vs_{ALONE}": entry}, "gain": gain}


def test_verdict_needs_a_holm_corrected_paired_test_not_one_sem():
    clear = cell_with([0.9, 0.91, 0.92, 0.9, 0.91], [0.8, 0.8, 0.81, 0.79, 0.8])
    one_sem = cell_with([0.9, 0.8, 0.95, 0.7, 0.9], [0.8, 0.82, 0.8, 0.75, 0.8])  # gain 0.056 > SEM 0.039, p = 0.22
    assert one_sem["gain"]["mean"] > one_sem["gain"]["sem"]
    add_cell_verdicts([clear, one_sem], lower_is_better=False)
    assert clear["verdict"] == "helps" and one_sem["verdict"] == "not distinguishable"
    assert clear["gain"]["p_adjusted"] == clear["comparison"][f"{DISTILLED}_vs_{ALONE}"]["p_adjusted"] < 0.05
    worse = cell_with([0.8, 0.8, 0.81, 0.79, 0.8], [0.9, 0.91, 0.92, 0.9, 0.91])
    add_cell_verdicts([worse], lower_is_better=False)
    assert worse["verdict"] == "hurts"


def test_report_statements_come_from_the_numbers():
    cells = [{"horizon": 3, "train_size": 100, "gain": {"mean": 0.05, "sem": 0.01, "p_adjusted": 0.01},
              "verdict": "helps"},
             {"horizon": 8, "train_size": 100, "gain": {"mean": -0.001, "sem": 0.01, "p_adjusted": 0.9},
              "verdict": "not distinguishable"}]
    lines = helps_lines({"cells": cells})
    assert lines[0].startswith("The privileged teacher helps the student at k = 3 / n = 100 (+0.0500")
    assert lines[1].startswith("No (horizon, training size) cell where the privileged teacher hurts")
    assert "k = 8 / n = 100" in lines[2] and "k = 8" not in lines[0]


# --- recipes end to end ---------------------------------------------------------------------------------------

def test_mackey_glass_pi_writes_the_results_contract(tmp_path, capsys):
    status, out, err = run(capsys, "run", "mackey-glass-pi", "--out", str(tmp_path), *cli_args(*TINY))
    assert status == 0, err
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["protocol"] == "privileged" and results["metric"] == "accuracy"
    assert [(c["horizon"], c["train_size"]) for c in results["cells"]] == [(3, 40), (3, 80), (5, 40), (5, 80)]
    for cell in results["cells"]:
        assert set(cell["models"]) == {"teacher", DISTILLED, ALONE, "majority"}
        assert cell["samples"]["train"] == [cell["train_size"]] * 2
        scores = {name: cell["models"][name]["test"]["accuracy"] for name in (DISTILLED, ALONE)}
        gains = np.subtract(scores[DISTILLED]["per_fold"], scores[ALONE]["per_fold"])
        assert cell["gain"]["mean"] == pytest.approx(gains.mean())
        entry = cell["comparison"][f"{DISTILLED}_vs_{ALONE}"]
        assert {"mean", "sem", "ci95", "p_value", "p_adjusted", "verdict"} <= set(entry)
        assert cell["verdict"] == {"better": "helps", "worse": "hurts"}.get(entry["verdict"], "not distinguishable")
        assert "agreement" in cell["models"][DISTILLED]["fidelity_to_teacher"]
    report = (tmp_path / "report.md").read_text()
    assert "## Where the privileged teacher helps (computed)" in report and "![Test accuracy vs horizon]" in report
    assert "student rows t-3..t of value; teacher rows t-3, t-2, t-1, t, t+1, t+2, t+4, t+5" in report
    assert (tmp_path / "horizons.png").stat().st_size > 0 and "epochs: 3" in (tmp_path / "config.yaml").read_text()
    assert "helps the student" in out or "no distinguishable difference" in out
    assert "+- is the standard error of the mean (SEM) over 2 folds; accuracy is a fraction" in out


def test_value_target_and_lambda_temperature_sweep(tmp_path, capsys):
    sets = [*TINY, "target.horizons=[3]", "target.train_sizes=[60]",
            "sweep={alpha: [0, 0.5, 1], temperature: [1, 4]}"]
    status, _, err = run(capsys, "run", "mackey-glass-pi", "--out", str(tmp_path), *cli_args(*sets))
    assert status == 0, err
    results = json.loads((tmp_path / "results.json").read_text())
    sweep, cell = results["sweep"], results["cells"][0]
    assert (sweep["horizon"], sweep["train_size"]) == (3, 60)
    assert [len(row) for row in sweep["grid"]] == [3, 3]
    assert sweep["grid"][1][2]["mean"] == cell["models"]["distilled_lam1_T4"]["test"]["accuracy"]["mean"]
    assert (tmp_path / "sweep.png").stat().st_size > 0 and "## lambda x T sweep" in (tmp_path / "report.md").read_text()

    value = tmp_path / "value"
    status, _, err = run(capsys, "run", "mackey-glass-pi", "--out", str(value),
                         *cli_args(*TINY, "target.horizons=[3]", "target.kind=value"))
    assert status == 0, err
    results = json.loads((value / "results.json").read_text())
    assert results["metric"] == "mse" and "persistence" in results["cells"][0]["models"]


def test_csv_series_and_the_data_command(tmp_path, capsys):
    path = tmp_path / "mg.csv"
    status, out, _ = run(capsys, "data", "mackey-glass", "--out", str(path), "--length", "300")
    assert status == 0 and "wrote" in out and len(pd.read_csv(path)) == 300
    sets = [*TINY, "target.horizons=[3]", "data.source=csv", f"data.path={path}", "data.target=value",
            "data.time=time"]
    status, _, err = run(capsys, "run", "mackey-glass-pi", "--out", str(tmp_path / "run"), *cli_args(*sets))
    assert status == 0, err
    generated = json.loads((tmp_path / "run" / "results.json").read_text())
    assert generated["data"]["source"] == str(path) and generated["data"]["rows"] == 300


def test_pm25_pi_on_a_generated_beijing_file(tmp_path, capsys):
    write_beijing(tmp_path / "beijing.csv")
    sets = [f"data.path={tmp_path / 'beijing.csv'}", "target.horizons=[3]", "target.train_sizes=[50]", "cv.folds=2",
            "train.epochs=3", "report.latency_repeats=3"]
    status, _, err = run(capsys, "run", "pm25-pi", "--out", str(tmp_path / "run"), *cli_args(*sets))
    assert status == 0, err
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    inputs = results["cells"][0]["inputs"]
    assert inputs["student"]["columns"] == ["pm25"]
    assert inputs["teacher"]["columns"] == ["pm25", "DEWP", "TEMP", "PRES", "Iws"]
    assert inputs["teacher"]["rows"] == [-2, -1, 0, 1, 2]
    test_samples = sum(results["cells"][0]["samples"]["test"])
    assert test_samples < 400 - 2 - 3 - 10  # samples that touch the missing hours are skipped


@pytest.mark.parametrize("teacher, student", [
    ("{model: mlp, options: {hidden: [8]}}", "{model: mlp, options: {hidden: []}}"),
    ("{model: lstm, options: {hidden: 4, layers: 1, head: []}}", "{model: lstm, options: {hidden: 3, layers: 1, head: [4]}}"),
])
def test_mlp_and_lstm_teachers_and_students(teacher, student):
    config = load_config("mackey-glass-pi", [*TINY, f"teacher={teacher}", f"student={student}"])
    series = load_series(config.data)
    cell = run_cell(config, series, 3, 40, False, False)
    assert cell["models"]["teacher"]["params"] != cell["models"][ALONE]["params"]
    again = run_cell(config, series, 3, 40, False, False)
    assert again["models"][DISTILLED]["test"] == cell["models"][DISTILLED]["test"]  # same seed, same numbers


# --- bad input: one line, exit status 2 -----------------------------------------------------------------------

def write_constant_direction(path) -> None:
    pd.DataFrame({"t": np.arange(200), "level": np.arange(200.0)}).to_csv(path, index=False)


@pytest.mark.parametrize("sets, message", [
    (["privileged.kind=both", "privileged.columns=[DEWP]"], "privileged column 'DEWP' is not in the data"),
    (["privileged.kind=both", "privileged.columns=[value]"], "privileged column 'value' is also a student input"),
    (["target.horizons=[5000]"], "horizon 5000 leaves 0 usable samples"),
    (["distill.alpha=1.5"], "bad value for distill.alpha: 1.5"),
    (["distill.alpha=-0.1"], "bad value for distill.alpha: -0.1"),
    (["distill.temperature=0"], "bad value for distill.temperature: 0"),
    (["sweep={alpha: [2], temperature: [1]}"], "bad value for sweep.alpha.0: 2"),
    (["sweep={alpha: [1], temperature: [-1]}"], "bad value for sweep.temperature.0: -1"),
    (["privileged.offsets=[-3]"], "privileged offset -3 at horizon 3 points at time t"),
    (["target.train_sizes=[5000]"], "training size 5000 exceeds"),
])
def test_bad_input_is_one_line_with_status_2(tmp_path, capsys, sets, message):
    status, _, err = run(capsys, "run", "mackey-glass-pi", "--out", str(tmp_path), *cli_args(*TINY, *sets))
    assert status == 2
    assert err.startswith("distill: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "results.json").exists()


def test_constant_target_is_an_error(tmp_path, capsys):
    write_constant_direction(tmp_path / "up.csv")
    sets = [*TINY, "data.source=csv", f"data.path={tmp_path / 'up.csv'}", "data.target=level", "data.time=t"]
    status, _, err = run(capsys, "run", "mackey-glass-pi", "--out", str(tmp_path / "out"), *cli_args(*sets))
    assert status == 2 and "constant target" in err and "up" in err and err.count("\n") == 1


def test_pm25_pi_without_a_file_says_one_is_needed(tmp_path, capsys):
    status, _, err = run(capsys, "run", "pm25-pi", "--out", str(tmp_path), "--no-progress")
    assert status == 2 and "set data.path=FILE" in err and err.count("\n") == 1
