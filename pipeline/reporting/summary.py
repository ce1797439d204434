"""Run summaries read back from ML-Metadata and the Evaluator's output: per-component wall
time, overall and per-slice metrics, blessing, pushed model."""
import dataclasses
import logging
import math
import os
from typing import Dict, List, Optional

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from ml_metadata.metadata_store import metadata_store  # noqa: E402
from ml_metadata.proto import metadata_store_pb2  # noqa: E402

STATE_NAMES = {v: k for k, v in metadata_store_pb2.Execution.State.items()}


@dataclasses.dataclass
class ComponentRun:
    node_id: str
    state: str
    seconds: float


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
            lines += ["", "Evaluation (eval split):"]
            if self.overall:
                lines.append(f"  {'overall':<24} " + _format_metrics(self.overall))
            for task, metrics in self.tasks.items():
                lines.append(f"  {'task ' + task:<24} " + _format_metrics(metrics))
            worst_slices = self.worst_slices(worst)
            if worst_slices:
                lines.append(f"  worst slices (>= 50 examples, lowest AUC first):")
            for name, metrics in worst_slices:
                lines.append(f"  {name:<24} " + _format_metrics(metrics))
        lines.append("")
        lines.append(f"Blessed: {self.blessed}")
        for failure in self.failures:
            lines.append(f"  failed: {failure}")
        lines.append(f"Pushed model: {self.pushed_model or 'none'}")
        return "\n".join(lines)


def _format_metrics(metrics):
    keys = [k for k in ("auc", "binary_crossentropy", "calibration", "mean_squared_error",
                        "mean_absolute_error", "example_count") if k in metrics]
    return "  ".join(f"{k}={metrics[k]:.4g}" for k in keys)


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


def _store(metadata_path):
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def _latest_run(store, pipeline_name, run_id=None):
    """The newest pipeline_run context of `pipeline_name` (or the one named `run_id`)."""
    runs = [c for c in store.get_contexts_by_type("pipeline_run")
            if run_id is None or c.name == run_id]
    pipeline_ctx = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline_ctx is not None:
        members = {e.id for e in store.get_executions_by_context(pipeline_ctx.id)}
        runs = [r for r in runs
                if any(e.id in members for e in store.get_executions_by_context(r.id))]
    if not runs:
        raise ValueError(f"No run {run_id or ''} of pipeline {pipeline_name!r} in the metadata "
                         f"store")
    return max(runs, key=lambda c: (c.create_time_since_epoch, c.id))


def _node_id(store, execution):
    for ctx in store.get_contexts_by_execution(execution.id):
        if store.get_context_types_by_id([ctx.type_id])[0].name == "node":
            return ctx.name.split(".", 1)[-1]
    return str(execution.type)


def _outputs(store, executions):
    """output key -> artifacts, across the given executions."""
    ids = [e.id for e in executions]
    events = [ev for ev in store.get_events_by_execution_ids(ids)
              if ev.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([ev.artifact_id for ev in events])}
    by_key = {}
    for ev in events:
        key = ev.path.steps[0].key if ev.path.steps else ""
        by_key.setdefault(key, []).append(artifacts[ev.artifact_id])
    return by_key


def _prop(artifact, name):
    if name in artifact.custom_properties:
        value = artifact.custom_properties[name]
        return value.int_value if value.HasField("int_value") else value.string_value
    return None


def load_eval_metrics(evaluation_uri, slices=(), output_name=None):
    """(overall metrics, [(slice name, metrics)] sorted worst AUC first) of an Evaluator output;
    with `output_name`, of that model output only (multi-task models)."""
    import tensorflow_model_analysis as tfma
    result = None
    for model_name in ("candidate", None):
        try:
            result = tfma.load_eval_result(evaluation_uri, model_name=model_name)
            if result.slicing_metrics:
                break
        except Exception:  # no result for that model name
            continue
    if result is None:
        return {}, []
    overall, per_slice = {}, []
    for slice_key, by_output in result.slicing_metrics:
        metrics = {}
        for name, output in by_output.items():
            if output_name is not None and name != output_name:
                continue
            for sub in output.values():
                for name, value in sub.items():
                    if "doubleValue" in value:
                        metrics[name] = float(value["doubleValue"])
                    elif "value" in value.get("boundedValue", {}):  # with confidence intervals
                        metrics[name] = float(value["boundedValue"]["value"])
        if not slice_key:
            overall = metrics
        else:
            per_slice.append((", ".join(f"{k}={v}" for k, v in slice_key), metrics))
    per_slice.sort(key=lambda item: item[1].get("auc", math.inf))
    return overall, per_slice


def eval_output_names(evaluation_uri):
    """The model output names in an Evaluator result ([''] for a single-output model)."""
    import tensorflow_model_analysis as tfma
    for model_name in ("candidate", None):
        try:
            result = tfma.load_eval_result(evaluation_uri, model_name=model_name)
        except Exception:  # no result for that model name
            continue
        names = {name for _, by_output in result.slicing_metrics for name in by_output}
        if names:
            return sorted(names)
    return []


def load_task_metrics(evaluation_uri):
    """Multi-task results: ({output: overall metrics}, [('<output>: <slice>', metrics)] worst AUC
    first). Empty for a single-output model."""
    names = [n for n in eval_output_names(evaluation_uri) if n]
    tasks, slices = {}, []
    for name in names:
        overall, per_slice = load_eval_metrics(evaluation_uri, output_name=name)
        tasks[name] = overall
        slices += [(f"{name}: {slice_name}", metrics) for slice_name, metrics in per_slice]
    slices.sort(key=lambda item: item[1].get("auc", math.inf))
    return tasks, slices


def _threshold_text(threshold):
    parts = []
    value = threshold.value_threshold
    if value.HasField("lower_bound"):
        parts.append(f">= {value.lower_bound.value:.4g}")
    if value.HasField("upper_bound"):
        parts.append(f"<= {value.upper_bound.value:.4g}")
    change = threshold.change_threshold
    from tensorflow_model_analysis.proto import config_pb2
    higher = change.direction == config_pb2.MetricDirection.HIGHER_IS_BETTER
    if change.HasField("absolute"):
        parts.append(f"change vs baseline {'>=' if higher else '<='} {change.absolute.value:.4g}")
    if change.HasField("relative"):
        parts.append(f"relative change vs baseline {'>=' if higher else '<='} "
                     f"{change.relative.value:.4g}")
    return ", ".join(parts) or "a threshold"


def load_validation_failures(evaluation_uri):
    """One line per failed blessing threshold: '<task>: <metric> = <value>, needs <bound>'."""
    import tensorflow_model_analysis as tfma
    try:
        result = tfma.load_validation_result(evaluation_uri)
    except Exception:  # no validation result written
        return []
    lines = []
    for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
            key = failure.metric_key
            task = key.output_name or "overall"
            metric = key.name + (" change vs baseline" if key.is_diff else "")
            value = failure.metric_value.double_value.value
            lines.append(f"{task}: {metric} = {value:.4g}, needs "
                         f"{_threshold_text(failure.metric_threshold)}")
    if not result.validation_ok and not lines:
        if result.missing_thresholds:
            lines.append("no threshold could be checked (missing metrics)")
        lines += [f"missing slice {s}" for s in result.missing_slices]
    return lines


def _examples_spans(store, executions):
    """The span numbers of the Examples that Transform (hence the Trainer) read, when ExampleGen
    read a span-based input (pipeline/spans.py: it then has a RangeConfig; its driver records
    the resolved pattern, without the span spec); else []."""
    span_based, transform = False, []
    for e in executions:
        node = _node_id(store, e)
        ranges = e.custom_properties.get("range_config")
        if "ExampleGen" in node and ranges is not None and ranges.string_value.strip():
            span_based = True
        if node == "Transform":
            transform.append(e.id)
    if not span_based or not transform:
        return []
    ids = [ev.artifact_id for ev in store.get_events_by_execution_ids(transform)
           if ev.type == metadata_store_pb2.Event.INPUT and ev.path.steps
           and ev.path.steps[0].key == "examples"]
    spans = (_prop(a, "span") for a in store.get_artifacts_by_id(ids))
    return sorted({int(span) for span in spans if span is not None})


def read_run(metadata_path, pipeline_name, run_id=None, schedule=None) -> RunReport:
    """The summary of the latest run of `pipeline_name` (or of run `run_id`); `schedule`: how the
    run's batch, epochs and steps were set (pipeline.run.TrainingSchedule), when known."""
    store = _store(metadata_path)
    run = _latest_run(store, pipeline_name, run_id)
    executions = store.get_executions_by_context(run.id)
    components = []
    for e in sorted(executions, key=lambda e: e.create_time_since_epoch):
        seconds = (e.last_update_time_since_epoch - e.create_time_since_epoch) / 1000.0
        components.append(ComponentRun(_node_id(store, e), STATE_NAMES.get(
            e.last_known_state, str(e.last_known_state)), seconds))
    outputs = _outputs(store, executions)
    blessing = (outputs.get("blessing") or [None])[-1]
    pushed = (outputs.get("pushed_model") or [None])[-1]
    evaluation = (outputs.get("evaluation") or [None])[-1]
    model = (outputs.get("model") or [None])[-1]
    overall, slices = (load_eval_metrics(evaluation.uri) if evaluation is not None else ({}, []))
    tasks, failures = {}, []
    if evaluation is not None:
        tasks, task_slices = load_task_metrics(evaluation.uri)
        if tasks:  # per output; a merged 'overall' would mix the tasks' metrics
            overall, slices = {}, task_slices
        failures = load_validation_failures(evaluation.uri)
    training = {}
    model_run = (outputs.get("model_run") or [None])[-1]
    if model_run is not None:
        summary_path = os.path.join(model_run.uri, "training_summary.json")
        if os.path.exists(summary_path):
            import json
            with open(summary_path) as f:
                training = json.load(f)
    pushed_dir = None
    if pushed is not None and _prop(pushed, "pushed"):
        pushed_dir = _prop(pushed, "pushed_destination")
    logging.debug("run %s: %d executions", run.name, len(executions))
    return RunReport(
        pipeline_name=pipeline_name, run_id=run.name, components=components, overall=overall,
        slices=slices, blessed=bool(_prop(blessing, "blessed")) if blessing is not None else None,
        pushed_model=pushed_dir, evaluation_uri=evaluation.uri if evaluation else None,
        model_uri=model.uri if model else None, training=training, tasks=tasks,
        failures=failures, spans=_examples_spans(store, executions), schedule=schedule)
