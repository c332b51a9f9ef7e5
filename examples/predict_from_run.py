"""Load a trained student from a finished forecasting run and forecast the days after a table's last day.

    python examples/forecast_from_python.py --out runs/demo                   # a run to serve
    python examples/predict_from_run.py runs/demo                              # forecast with its student_kd
    python examples/predict_from_run.py runs/demo --data US_TX.csv --model teacher

Without `--data` the script writes the simulated table the run was trained on (`distill data covid-sim`) and
forecasts the `horizon` days after it. `distill.load` is what `distill predict` calls (docs/serving.md).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd

import distill
from distill.data.covid_sim import write_covid_sim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a finished forecasting run's folder")
    parser.add_argument("--data", help="a COVID-19 Open Data v3 location file (default: the simulated table)")
    parser.add_argument("--model", default="student_kd", help="which trained model (default student_kd)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data = args.data or write_covid_sim(Path(scratch) / "covid-sim.csv")
        table = pd.read_csv(data)
    predictor = distill.load(args.run, args.model)  # the final model when the run saved one, else fold 1
    forecast = predictor.predict(table)  # DataFrame: date, then the forecast target in its own units
    print(forecast.to_string(index=False))


if __name__ == "__main__":
    main()
