"""`python -m pipeline report`: one self-contained HTML file per run (plots inline as SVG, no
network), written from what the run recorded — TFMA's eval result and validation result
(metrics, confidence intervals, calibration and confusion-matrix plots), TFDV statistics and
anomalies, and ML-Metadata (lineage, times, pushed version). No metric is recomputed here."""
import dataclasses
import datetime
import glob
import io
import json
import logging
import math
import os
from typing import Dict, List, Optional

from pipeline.reporting import metadata, metrics
from pipeline.reporting.metrics import Metric
from pipeline.reporting.summary import RunReport, read_run

TEMPLATE_DIR = os.path.join(os.path.dirname(__file__), "templates")
SMALL_SLICE = 50  # examples; AUC on fewer is mostly noise
# What each split of the data table is for (see "Splits" in components/dataset_spec.py).
SPLIT_ROLES = {"train": "fitting; Transform's vocabularies and scaling",
               "validation": "the Trainer's choices: per-epoch metrics, early stopping",
               "test": "the evaluation: metrics, blessing, this report"}
MAX_SLICES_PLOTTED = 25
MAX_PLOT_LABEL_CHARS = 60  # a slice value or feature name longer than this is cut in plots
HEADLINE_METRICS = ("auc", "binary_crossentropy", "calibration", "mean_label", "mean_prediction",
                    "mean_squared_error", "mean_absolute_error", "example_count")
METRIC_TITLES = {"auc": "AUC", "binary_crossentropy": "logloss", "calibration": "calibration",
                 "mean_label": "mean label", "mean_prediction": "mean prediction",
                 "mean_squared_error": "MSE", "mean_absolute_error": "MAE",
                 "example_count": "examples"}


@dataclasses.dataclass
class SliceRow:
    value: str
    metrics: Dict[str, Metric]
    small: bool
    below_overall: bool  # not small, and its AUC interval lies wholly below the overall AUC


# --- plots -------------------------------------------------------------------------------------

def _svg(fig):
    import matplotlib.pyplot as plt
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog: the SVG is inlined in HTML


def plot_label(text) -> str:
    """`text` as a plot label: cut to MAX_PLOT_LABEL_CHARS with an ellipsis (the HTML tables keep
    the whole value), so one absurdly long slice value cannot stretch a plot."""
    text = str(text)
    if len(text) <= MAX_PLOT_LABEL_CHARS:
        return text
    return text[:MAX_PLOT_LABEL_CHARS - 1] + "…"


# data (slice values, feature names) drawn as plain text: a `$` pair is not TeX mathtext
LITERAL_TEXT = {"parse_math": False, "usetex": False}


def _figure(width=5.2, height=3.6):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"font.size": 9, "svg.fonttype": "none", "axes.spines.top": False,
                         "axes.spines.right": False})
    return plt.subplots(figsize=(width, height))


def plot_slice_auc(feature, rows: List[SliceRow], overall: Optional[Metric]):
    """AUC per slice value with its confidence interval, largest slices first."""
    rows = sorted((r for r in rows if "auc" in r.metrics and not r.metrics["auc"].undefined),
                  key=lambda r: -r.metrics.get("example_count", Metric(0)).value)
    rows = rows[:MAX_SLICES_PLOTTED]
    if not rows:
        return None
    fig, ax = _figure(6.4, 0.22 * len(rows) + 1.2)
    ys = list(range(len(rows)))
    values = [r.metrics["auc"].value for r in rows]
    lows = [v - (r.metrics["auc"].lower if r.metrics["auc"].has_interval else v)
            for v, r in zip(values, rows)]
    highs = [(r.metrics["auc"].upper if r.metrics["auc"].has_interval else v) - v
             for v, r in zip(values, rows)]
    colours = ["#c0392b" if r.below_overall else ("#999999" if r.small else "#2c6fbb")
               for r in rows]
    ax.errorbar(values, ys, xerr=[lows, highs], fmt="none", ecolor="#bbbbbb", capsize=2)
    ax.scatter(values, ys, c=colours, s=14, zorder=3)
    if overall is not None:
        ax.axvline(overall.value, color="#333333", linestyle="--", linewidth=1,
                   label=f"overall {overall.value:.3f}")
        ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.set_yticks(ys)
    ax.set_yticklabels(
        [f"{plot_label(r.value)} (n={int(r.metrics.get('example_count', Metric(0)).value)})"
         for r in rows], fontsize=7, **LITERAL_TEXT)
    ax.invert_yaxis()
    ax.set_xlim(0.0, 1.0)  # jackknife intervals of tiny slices can run past [0, 1]
    ax.set_xlabel("AUC (95% interval)")
    ax.set_title(f"AUC by {plot_label(feature)} (largest {len(rows)} slices)", **LITERAL_TEXT)
    return _svg(fig)


def _calibration_points(plot):
    buckets = (plot.get("calibrationHistogramBuckets") or {}).get("buckets", [])
    points = []
    for b in buckets:
        n = float(b.get("numWeightedExamples", 0))
        if n > 0:
            points.append((float(b.get("totalWeightedRefinedPrediction", 0)) / n,
                           float(b.get("totalWeightedLabel", 0)) / n, n))
    return points


def plot_calibration(candidate_plot, baseline_plot=None):
    """Mean prediction vs observed positive rate per TFMA calibration bucket."""
    series = [("candidate", _calibration_points(candidate_plot), "#2c6fbb")]
    if baseline_plot:
        series.append(("baseline", _calibration_points(baseline_plot), "#e67e22"))
    if not series[0][1]:
        return None
    fig, ax = _figure(4.2, 3.8)
    top = max(max(max(p[0], p[1]) for p in points) for _, points, _ in series if points)
    ax.plot([0, top], [0, top], color="#999999", linestyle=":", linewidth=1, label="perfect")
    for name, points, colour in series:
        if points:
            total = sum(p[2] for p in points)
            ax.scatter([p[0] for p in points], [p[1] for p in points], s=[
                8 + 300 * p[2] / total for p in points], color=colour, alpha=0.7, label=name)
    ax.set_xlabel("mean prediction in bucket")
    ax.set_ylabel("observed click rate")
    ax.set_title("Calibration (TFMA CalibrationPlot)")
    ax.legend(fontsize=8, frameon=False)
    return _svg(fig)


def _curve_points(plot):
    matrices = (plot.get("confusionMatrixAtThresholds") or {}).get("matrices", [])
    roc, pr = [], []
    for m in matrices:
        tp, fp = float(m.get("truePositives", 0)), float(m.get("falsePositives", 0))
        tn, fn = float(m.get("trueNegatives", 0)), float(m.get("falseNegatives", 0))
        if tp + fn > 0 and fp + tn > 0:
            roc.append((fp / (fp + tn), tp / (tp + fn)))
        if "precision" in m and "recall" in m and tp + fp > 0:
            pr.append((float(m["recall"]), float(m["precision"])))
    return sorted(roc), sorted(pr)


def plot_curves(candidate_plot, baseline_plot=None, auc=None):
    """ROC and precision-recall curves from TFMA's ConfusionMatrixPlot."""
    series = [("candidate", _curve_points(candidate_plot), "#2c6fbb")]
    if baseline_plot:
        series.append(("baseline", _curve_points(baseline_plot), "#e67e22"))
    if not series[0][1][0]:
        return None
    import matplotlib.pyplot as plt
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(8.4, 3.8))
    roc_ax.plot([0, 1], [0, 1], color="#999999", linestyle=":", linewidth=1)
    for name, (roc, pr), colour in series:
        roc_ax.plot([p[0] for p in roc], [p[1] for p in roc], color=colour, label=name)
        pr_ax.plot([p[0] for p in pr], [p[1] for p in pr], color=colour, label=name)
    roc_ax.set_xlabel("false positive rate")
    roc_ax.set_ylabel("true positive rate")
    roc_ax.set_title("ROC" + (f" (AUC {auc:.3f})" if auc is not None else ""))
    pr_ax.set_xlabel("recall")
    pr_ax.set_ylabel("precision")
    pr_ax.set_title("Precision-recall")
    for ax in (roc_ax, pr_ax):
        ax.legend(fontsize=8, frameon=False)
        ax.spines["top"].set_visible(False)
        ax.spines["right"].set_visible(False)
    return _svg(fig)


# --- data section --------------------------------------------------------------------------------

def _split_stats(statistics_uri):
    """{split: DatasetFeatureStatistics} from a StatisticsGen output."""
    import tensorflow_data_validation as tfdv
    out = {}
    for path in sorted(glob.glob(os.path.join(statistics_uri, "Split-*", "FeatureStats.pb"))):
        split = os.path.basename(os.path.dirname(path))[len("Split-"):]
        out[split] = tfdv.load_stats_binary(path).datasets[0]
    return out


def _feature_rows(stats):
    """Per feature of one split: type, missing rate, unique count and top values (or range)."""
    rows = []
    for feature in stats.features:
        name = feature.path.step[0] if feature.path.step else feature.name
        kind = feature.WhichOneof("stats")
        common = getattr(feature, kind).common_stats
        total = common.num_non_missing + common.num_missing
        row = {"name": name, "missing": common.num_missing / total if total else 0.0,
               "type": {0: "INT", 1: "FLOAT", 2: "STRING", 3: "BYTES", 4: "STRUCT"}.get(
                   feature.type, str(feature.type))}
        if kind == "string_stats":
            s = feature.string_stats
            row["unique"] = s.unique
            row["summary"] = ", ".join(f"{v.value} ({int(v.frequency)})"
                                       for v in s.top_values[:3])
        else:
            s = feature.num_stats
            row["unique"] = None
            row["summary"] = f"mean {s.mean:.3g}, min {s.min:.3g}, max {s.max:.3g}"
        rows.append(row)
    return sorted(rows, key=lambda r: r["name"])


def _anomalies(anomalies_uri):
    """[(split, feature, severity, description)] from ExampleValidator's SchemaDiff.pb files."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    out = []
    for path in sorted(glob.glob(os.path.join(anomalies_uri, "Split-*", "SchemaDiff.pb"))):
        split = os.path.basename(os.path.dirname(path))[len("Split-"):]
        with open(path, "rb") as f:
            result = anomalies_pb2.Anomalies.FromString(f.read())
        for feature, info in sorted(result.anomaly_info.items()):
            out.append((split, feature, anomalies_pb2.AnomalyInfo.Severity.Name(info.severity),
                        info.description or info.short_description))
        if result.HasField("dataset_anomaly_info"):
            info = result.dataset_anomaly_info
            out.append((split, "(dataset)", anomalies_pb2.AnomalyInfo.Severity.Name(
                info.severity), info.description or info.short_description))
    return out


# --- assembling ----------------------------------------------------------------------------------

def _find_run(metadata_path, run_id=None) -> RunReport:
    """The run `run_id` (default: the newest run of any pipeline in the store)."""
    run_id = run_id or metadata.latest_run_id(metadata_path)
    if run_id is None:
        raise SystemExit(f"{metadata_path}: no runs recorded")
    pipeline_name = metadata.pipeline_of_run(metadata.open_store(metadata_path), run_id)
    if pipeline_name is None:
        raise SystemExit(f"{metadata_path}: no run {run_id!r} (see `python -m pipeline runs`)")
    return read_run(metadata_path, pipeline_name, run_id)


def _lineage(store, executions):
    """Per component of the run: state, seconds, output paths."""
    rows = []
    for execution, component in zip(executions, metadata.component_runs(store, executions)):
        outputs = metadata.output_artifacts(store, [execution])
        rows.append({"node": component.node_id, "state": component.state,
                     "seconds": component.seconds,
                     "outputs": [(key, a.uri) for key, artifacts in sorted(outputs.items())
                                 for a in artifacts]})
    return rows


def _delta(candidate: Optional[Metric], baseline: Optional[Metric]):
    if candidate is None or baseline is None or candidate.undefined or baseline.undefined:
        return None
    return candidate.value - baseline.value


def _worst_first(row):
    """Slice rows: lowest AUC first ("n/a" last), or highest MSE first for regression."""
    auc = row.metrics.get("auc")
    if auc is not None:
        return math.inf if auc.undefined else auc.value
    return -row.metrics.get("mean_squared_error", Metric(0)).value


def build_report(root: str, run_id: Optional[str] = None) -> dict:
    """Everything the template shows, read from the run root `root`."""
    metadata_path = metadata.root_metadata_path(root)
    run = _find_run(metadata_path, run_id)
    store = metadata.open_store(metadata_path)
    executions = metadata.run_executions(
        store, store.get_context_by_type_and_name("pipeline_run", run.run_id))
    lineage = _lineage(store, executions)
    outputs = metadata.output_artifacts(store, executions)
    training_config = metadata.trainer_config(executions)
    spec = training_config.get("spec", {})

    tasks = []
    validation = metrics.Validation(None, [])
    intervals = False
    if run.evaluation_uri:
        evaluation = metrics.load_evaluation(run.evaluation_uri)
        candidate, baseline, config = evaluation.candidate, evaluation.baseline, evaluation.config
        intervals = evaluation.computed_intervals
        validation = metrics.load_validation(run.evaluation_uri)
        # a feature limited to its top values ran as an SQL slice (components/evaluation.py)
        from components.evaluation import sliced_features
        slice_features = sliced_features(config)
        value_limits = metrics.limited_slice_values(config)
        for output in candidate.output_names():
            overall = candidate.metrics.get((), {}).get(output, {})
            base_overall = baseline.metrics.get((), {}).get(output, {}) if baseline else {}
            headline = [{"name": METRIC_TITLES[n], "key": n, "candidate": overall.get(n),
                         "baseline": base_overall.get(n),
                         "delta": _delta(overall.get(n), base_overall.get(n)),
                         "tfma_delta": overall.get(f"{n}_diff")}
                        for n in HEADLINE_METRICS if n in overall]
            slice_tables = []
            for keys in slice_features:
                rows = []
                for slice_key, by_output in candidate.metrics.items():
                    if [k for k, _ in slice_key] != keys or output not in by_output:
                        continue
                    m = by_output[output]
                    count = m.get("example_count", Metric(0)).value
                    auc = m.get("auc")
                    below = bool(auc and auc.has_interval and "auc" in overall
                                 and count >= SMALL_SLICE and auc.upper < overall["auc"].value)
                    rows.append(SliceRow(", ".join(str(v) for _, v in slice_key), m,
                                         count < SMALL_SLICE, below))
                rows.sort(key=_worst_first)
                slice_tables.append({"feature": ", ".join(keys), "rows": rows,
                                     "top_values": value_limits.get(", ".join(keys)),
                                     "plot": plot_slice_auc(", ".join(keys), rows,
                                                            overall.get("auc"))})
            plots = candidate.plots.get((), {}).get(output, {})
            base_plots = baseline.plots.get((), {}).get(output, {}) if baseline else {}
            tasks.append({
                "output": output or (spec.get("labels") or [{}])[0].get("name", "label"),
                "headline": headline, "slices": slice_tables,
                "thresholds": metrics.gates(config, output, at_least="≥", at_most="≤"),
                "calibration_plot": plot_calibration(plots, base_plots) if plots else None,
                "curves_plot": plot_curves(plots, base_plots,
                                           overall["auc"].value if "auc" in overall else None)
                if plots else None})
        has_baseline = baseline is not None
    else:
        has_baseline = False

    data = {"splits": [], "features": [], "anomalies": []}
    statistics = (outputs.get("statistics") or [None])[-1]
    if statistics is not None:
        split_stats = _split_stats(statistics.uri)
        data["splits"] = [(split, s.num_examples, SPLIT_ROLES.get(split, ""))
                          for split, s in split_stats.items()]
        if "train" in split_stats or split_stats:
            data["features"] = _feature_rows(split_stats.get("train") or
                                             next(iter(split_stats.values())))
    anomalies = (outputs.get("anomalies") or [None])[-1]
    if anomalies is not None:
        data["anomalies"] = _anomalies(anomalies.uri)
        data["anomalies_checked"] = True

    leaderboard = None
    leaderboard_path = os.path.join(root, "leaderboard.json")
    if os.path.exists(leaderboard_path):
        with open(leaderboard_path) as f:
            leaderboard = json.load(f)

    return {
        "run": run, "root": root, "tasks": tasks, "has_baseline": has_baseline,
        "intervals": intervals,
        "blessed": run.blessed, "validation_ok": validation.ok,
        "failures": validation.failures,
        "data": data, "lineage": lineage, "spec": spec,
        "spec_json": json.dumps(spec, indent=2, sort_keys=True),
        "model": training_config.get("model") or run.training.get("model"),
        "model_args": training_config.get("model_args", run.training.get("model_args", {})),
        "training": run.training, "training_config": {
            k: v for k, v in training_config.items() if k not in ("spec",)},
        "pushed_version": os.path.basename(run.pushed_model) if run.pushed_model else None,
        "leaderboard": leaderboard, "small_slice": SMALL_SLICE,
        "generated": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
    }


def render_html(context: dict) -> str:
    import jinja2
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
                             # on for report.html.j2: slice values and feature names are data
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.ChainableUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["num"] = _format_number
    env.filters["signed"] = lambda v, digits=4: "" if v is None else f"{v:+.{digits}f}"
    return env.get_template("report.html.j2").render(**context)


def _format_number(value, digits=4):
    import jinja2
    if value is None or isinstance(value, jinja2.Undefined):
        return "–"
    if isinstance(value, Metric):
        value = value.value
    if math.isnan(value):  # an AUC without both classes
        return "n/a"
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    return f"{value:.{digits}f}"


def write_report(root: str, run_id: Optional[str] = None, out: Optional[str] = None) -> str:
    """Writes the HTML report of run `run_id` (default: the latest) of the run root `root`;
    returns its path (default `<root>/reports/<run id>.html`)."""
    context = build_report(root, run_id)
    path = out or os.path.join(root, "reports", f"{context['run'].run_id}.html")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(render_html(context))
    logging.info("Report written to %s", path)
    return path
