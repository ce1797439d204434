"""`python -m pipeline compare --dataset D --models DeepFM,DCN,...`: every model trained on the same
Transform output and evaluated by the same Evaluator config, then a leaderboard.

All models run as the same pipeline in one root, so ExampleGen, StatisticsGen, SchemaGen and
Transform run once and are cached for the others (TFX's cache: same inputs, same code); only
Trainer, Evaluator and Pusher run per model. `--model-arg` values go to every model. The
leaderboard is written to `<root>/leaderboard.md` and `.json`; the HTML report shows it. Both
are written to a temporary file beside them and renamed over the old ones (data/writing.py's
`atomic_text_file`), so a failed or killed write leaves the previous leaderboard readable."""
import dataclasses
import json
import os
from typing import Dict, List, Tuple

from data.writing import atomic_text_file
from pipeline.options import RunOptions

LEADERBOARD_JSON = "leaderboard.json"
LEADERBOARD_MD = "leaderboard.md"


def leaderboard_row(report) -> Dict:
    """One model's line, from its run summary (TFMA metrics and the Trainer's summary)."""
    training = report.training or {}
    overall = report.overall or {}
    return {"model": training.get("model"), "model_args": training.get("model_args", {}),
            "auc": overall.get("auc"), "logloss": overall.get("binary_crossentropy"),
            "mse": overall.get("mean_squared_error"),
            "parameters": training.get("parameters"),
            "train_seconds": training.get("train_seconds"),
            "examples_per_second": training.get("examples_per_second"),
            "run_id": report.run_id, "blessed": report.blessed}


def format_leaderboard(rows: List[Dict]) -> str:
    """A Markdown table, best test AUC first (the Evaluator's split)."""
    def cell(value, digits):
        if value is None:
            return "–"
        return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"

    lines = ["| # | model | test AUC | logloss | parameters | train time (s) | examples/s |",
             "|--:|:--|--:|--:|--:|--:|--:|"]
    for i, row in enumerate(rows, 1):
        lines.append(f"| {i} | {row['model']} | {cell(row['auc'], 4)} | "
                     f"{cell(row['logloss'], 4)} | {cell(row['parameters'], 0)} | "
                     f"{cell(row['train_seconds'], 1)} | {cell(row['examples_per_second'], 0)} |")
    return "\n".join(lines)


def sort_rows(rows):
    return sorted(rows, key=lambda r: (r["auc"] is None, -(r["auc"] or 0.0),
                                       r["mse"] if r["mse"] is not None else 0.0))


@dataclasses.dataclass(frozen=True)
class CompareOptions:
    """`compare`: the run options (their --model is replaced by each of `models` in turn)."""
    run: RunOptions
    models: Tuple[str, ...]


def compare_options(args) -> CompareOptions:
    """The parsed `compare` arguments; --models is a comma-separated list."""
    from pipeline.options import run_options
    return CompareOptions(run=run_options(args),
                          models=tuple(m.strip() for m in args.models.split(",") if m.strip()))


def compare(options: CompareOptions, out=print):
    """Runs the pipeline once per model in `options.models` (same data, root and settings);
    writes and prints the leaderboard; returns the last model's run summary."""
    from ctr_models.models import get_model_fn
    from pipeline.run import run_pipeline
    if not options.models:
        raise SystemExit("--models: give at least one model name")
    for model in options.models:  # every name is checked before anything runs
        try:
            get_model_fn(model)
        except Exception as error:
            raise SystemExit(f"--models: {error}") from None
    rows, report = [], None
    for i, model in enumerate(options.models, 1):
        out(f"== {model} ({i}/{len(options.models)})")
        run = dataclasses.replace(
            options.run, training=dataclasses.replace(options.run.training, model=model))
        report = run_pipeline(run)
        row = leaderboard_row(report)
        rows.append(row)
        out(f"   {model}: test AUC {row['auc'] if row['auc'] is None else round(row['auc'], 4)}"
            f", {row['examples_per_second']} examples/s")
    rows = sort_rows(rows)
    table = format_leaderboard(rows)
    with atomic_text_file(os.path.join(options.run.root, LEADERBOARD_MD)) as f:
        f.write(table + "\n")
    with atomic_text_file(os.path.join(options.run.root, LEADERBOARD_JSON)) as f:
        json.dump({"dataset": options.run.dataset, "train_steps": (report.training or {}).get(
            "train_steps"), "batch_size": (report.training or {}).get("batch_size"),
            "rows": rows}, f, indent=2)
    out("")
    out(table)
    return report
