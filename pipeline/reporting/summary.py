"""The console summary of a run, read back from ML-Metadata (pipeline.reporting.metadata) and
the Evaluator's output (pipeline.reporting.metrics): per-component wall time, overall and
per-slice metrics, blessing, pushed model."""
import dataclasses
import json
import logging
import math
import os
from typing import Dict, List, Optional

from pipeline.reporting import metadata, metrics
from pipeline.reporting.metadata import ComponentRun

# components/drift.py's RESULT_FILE in the DriftCheck's output (read as JSON: no TFX import here)
DRIFT_FILE = "drift.json"


@dataclasses.dataclass
class RunReport:
    pipeline_name: str
    run_id: str
    components: List[ComponentRun]
    overall: Dict[str, float]
    slices: List[tuple]  # (slice name, metrics dict), worst AUC first
    blessed: Optional[bool]
    pushed_model: Optional[str]
    evaluation_uri: Optional[str]
    model_uri: Optional[str]
    training: Dict
    # multi-task models: overall eval metrics per output (label name); `overall` is then empty
    tasks: Dict[str, Dict[str, float]] = dataclasses.field(default_factory=dict)
    # why the Evaluator did not bless: one line per failed threshold (task, metric, value, bound)
    failures: List[str] = dataclasses.field(default_factory=list)
    # span numbers the model was trained on (span-based input only; pipeline/spans.py)
    spans: List[int] = dataclasses.field(default_factory=list)
    # how batch, epochs and steps were set (pipeline.run.TrainingSchedule); set by run_pipeline
    schedule: Optional[object] = None
    # retrain's drift check (components/drift.py's drift.json): baseline, drift and skew rows
    drift: Optional[Dict] = None

    def component(self, node_id):
        return next(c for c in self.components if c.node_id == node_id)

    def worst_slices(self, count=5, min_examples=50):
        """The `count` slices with the lowest AUC among those with at least `min_examples`."""
        big = [s for s in self.slices if s[1].get("example_count", 0) >= min_examples]
        return big[:count]

    def format(self, worst=5, timings=True):
        """The summary; `timings=False` leaves out the per-component table (for a console that
        already printed a line per component)."""
        total = sum(c.seconds for c in self.components)
        lines = [f"Pipeline {self.pipeline_name}, run {self.run_id}"]
        if timings:
            lines += ["", "Component wall time:"]
            for c in self.components:
                lines.append(f"  {c.node_id:<32} {c.seconds:8.1f} s  {c.state}")
            lines.append(f"  {'total':<32} {total:8.1f} s")
        else:
            lines[0] += f" ({total:.0f} s in components)"
        if self.spans:
            lines.append(f"Data spans: {', '.join(map(str, self.spans))}")
        lines += drift_lines(self.drift)
        if self.training:
            lines.append("")
            # steps run (fewer than planned after an early stop); older summaries: as planned
            steps = self.training.get("steps_run") or self.training.get("train_steps")
            batch = self.training.get("batch_size")
            seen = ""
            if steps and batch:  # batches cycle through the split: rows repeat when it is small
                seen = f" = {steps * batch:,} examples"
                rows = self.training.get("train_rows")  # counted by the Trainer
                approx = "" if rows else "~"
                rows = rows or getattr(self.schedule, "train_rows", 0)  # else the expected size
                if rows:
                    passes = f"{steps * batch / rows:.3g}"
                    seen += (f" ({passes} {'pass' if passes == '1' else 'passes'} over "
                             f"{approx}{rows:,} training rows)")
            lines.append(f"Training: {self.training.get('model')} {self.training.get('model_args')}"
                         f", {steps} steps x batch {batch}{seen}, "
                         f"{self.training.get('examples_per_second')} examples/s"
                         f"{_early_stopping_note(self.training)}")
            note = self.schedule.describe() if self.schedule is not None else ""
            if note:
                lines.append(f"  {note}")
        if self.overall or self.tasks:
            lines += ["", "Evaluation (test split):"]
            if self.overall:
                lines.append(f"  {'overall':<24} " + _format_metrics(self.overall))
            for task, task_metrics in self.tasks.items():
                lines.append(f"  {'task ' + task:<24} " + _format_metrics(task_metrics))
            worst_slices = self.worst_slices(worst)
            if worst_slices:
                lines.append("  worst slices (>= 50 examples, lowest AUC first):")
            for name, slice_metrics in worst_slices:
                lines.append(f"  {name:<24} " + _format_metrics(slice_metrics))
        lines.append("")
        lines.append(f"Blessed: {self.blessed}")
        for failure in self.failures:
            lines.append(f"  failed: {failure}")
        lines.append(f"Pushed model: {self.pushed_model or 'none'}")
        return "\n".join(lines)


def _distance(row):
    return (f"{row['feature']} {row['name']} {row['distance']:.3f} "
            f"{'>' if row['exceeded'] else '<='} {row['threshold']:g}")


def drift_lines(drift: Optional[Dict]) -> List[str]:
    """The summary's lines about retrain's drift check: drift from the last trained span (the
    features above their threshold, else the one closest to its threshold) and train/test
    skew."""
    if not drift:
        return []
    lines = []
    baseline = drift.get("baseline")
    if not baseline:
        lines.append("Drift: not checked (no earlier run trained a model in this root)")
    elif baseline.get("missing"):
        lines.append(f"Drift: not checked (no train statistics left of run {baseline['run_id']})")
    else:
        since = (f"span {baseline['span']} (run {baseline['run_id']})"
                 if baseline.get("span") is not None else f"run {baseline['run_id']}")
        lines.append(f"Drift from {since}: " + _verdict(
            drift["drift"], "allowed by --allow-drift" if drift.get("allow_drift") else ""))
    lines.append("Skew train vs test: " + _verdict(drift["skew"], "not a gate"))
    return lines


def _verdict(rows, note_when_exceeded):
    exceeded = sorted((r for r in rows if r["exceeded"]), key=lambda r: -r["distance"])
    if exceeded:
        note = f" ({note_when_exceeded})" if note_when_exceeded else ""
        return "ABOVE the thresholds: " + "; ".join(map(_distance, exceeded)) + note
    if not rows:
        return "no feature compared"
    closest = max(rows, key=lambda r: r["distance"] / r["threshold"])
    return f"within the thresholds ({len(rows)} features; closest: {_distance(closest)})"


def _format_metrics(values):
    keys = [k for k in ("auc", "binary_crossentropy", "calibration", "mean_squared_error",
                        "mean_absolute_error", "example_count") if k in values]
    return "  ".join(f"{k}=n/a" if math.isnan(values[k]) else f"{k}={values[k]:.4g}"
                     for k in keys)


def _early_stopping_note(training):
    """'; stopped after epoch 3 of 4, kept epoch 2 (val AUC 0.7560)' when early stopping ended
    training early or kept an earlier epoch than the last; else ''."""
    stopping = training.get("early_stopping") or {}
    best, epochs = stopping.get("best_epoch"), training.get("epochs")
    if not best or not epochs:
        return ""
    stopped = stopping.get("stopped_epoch")
    last = stopped or epochs
    if best == last:
        return ""
    monitor = stopping.get("monitor", "")
    what = ("mean val AUC" if monitor.startswith("mean(") else
            "val AUC" if monitor.endswith("auc") else monitor.replace("_", " "))
    head = f"stopped after epoch {stopped} of {epochs}" if stopped else f"{epochs} epochs"
    return f"; {head}, kept epoch {best} ({what} {stopping['best']:.4f})"


def read_run(metadata_path, pipeline_name, run_id=None, schedule=None) -> RunReport:
    """The summary of the latest run of `pipeline_name` (or of run `run_id`); `schedule`: how the
    run's batch, epochs and steps were set (pipeline.run.TrainingSchedule), when known."""
    store = metadata.open_store(metadata_path)
    run = metadata.latest_run(store, pipeline_name, run_id)
    executions = metadata.run_executions(store, run)
    outputs = metadata.output_artifacts(store, executions)
    blessing = (outputs.get("blessing") or [None])[-1]
    pushed = (outputs.get("pushed_model") or [None])[-1]
    evaluation = (outputs.get("evaluation") or [None])[-1]
    model = (outputs.get("model") or [None])[-1]
    overall, slices, tasks, failures = {}, [], {}, []
    if evaluation is not None:
        candidate = metrics.load_evaluation(evaluation.uri, with_baseline=False).candidate
        tasks, task_slices = candidate.task_metrics()
        if tasks:  # per output; a merged 'overall' would mix the tasks' metrics
            slices = task_slices
        else:
            overall, slices = candidate.overall_and_slices()
        failures = metrics.load_validation(evaluation.uri).failures
    training = {}
    model_run = (outputs.get("model_run") or [None])[-1]
    if model_run is not None:
        summary_path = os.path.join(model_run.uri, "training_summary.json")
        if os.path.exists(summary_path):
            with open(summary_path) as f:
                training = json.load(f)
    drift = None
    drift_output = (outputs.get("drift") or [None])[-1]
    if drift_output is not None and os.path.exists(os.path.join(drift_output.uri, DRIFT_FILE)):
        with open(os.path.join(drift_output.uri, DRIFT_FILE)) as f:
            drift = json.load(f)
    pushed_dir = None
    if pushed is not None and metadata.artifact_property(pushed, "pushed"):
        pushed_dir = metadata.artifact_property(pushed, "pushed_destination")
    logging.debug("run %s: %d executions", run.name, len(executions))
    return RunReport(
        pipeline_name=pipeline_name, run_id=run.name,
        components=metadata.component_runs(store, executions), overall=overall, slices=slices,
        blessed=(bool(metadata.artifact_property(blessing, "blessed"))
                 if blessing is not None else None),
        pushed_model=pushed_dir, evaluation_uri=evaluation.uri if evaluation else None,
        model_uri=model.uri if model else None, training=training, tasks=tasks,
        failures=failures, spans=metadata.trained_spans(store, executions), schedule=schedule,
        drift=drift)
