"""The `distill` command: list recipes, run one, generate the embedded data sets.

  distill recipes [NAME]
  distill run NAME|FILE.yaml [--out DIR] [--set key=value ...] [--no-progress] [--nproc N] [--resume]
  distill data covid-sim --out FILE [--days N] [--seed S]
  distill data mackey-glass --out FILE [--length N] [--tau T] [--noise SD] [--seed S]
  distill data pm25-like --out FILE [--hours N] [--seed S]
  distill export RUN_DIR NAME [--fold K] [--format torch|onnx] [--quantize int8] [--out FILE] [--device D]
  distill predict RUN_DIR --data FILE|FOLDER [--model NAME] [--fold K|final] [--out FILE.csv] [--intervals] [--quantiles]

A problem in the user's input prints one line (`distill: error: ...`) and exits with status 2.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from distill import protocols
from distill.config import read_recipe, recipe_names, recipe_time, recipe_time_text
from distill.data.covid import read_table
from distill.data.mackey_glass import write_mackey_glass
from distill.data.pm25 import write_pm25_like
from distill.errors import DistillError
from distill.io.atomic import write_failed, write_text_atomic
from distill.io.run_writer import default_out_dir
from distill.protocols.serve import export_run_model, load_predictor, run_protocol_name

SUMMARY_CHARS = 100
TRUST_HELP = ("build a model the run's results.json names by import path (package.module:Factory), which imports "
              "and runs that code: only for run folders you trust")


def one_line(description: str, limit: int = SUMMARY_CHARS) -> str:
    """The description's text up to its first colon, semicolon or sentence end, cut at a word to `limit`."""
    text = re.split(r": |; |\.\s+(?=[A-Z])", " ".join(description.split()))[0]
    return text if len(text) <= limit else text[:limit - 3].rsplit(" ", 1)[0] + "..."


def _cmd_recipes(args: argparse.Namespace) -> None:
    if args.name is not None:
        _show_recipe(args.name)
        return
    names = recipe_names()
    width = max(map(len, names))
    times = {name: recipe_time_text(recipe_time(name), short=True) for name in names}
    time_width = max(map(len, times.values()))
    for name in names:
        print(f"{name.ljust(width)}  {times[name].ljust(time_width)}  {one_line(read_recipe(name).get('description', ''))}")
    print("\ntimes: the full recipe's expected time, measured by benchmarks/bench_recipe_times.py ('?': not measured "
          "yet); `distill recipes NAME` shows the description, the config and how the time was measured")


def _show_recipe(name: str) -> None:
    """A built-in recipe's full description, its expected time (measured) and its YAML config."""
    if name not in recipe_names():
        raise DistillError(f"unknown recipe {name!r}; built-in: {', '.join(recipe_names())}")
    raw = read_recipe(name)
    print(f"{name}\n\n{' '.join(str(raw.get('description', '')).split())}\n")
    print(f"expected time: {recipe_time_text(recipe_time(name))}\n")
    print(f"config (distill run {name} --set KEY=VALUE changes a key):\n")
    print(config_text(name).rstrip())


def config_text(name: str) -> str:
    """The recipe's YAML file as shipped, comments included."""
    from distill.config import RECIPES

    return (RECIPES / f"{name}.yaml").read_text()


def _cmd_run(args: argparse.Namespace) -> None:
    config = protocols.load_config(args.recipe, args.set or [])
    if args.out is not None and not args.out.strip():
        raise DistillError("--out is empty; give the run folder (or leave --out out for runs/<recipe>-<time>)")
    if args.resume and not args.out:
        raise DistillError("--resume needs --out DIR, the folder the interrupted run was writing")
    out_dir = Path(args.out) if args.out else default_out_dir(config.name)
    summary = protocols.execute(config, out_dir, show_progress=False if args.no_progress else None, nproc=args.nproc,
                                resume=args.resume)
    if summary:  # "" from the ranks that do not write, and after --nproc (rank 0 printed it)
        print(summary)


def _cmd_covid_sim(args: argparse.Namespace) -> None:
    from distill.data.covid_sim import write_covid_sim  # imported here: its scipy.stats costs every command ~0.5 s

    print(f"wrote {write_covid_sim(args.out, days=args.days, seed=args.seed)}")


def _cmd_mackey_glass(args: argparse.Namespace) -> None:
    print(f"wrote {write_mackey_glass(args.out, args.length, tau=args.tau, seed=args.seed, noise=args.noise)}")


def _cmd_pm25_like(args: argparse.Namespace) -> None:
    path = write_pm25_like(args.out, hours=args.hours, seed=args.seed)
    print(f"wrote {path} (SYNTHETIC, the UCI Beijing PM2.5 layout; try: distill run pm25-pi --set data.path={path})")


def _cmd_export(args: argparse.Namespace) -> None:
    for line in export_run_model(args.run_dir, args.name, args.fold, args.format, args.quantize, args.out, args.device,
                                 args.trust_imports):
        print(line)


def _fold(text: str) -> int | str:
    """--fold: a fold number or `final`."""
    if text == "final":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fold number or 'final', got {text!r}") from None


def _cmd_predict(args: argparse.Namespace) -> None:
    options = {key: True for key in ("intervals", "quantiles") if getattr(args, key)}
    predictor = load_predictor(args.run_dir, args.model, args.fold, trust_imports=args.trust_imports, **options)
    data = read_table(args.data) if run_protocol_name(args.run_dir) == "forecast" else Path(args.data)
    table = predictor.predict(data)
    text = table.to_csv(index=False, float_format="%.6g")
    if args.out:
        if Path(args.out).is_dir():
            raise DistillError(f"--out {args.out} is a folder; give the CSV file to write")
        try:
            print(f"wrote {write_text_atomic(Path(args.out), text)}", file=sys.stderr)
        except OSError as error:
            raise write_failed(args.out, error) from None
    else:
        sys.stdout.write(text)
    print(f"# {predictor.describe()}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distill", description="Knowledge distillation with honest, "
                                     "cross-validated teacher vs student comparisons.")
    commands = parser.add_subparsers(dest="command", required=True)
    recipes = commands.add_parser("recipes", help="list the built-in recipes, or show one",
                                  description="Without NAME: every built-in recipe with its measured time and a "
                                  "one-line summary. With NAME: its full description, expected time and config.")
    recipes.add_argument("name", nargs="?", help="a built-in recipe to show in full")
    recipes.set_defaults(handler=_cmd_recipes)
    run = commands.add_parser("run", help="run a recipe (built-in name or YAML file)")
    run.add_argument("recipe", help="recipe name (see `distill recipes`) or path to a YAML config")
    run.add_argument("--out", help="output folder (default runs/<recipe>-<timestamp>)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="override a config key, e.g. --set train.epochs=20 (repeatable)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.add_argument("--nproc", type=int, default=1, help="train on N local processes with DistributedDataParallel "
                     "(gloo on CPU, NCCL on GPUs; classification recipes); or run the command under torchrun")
    run.add_argument("--resume", action="store_true", help="continue a killed run into --out DIR from its last "
                     "saved epoch (same recipe and --set options); the results equal an uninterrupted run's")
    run.set_defaults(handler=_cmd_run)
    data = commands.add_parser("data", help="write an embedded data set to a file",
                               description="Write a generated data set as CSV; each generator has its own options "
                               "(distill data GENERATOR --help).")
    generators = data.add_subparsers(dest="generator", required=True, metavar="GENERATOR")
    covid = generators.add_parser("covid-sim", help="a simulated epidemic in the COVID-19 Open Data v3 layout",
                                  description="A simulated epidemic in the COVID-19 Open Data v3 layout (the "
                                  "columns the forecasting recipes read), deterministic for a seed.")
    covid.add_argument("--out", required=True, help="CSV file to write")
    covid.add_argument("--days", type=int, default=860, help="days to simulate (default 860)")
    covid.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    covid.set_defaults(handler=_cmd_covid_sim)
    mackey = generators.add_parser("mackey-glass", help="the Mackey-Glass delay series (columns date, value)",
                                   description="The Mackey-Glass delay differential equation sampled once per day "
                                   "(columns date, value), with optional observation noise.")
    mackey.add_argument("--out", required=True, help="CSV file to write")
    mackey.add_argument("--length", type=int, default=2500, help="values to generate (default 2500)")
    mackey.add_argument("--tau", type=int, default=17, help="delay (default 17, chaotic)")
    mackey.add_argument("--noise", type=float, default=0.0, help="noise standard deviation (default 0)")
    mackey.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    mackey.set_defaults(handler=_cmd_mackey_glass)
    pm25 = generators.add_parser("pm25-like", help="a SYNTHETIC hourly series in the UCI Beijing PM2.5 layout",
                                 description="A synthetic hourly series in the UCI 'Beijing PM2.5' layout (pm2.5, "
                                 "DEWP, TEMP, PRES, cbwd, Iws, ... with missing hours), so that pm25-pi runs "
                                 "without the UCI file; not measured air quality, and labelled synthetic in the "
                                 "report.")
    pm25.add_argument("--out", required=True, help="CSV file to write")
    pm25.add_argument("--hours", type=int, default=8760, help="hours to generate (default 8760, one year)")
    pm25.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    pm25.set_defaults(handler=_cmd_pm25_like)
    export = commands.add_parser("export", help="write a trained model of a run as a torch.export program")
    export.add_argument("run_dir", help="the --out folder of a finished run")
    export.add_argument("name", help="model name, e.g. student_kd (see results.json `checkpoints`)")
    export.add_argument("--fold", type=_fold, help="a fold model 1..K, or final (default: final if saved, else 1)")
    export.add_argument("--out", help="file to write (default RUN_DIR/models/NAME-<final|foldK>[-int8].<pt2|onnx|pt>)")
    export.add_argument("--format", choices=["torch", "onnx"], default="torch",
                        help="torch: a torch.export program (.pt2); onnx: ONNX checked in onnxruntime (needs .[serve])")
    export.add_argument("--quantize", choices=["int8"], help="int8 dynamic quantisation of the Linear and LSTM "
                        "layers (onnx: onnxruntime's quantiser; torch: TorchScript); its accuracy change on the CV "
                        "test folds is written beside the file")
    export.add_argument("--device", default="cpu", help="where the program runs: cpu (default), cuda, cuda:N, mps")
    export.add_argument("--trust-imports", action="store_true", help=TRUST_HELP)
    export.set_defaults(handler=_cmd_export)
    serve = commands.add_parser("predict", help="forecast (or classify) new data with a trained model of a run")
    serve.add_argument("run_dir", help="the --out folder of a finished forecasting or classification run")
    serve.add_argument("--data", required=True, help="forecasting: a CSV in the layout the run was trained on; "
                       "classification: an image file or a folder of images")
    serve.add_argument("--model", default="student_kd", help="which trained model (default student_kd)")
    serve.add_argument("--fold", type=_fold, help="a fold model 1..K, or final (default: final if saved, else 1)")
    serve.add_argument("--out", help="CSV file to write (default: standard output)")
    serve.add_argument("--intervals", action="store_true",
                       help="forecasting: add calibrated central 50/80/95%% intervals (a quantile model's own "
                       "quantiles; a point model's inner-validation residual quantiles)")
    serve.add_argument("--quantiles", action="store_true",
                       help="forecasting, runs with data.quantiles: hub: the Forecast Hub's CSV format "
                       "(23 quantiles and the median per day)")
    serve.add_argument("--trust-imports", action="store_true", help=TRUST_HELP)
    serve.set_defaults(handler=_cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except DistillError as error:
        print(f"distill: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("distill: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
