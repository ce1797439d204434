"""What the Evaluator wrote, read back through TFMA: metrics per slice and model output (with
their confidence intervals when TFMA computed them), plots, the EvalConfig it ran with (thresholds,
slices) and its validation result (which thresholds failed). The one TFMA reader of the project:
the console summary, the HTML report and the run history all read evaluations here. Nothing is
recomputed from the examples; two things are corrected as they are read (`honest_auc`):

- AUC intervals stay within [0, 1]: TFMA's jackknife interval is `value ± t * stderr`, which
  leaves [0, 1] for small slices ("-0.0796 - 0.8692"). The interval shown is the same
  jackknife interval on the logit scale (delta method): with half-width h = (upper - lower) / 2,
  logit(AUC) ± h / (AUC (1 - AUC)), mapped back with the logistic function. It has TFMA's
  width near AUC 0.5 and narrows towards the bound it approaches instead of crossing it.
- A slice holding one class (mean label 0 or 1: no positive, or no negative, example) has no
  AUC: TFMA reports 0 for it; its AUC is NaN here, shown "n/a", with no interval."""
import dataclasses
import math
import re
from typing import Dict, List, Optional, Tuple


@dataclasses.dataclass
class Metric:
    """A TFMA metric value with its confidence interval when TFMA computed one."""
    value: float
    lower: Optional[float] = None
    upper: Optional[float] = None

    @classmethod
    def from_tfma(cls, value: dict) -> Optional["Metric"]:
        """From one value of TFMA's slicing metrics (its JSON form); None for a value that is not
        a number (a confusion matrix, an array)."""
        if "doubleValue" in value:
            return cls(float(value["doubleValue"]))
        bounded = value.get("boundedValue")
        if bounded and "value" in bounded:
            return cls(float(bounded["value"]), _optional_float(bounded.get("lowerBound")),
                       _optional_float(bounded.get("upperBound")))
        return None

    @property
    def has_interval(self):
        return self.lower is not None and self.upper is not None

    @property
    def undefined(self):
        """No value (a slice's AUC with a single class): shown "n/a"."""
        return math.isnan(self.value)


def logit_interval(value: float, lower: float, upper: float) -> Tuple[float, float]:
    """An interval of half-width (upper - lower) / 2 around `value` (0 < value < 1), built on the
    logit scale (delta method: the half-width divided by value (1 - value)) and mapped back, so it
    stays inside (0, 1). At the bounds (value 0 or 1) the interval is the point."""
    if not 0.0 < value < 1.0:
        return value, value
    half = max(0.0, (upper - lower) / 2) / (value * (1.0 - value))
    center = math.log(value / (1.0 - value))
    return _logistic(center - half), _logistic(center + half)


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def single_class(metrics: Dict[str, "Metric"]) -> bool:
    """Whether the slice's examples all have one label (mean label exactly 0 or 1)."""
    mean_label = metrics.get("mean_label")
    return mean_label is not None and mean_label.value in (0.0, 1.0)


def honest_auc(metrics: Dict[str, "Metric"]) -> Dict[str, "Metric"]:
    """`metrics` of one slice and output with its AUC corrected (module docstring): NaN for a
    single-class slice, TFMA's interval moved onto the logit scale otherwise."""
    auc = metrics.get("auc")
    if auc is None:
        return metrics
    if single_class(metrics):
        return {**metrics, "auc": Metric(math.nan)}
    if auc.has_interval:
        return {**metrics, "auc": Metric(auc.value, *logit_interval(auc.value, auc.lower,
                                                                     auc.upper))}
    return metrics


def _optional_float(value):
    return None if value is None else float(value)


# slice key (TFMA's: a tuple of (feature, value) pairs, () for overall) -> output -> name -> Metric
SliceMetrics = Dict[tuple, Dict[str, Dict[str, Metric]]]


def _metrics_by_output(by_output) -> Dict[str, Dict[str, Metric]]:
    """TFMA's {output: {sub key: {name: value}}} -> {output: {name: Metric}} (the top-level sub
    key '': the pipeline configures no class or top-k sub keys)."""
    out = {}
    for output, by_sub_key in (by_output or {}).items():
        metrics = {}
        for name, value in by_sub_key.get("", {}).items():
            metric = Metric.from_tfma(value)
            if metric is not None:
                metrics[name] = metric
        out[output] = honest_auc(metrics)
    return out


def slice_name(slice_key) -> str:
    """'C6=a, C9=b' for a slice key; 'overall' for the overall slice."""
    return ", ".join(f"{k}={v}" for k, v in slice_key) if slice_key else "overall"


def point_values(metrics: Dict[str, Metric]) -> Dict[str, float]:
    """{name: value} without the intervals."""
    return {name: metric.value for name, metric in metrics.items()}


def _by_worst_auc(item):
    """Sort key: lowest AUC first; slices without one (none, or "n/a") last."""
    auc = item[1].get("auc", math.inf)
    return math.inf if math.isnan(auc) else auc


@dataclasses.dataclass
class EvalData:
    """One model's TFMA result: metrics and plots per slice and output."""
    metrics: SliceMetrics
    plots: Dict[tuple, Dict[str, dict]]  # slice key -> output -> plot name -> data

    @classmethod
    def load(cls, uri, model_name=None) -> "EvalData":
        import tensorflow_model_analysis as tfma
        result = tfma.load_eval_result(uri, model_name=model_name)
        metrics = {tuple(k): _metrics_by_output(v) for k, v in result.slicing_metrics}
        plots = {}
        for key, by_output in result.plots or []:
            plots[tuple(key)] = {output: sub.get("", {}) for output, sub in by_output.items()}
        return cls(metrics, plots)

    def output_names(self) -> List[str]:
        """The model outputs evaluated ([''] for a single-output model)."""
        return sorted({output for by_output in self.metrics.values() for output in by_output})

    def overall_and_slices(self, output="") -> Tuple[Dict[str, float], List[tuple]]:
        """(overall {name: value}, [(slice name, {name: value})] worst AUC first) of `output`."""
        overall, per_slice = {}, []
        for slice_key, by_output in self.metrics.items():
            values = point_values(by_output.get(output, {}))
            if not slice_key:
                overall = values
            elif output in by_output:
                per_slice.append((slice_name(slice_key), values))
        per_slice.sort(key=_by_worst_auc)
        return overall, per_slice

    def task_metrics(self) -> Tuple[Dict[str, Dict[str, float]], List[tuple]]:
        """Multi-task results: ({output: overall {name: value}}, [('<output>: <slice>',
        {name: value})] worst AUC first). Empty for a single-output model."""
        tasks, slices = {}, []
        for output in (name for name in self.output_names() if name):
            tasks[output], per_slice = self.overall_and_slices(output)
            slices += [(f"{output}: {name}", values) for name, values in per_slice]
        slices.sort(key=_by_worst_auc)
        return tasks, slices


@dataclasses.dataclass
class Evaluation:
    """An Evaluator output: the candidate's result, the baseline's when the Evaluator compared
    against one (the latest blessed model), and the EvalConfig it ran with."""
    candidate: EvalData
    baseline: Optional[EvalData]
    config: object  # tfma.EvalConfig

    @property
    def computed_intervals(self) -> bool:
        return bool(self.config.options.compute_confidence_intervals.value)


def load_evaluation(uri, with_baseline=True) -> Evaluation:
    """The Evaluator output at `uri` (`with_baseline=False`: the candidate's result only)."""
    config = eval_config(uri)
    baseline_spec = next((m for m in config.model_specs if m.is_baseline), None)
    if baseline_spec is None:
        return Evaluation(EvalData.load(uri), None, config)
    candidate = next(m for m in config.model_specs if not m.is_baseline)
    return Evaluation(EvalData.load(uri, candidate.name),
                      EvalData.load(uri, baseline_spec.name) if with_baseline else None, config)


def eval_config(uri):
    """The EvalConfig the Evaluator at `uri` ran with (an empty one when it recorded none)."""
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.writers import eval_config_writer
    return eval_config_writer.load_eval_run(uri)[0] or tfma.EvalConfig()


def threshold_parts(threshold, at_least=">=", at_most="<=") -> List[str]:
    """['>= 0.6', 'change vs baseline >= -0.01', ...]: each bound of a TFMA MetricThreshold
    (`at_least` and `at_most` spell the comparisons)."""
    from tensorflow_model_analysis.proto import config_pb2
    parts = []
    if threshold.HasField("value_threshold"):
        value = threshold.value_threshold
        if value.HasField("lower_bound") and math.isfinite(value.lower_bound.value):
            parts.append(f"{at_least} {value.lower_bound.value:.4g}")
        if value.HasField("upper_bound") and math.isfinite(value.upper_bound.value):
            parts.append(f"{at_most} {value.upper_bound.value:.4g}")
    if threshold.HasField("change_threshold"):
        change = threshold.change_threshold
        sign = (at_least if change.direction == config_pb2.MetricDirection.HIGHER_IS_BETTER
                else at_most)
        if change.HasField("absolute"):
            parts.append(f"change vs baseline {sign} {change.absolute.value:.4g}")
        if change.HasField("relative"):
            parts.append(f"relative change vs baseline {sign} {change.relative.value:.4g}")
    return parts


def threshold_text(threshold, at_least=">=", at_most="<=") -> str:
    """'>= 0.6, change vs baseline >= -0.01': the bounds of a TFMA MetricThreshold."""
    return ", ".join(threshold_parts(threshold, at_least, at_most)) or "a threshold"


def gates(config, output, at_least=">=", at_most="<=") -> List[str]:
    """['AUC >= 0.6', 'AUC change vs baseline >= -0.01', ...]: each bound of every threshold of
    `config` that applies to model output `output`."""
    out = []
    for spec in config.metrics_specs:
        if spec.output_names and output not in spec.output_names:
            continue
        for metric in spec.metrics:
            for per_slice in metric.per_slice_thresholds:
                out += [f"{metric.class_name} {part}" for part in
                        threshold_parts(per_slice.threshold, at_least, at_most)]
    return out


def limited_slice_values(config) -> Dict[str, int]:
    """{feature: N} for each slice feature that the Evaluator sliced by its N most frequent
    training values only (components.evaluation.limit_slices: one SQL slice whose IN list holds
    N bytes literals, or for an int feature one feature_values slice per value)."""
    limits = {}
    for spec in config.slicing_specs:
        match = re.match(r"SELECT STRUCT\(`([^`]+)`\) FROM example\.", spec.slice_keys_sql)
        if match:
            limits[match.group(1)] = spec.slice_keys_sql.count("b'")
        elif len(spec.feature_values) == 1 and not spec.feature_keys:
            (feature,) = spec.feature_values
            limits[feature] = limits.get(feature, 0) + 1
    return limits


@dataclasses.dataclass
class Validation:
    """TFMA's verdict on the thresholds: `ok` None when the Evaluator checked none."""
    ok: Optional[bool]
    failures: List[str]  # '<task>: <metric> = <value>, needs <bound>', one per failed threshold


def load_validation(uri) -> Validation:
    """The validation result of the Evaluator output at `uri`."""
    import tensorflow_model_analysis as tfma
    try:
        result = tfma.load_validation_result(uri)
    except Exception:  # an evaluation without thresholds has no validation result
        return Validation(None, [])
    failures = []
    for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
            key = failure.metric_key
            task = key.output_name or "overall"
            metric = key.name + (" change vs baseline" if key.is_diff else "")
            found = (f"= {failure.metric_value.double_value.value:.4g}"
                     if failure.HasField("metric_value") else "was not computed")
            failures.append(f"{task}: {metric} {found}, needs "
                            f"{threshold_text(failure.metric_threshold)}")
    if result.missing_thresholds:  # TFMA: no threshold applied, so nothing could bless
        failures.append("no threshold could be checked (none applies to this evaluation)")
    failures += [f"missing slice {s}" for s in result.missing_slices]
    return Validation(result.validation_ok, failures)
