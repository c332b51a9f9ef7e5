"""What a forecasting run hands the run writer: models and scalings, figures, report.md, the terminal summary."""
from __future__ import annotations

from distill.io.run_writer import RunOutput, TrainedModels
from distill.io.tables import text_table
from distill.protocols.forecast.config import ForecastConfig
from distill.protocols.forecast.data_choice import data_choice_line
from distill.protocols.forecast.quantile_run import quantile_config
from distill.protocols.forecast.report import (
    ForecastRun,
    best_baseline_line,
    forecast_markdown,
    privileged_line,
    score_table,
    verdict_lines,
    write_scalings,
)
from distill.protocols.forecast.student_view import with_target_index

SUMMARY_VERDICTS = ("teacher_vs_persistence", "teacher_vs_best_baseline", "student_kd_vs_teacher",
                    "student_kd_vs_best_baseline", "student_kd_vs_student_scratch")


def forecast_output(run: ForecastRun, config: ForecastConfig) -> RunOutput:
    """Every fold's models and scaling, figures, report.md, results.json, and the table for the terminal."""
    config = quantile_config(config)  # the specs the models were built from (data.quantiles: hub wraps them)
    config = with_target_index(config, run.scalings[0]["columns"].index(config.data.target))  # issue 19
    results, protocol = run.results, run.protocol
    final = run.final
    trained = TrainedModels(protocol.models, {"teacher": protocol.teacher_specs, **config.students},
                            protocol.input_shapes(), final=final.models if final else {},
                            final_specs=final.specs if final else {})
    unit = results["data"]["unit"]
    shown = {key: entry for key, entry in results["comparison"].items() if key in SUMMARY_VERDICTS}
    dropped = [f"dropped {len(names)} {reason.replace('_', ' ')} column(s) (judged on "
               f"{results['data']['columns_judged_on']}): " + ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
               for reason, names in results["dropped_columns"].items() if names and reason not in ("text", "cumulative")]
    summary = [*dropped, f"test error in {unit}, mean +- SEM over {results['folds']} {_units(config)}:",
               text_table(score_table(results["models"], results["data"]["oracle"],
                                      bool(results["data"].get("privileged")))),
               *privileged_line(results["data"].get("privileged", []), markdown=False), "",
               *results["warnings"], *data_choice_line(results), best_baseline_line(results), *verdict_lines(shown, unit)]
    return RunOutput(results=results, figures=lambda out_dir: _figures(run, config, out_dir),
                     report=lambda figures: forecast_markdown(results, config, figures), summary=summary,
                     trained=[trained],
                     files=lambda out_dir: _scaling_files(run, config, out_dir))


def _units(config: ForecastConfig) -> str:
    """What the folds are called: refit blocks of rolling origins, or folds."""
    return "refit blocks of rolling origins" if config.cv.split == "rolling" else "folds"


def _figures(run: ForecastRun, config: ForecastConfig, out_dir) -> dict[str, str]:
    from distill.protocols.forecast.figures import forecast_figures  # imported here: matplotlib would add ~27 MB
    return forecast_figures(run, config, out_dir)                  # to the peak memory of training


def _scaling_files(run: ForecastRun, config: ForecastConfig, out_dir) -> dict:
    """Every fold's scaling (and the final models') beside the models; their paths for results.json."""
    files = {"scalings": write_scalings(run.scalings, config, out_dir)}
    if run.final is not None:
        files["final_fit"] = {**run.results["final_fit"],
                              "scaling": write_scalings([run.final.scaling], config, out_dir, ["final"])[0]}
    return files
