"""Issue 22's targets, measured at rolling origins: quantile teacher and students against the Hub's baseline.

Per data set (simulator seeds, then real v3 location files), forecast origins every `--step` days over the last
`--test-share` of the windows. At each origin every model has been trained only on windows whose 14 target days
end by the origin (refitted every `--refit-every` origins; the origins in between are forecast with the last
fit, which saw only their past). Inner validation (the latest 20% of those windows, purged) picks each model's
best epoch. The models are the covid-lstm recipe's, each with the non-crossing quantile head over the Hub's 23
levels (`distill.models.quantile`):
- teacher: rnn (LSTM 64), pinball loss on the truth;
- student_kd: mlp [64, 64], pinball loss against the teacher's quantiles (lambda = 1);
- student_scratch: the same mlp, pinball loss on the truth (lambda = 0);
- baseline: the Forecast Hub's baseline from each series' whole history up to the origin.
Each trained model is also given `+conformal`: its quantiles recalibrated on the same inner-validation windows
(`ConformalQuantiles`, log scale: each level shifted by its own residual quantile, per horizon day).
Printed: WIS (mean +- SEM over origins), its parts, relative WIS (overall, days 1 / 7 / 14), coverage of the
50 / 80 / 95% intervals, the share of the teacher's WIS improvement student_kd keeps, and paired t-tests over
origins with Holm's correction ("not distinguishable" unless p_adjusted < 0.05).

    PYTHONPATH=src python benchmarks/bench_quantiles.py [--data sim0 sim1 sim2 US_FL US_NY_36061] [--epochs 60]
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from distill.core.train import fit, predict
from distill.data.window_scaling import WindowLogScaler
from distill.data.windows import inner_validation
from distill.losses.pinball import HUB_LEVELS, pinball_loss, quantile_distillation_loss
from distill.models import build_model
from distill.protocols import load_config
from distill.protocols.forecast.quantiles import ConformalQuantiles, hub_baseline_quantiles, score_quantiles
from distill.protocols.forecast.run import load_frame, select_features
from distill.protocols.forecast.windows import WindowTable, make_window_table

REAL = Path(__file__).resolve().parents[1] / ".." / ".." / "shared" / "data" / "covid-19-open-data"
LEVELS = torch.tensor(HUB_LEVELS)
TEACHER = ("rnn", {"cell": "lstm", "hidden": 64, "layers": 1, "dropout": 0.2})
STUDENT = ("mlp", {"hidden": [64, 64], "dropout": 0.2, "output": "none"})
TRAINED = ("teacher", "student_kd", "student_scratch")
CALIBRATED = tuple(f"{name}+conformal" for name in TRAINED)
MODELS = (*TRAINED, *CALIBRATED, "baseline")


@dataclass
class Series:
    name: str
    table: WindowTable
    target: np.ndarray  # (days,) the observed target, NaN where unreported
    target_index: int
    input_days: int
    horizon: int


def load_series(name: str, real_dir: Path) -> Series:
    overrides = [f"data.sim_seed={name[3:]}"] if name.startswith("sim") else [f"data.path={real_dir / (name + '.csv')}"]
    config = load_config("covid-lstm", overrides)
    clean, _, oracle = load_frame(config)
    frame = select_features(clean.frame, config.data.features, config.data.target)
    values = frame.to_numpy(dtype=np.float64)
    table = make_window_table(values, clean.target, config.data.input_days, config.data.horizon, oracle)
    return Series(name, table, np.asarray(clean.target, dtype=np.float64), frame.columns.get_loc(config.data.target),
                  config.data.input_days, config.data.horizon)


def origins(series: Series, test_share: float, step: int) -> np.ndarray:
    """Window positions whose last input day is a forecast origin: every `step` days over the test share."""
    starts = series.table.starts
    first = starts[int(len(starts) * (1.0 - test_share))]
    return np.flatnonzero((starts >= first) & ((starts - first) % step == 0))


def train_quantile_model(family: tuple[str, dict], x: torch.Tensor, y: torch.Tensor, fit_rows: np.ndarray,
                         val_rows: np.ndarray, horizon: int, *, epochs: int, seed: int,
                         teacher: torch.Tensor | None = None, lam: float = 0.0) -> torch.nn.Module:
    """A quantile model trained with the pinball loss (or, with `teacher` quantiles, the quantile-distillation
    mix), keeping the epoch with the lowest inner-validation pinball loss on the truth."""
    torch.manual_seed(seed)
    model = build_model("quantile", tuple(x.shape[1:]), horizon, base=family[0], base_options=family[1])
    x_fit, y_fit, x_val, y_val = x[fit_rows], y[fit_rows], x[val_rows], y[val_rows]
    t_fit = None if teacher is None else teacher[fit_rows]

    def batch_loss(rows: torch.Tensor) -> torch.Tensor:
        q = model(x_fit[rows])
        if t_fit is None:
            return pinball_loss(q, y_fit[rows], LEVELS)
        return quantile_distillation_loss(q, t_fit[rows], y_fit[rows], lam=lam, levels=LEVELS)

    best = {"loss": float("inf"), "state": None, "waited": 0}

    def on_epoch_end(epoch: int) -> bool:
        loss = float(pinball_loss(predict(model, x_val), y_val, LEVELS))
        if loss < best["loss"]:
            best.update(loss=loss, waited=0, state={k: v.detach().clone() for k, v in model.state_dict().items()})
        else:
            best["waited"] += 1
        return best["waited"] >= 10

    fit(model, batch_loss, len(fit_rows), epochs=epochs, batch_size=64, lr=1e-3, seed=seed, on_epoch_end=on_epoch_end)
    model.load_state_dict(best["state"])
    return model.eval()


def decode_quantiles(scaler: WindowLogScaler, table: WindowTable, outputs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(rows, horizon, levels) model-space quantiles -> patients/day (a monotone map: quantiles stay quantiles)."""
    return np.stack([scaler.decode(table.inputs, outputs[..., j], rows) for j in range(outputs.shape[-1])], axis=-1)


def forecast_origins(series: Series, test_share: float, step: int, refit_every: int, epochs: int,
                     seed: int) -> tuple[dict[str, np.ndarray], np.ndarray, float]:
    """Quantile forecasts (origins, horizon, levels) per model, the truth (origins, horizon), seconds per refit."""
    table, span = series.table, series.input_days + series.horizon
    test = origins(series, test_share, step)
    relative = WindowLogScaler(series.target_index).relative_inputs(table.inputs)
    forecasts = {name: [] for name in MODELS}
    seconds = []
    for block in range(0, len(test), refit_every):
        rows = test[block:block + refit_every]
        start = time.perf_counter()
        train = np.flatnonzero(table.starts <= table.starts[rows[0]] - series.horizon)  # targets end by the origin
        fit_rows, val_rows = inner_validation(train, span, 0.2, table.starts)
        scaler = WindowLogScaler(series.target_index).fit(table.inputs, table.targets, fit_rows, relative)
        x = scaler.scaling()(torch.from_numpy(relative.copy()))  # (windows, days, features)
        y = torch.from_numpy(scaler.encode_targets(table.inputs, table.targets))  # (windows, horizon)
        teacher = train_quantile_model(TEACHER, x, y, fit_rows, val_rows, series.horizon, epochs=epochs, seed=seed)
        guide = predict(teacher, x)  # (windows, horizon, levels): the teacher's quantiles, computed once
        trained = {"teacher": teacher,
                   "student_kd": train_quantile_model(STUDENT, x, y, fit_rows, val_rows, series.horizon,
                                                      epochs=epochs, seed=seed, teacher=guide, lam=1.0),
                   "student_scratch": train_quantile_model(STUDENT, x, y, fit_rows, val_rows, series.horizon,
                                                           epochs=epochs, seed=seed)}
        seconds.append(time.perf_counter() - start)
        for name, model in trained.items():
            outputs = predict(model, x[torch.from_numpy(rows)]).numpy()
            forecasts[name].append(decode_quantiles(scaler, table, outputs, rows))
            validation = decode_quantiles(scaler, table, predict(model, x[torch.from_numpy(val_rows)]).numpy(), val_rows)
            conformal = ConformalQuantiles(scale="log").fit(validation, table.targets[val_rows])
            forecasts[f"{name}+conformal"].append(conformal.transform(forecasts[name][-1]))
        for row in rows:
            origin_day = table.starts[row] + series.input_days - 1
            forecasts["baseline"].append(hub_baseline_quantiles(series.target[:origin_day + 1], series.horizon,
                                                                seed=seed)[None])
    return ({name: np.concatenate(parts) for name, parts in forecasts.items()}, table.targets[test],
            float(np.mean(seconds)))


PAIRS = [("teacher", "baseline"), ("student_kd", "baseline"), ("student_scratch", "baseline"),
         ("student_kd", "student_scratch"), ("student_kd", "teacher"), ("teacher+conformal", "baseline"),
         ("teacher+conformal", "teacher"), ("student_kd+conformal", "student_scratch+conformal")]


def kept_improvement(models: dict, student: str, teacher: str) -> float:
    """Share of the teacher's mean-WIS improvement over the baseline that the student keeps."""
    base = models["baseline"]["wis"]["mean"]
    improvement = base - models[teacher]["wis"]["mean"]
    return (base - models[student]["wis"]["mean"]) / improvement if improvement > 0 else float("nan")


def print_scores(name: str, scores: dict, seconds: float) -> None:
    print(f"\n== {name}: {scores['groups']} origins, {seconds:.1f} s per refit (3 models) ==")
    print(f"{'model':26s} {'WIS':>16s} {'disp':>7s} {'over':>7s} {'under':>7s} {'relWIS':>6s} {'d1':>5s} {'d7':>5s} "
          f"{'d14':>5s} {'cov50':>5s} {'cov80':>5s} {'cov95':>5s}")
    for model, entry in scores["models"].items():
        wis, parts, rel, cov = (entry[key] for key in ("wis", "parts", "relative_wis", "coverage"))
        days = rel["per_horizon"]
        print(f"{model:26s} {wis['mean']:8.2f} +- {wis['sem']:5.2f} {parts['dispersion']:7.2f} "
              f"{parts['overprediction']:7.2f} {parts['underprediction']:7.2f} {rel['overall']:6.3f} {days[0]:5.2f} "
              f"{days[6]:5.2f} {days[-1]:5.2f} {cov['50%']:5.2f} {cov['80%']:5.2f} {cov['95%']:5.2f}")
    raw = kept_improvement(scores["models"], "student_kd", "teacher")
    calibrated = kept_improvement(scores["models"], "student_kd+conformal", "teacher+conformal")
    print(f"student_kd keeps {raw:.0%} of the teacher's WIS improvement over the baseline ({calibrated:.0%} with "
          "both conformal)")
    for key, entry in scores["comparisons"].items():
        print(f"  {key}: {entry['mean']:+.2f} +- {entry['sem']:.2f} WIS, p_holm = {entry['p_adjusted']:.3g} "
              f"-> {entry['verdict']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["sim0", "sim1", "sim2", "US_FL", "US_NY_36061"])
    parser.add_argument("--real-dir", type=Path, default=REAL.resolve())
    parser.add_argument("--test-share", type=float, default=0.3)
    parser.add_argument("--step", type=int, default=7)
    parser.add_argument("--refit-every", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figures", type=Path, help="folder for each data set's calibration and WIS-parts figures")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.data:
        series = load_series(name, args.real_dir)
        forecasts, truth, seconds = forecast_origins(series, args.test_share, args.step, args.refit_every,
                                                     args.epochs, args.seed)
        scores = score_quantiles(forecasts, truth, np.arange(len(truth)), baseline="baseline", pairs=PAIRS)
        print_scores(name, scores, seconds)
        if args.figures:
            from distill.protocols.forecast.quantile_figures import plot_calibration, plot_wis_parts

            args.figures.mkdir(parents=True, exist_ok=True)
            models = scores["models"]
            plot_calibration({model: entry["level_coverage"] for model, entry in models.items()}, HUB_LEVELS,
                             args.figures / f"{name}-calibration.png", name)
            plot_wis_parts({model: entry["parts"] for model, entry in models.items()},
                           args.figures / f"{name}-wis-parts.png", "patients/day", name)


if __name__ == "__main__":
    main()
