"""The Evaluator: TFX's, with high-cardinality slice features limited to their most frequent values.

TFMA slices by raw feature values and keeps every metric's state per slice (AUC alone is a
10,000-bucket histogram), feeding each example to every slice it belongs to. A slice feature with
thousands of values (Criteo's C6 at 200k rows: 7,073) made the Evaluator several times slower and
filled the report's worst-slice tables with one-row slices. So a vocabulary-encoded slice
feature is limited to its `top_values` most frequent values (dataset spec: `evaluation.
slice_top_values`, or `slices: [{name: C9, top_values: 20}]`).

Which values: the first `top_values` tokens of the feature in its Transform vocabulary, which
`tft.vocabulary` orders by descending frequency over the training split; the candidate model
carries that file among its SavedModel assets (tokens are field-qualified, "C6=fbad5c96", see
components/transform.py). The values are known only once Transform has run, so this executor
rewrites the EvalConfig before TFX's Evaluator executor runs: `SlicingSpec(feature_keys=[C6])`
becomes `SlicingSpec(slice_keys_sql="SELECT STRUCT(C6) FROM example.C6 WHERE C6 IN (...)")`,
TFMA's SQL slicing, whose slice keys are the same (C6, value) pairs (an int feature: one
`SlicingSpec(feature_values={C6: value})` per value, see `limit_slices`). Each kept slice holds
exactly the examples it held before, so its metrics are the same; other values get no slice; the
overall slice, the thresholds (overall only) and the blessing do not change. When the vocabulary
holds no more than `top_values` values of the feature (the limit would keep everything it knows),
the slice is left as it was, so values missing from the vocabulary (rare in training, or unseen)
still get their slices. TFMA writes the config it ran with (the rewritten one) beside the
results, so `eval_config.json` lists the kept values.

The pipeline configures the Evaluator here too: `eval_config` (metrics, slices and the blessing
thresholds of the dataset spec) and `slice_limits` (the limited slice features).

Two speed-ups with the same results (BENCHMARKS.md, Evaluator): the executor has TFMA decode
only the raw features it reads from the examples (`decoding_schema`), and `HistogramMeans` derives
mean label, mean prediction and calibration from the histogram AUC builds anyway.
"""
import json
import logging
import math
import os
import re
import tempfile
from typing import Dict, List

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tfx import types
from tfx.components.evaluator import component as tfx_evaluator_component
from tfx.components.evaluator import executor as tfx_evaluator
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import path_utils, proto_utils

from components.dataset_spec import TEST_SPLIT

# exec property: JSON {feature: {"top_values": k, "vocabulary": asset file, "prefix": "C6="}}
SLICE_TOP_VALUES_KEY = "slice_top_values"


def eval_config(spec, confidence_intervals: bool = False) -> tfma.EvalConfig:
    """TFMA config from the dataset spec (components.dataset_spec.DatasetSpec): metrics per
    label, slices, and the blessing thresholds (the spec's GATE_KEYS).

    Several labels: one MetricsSpec per model output (named by its label), each with that label's
    own gate (`DatasetSpec.gate`); TFMA blesses only when every output passes its gate."""
    metrics_specs = []
    single = len(spec.labels) == 1
    for label in spec.labels:
        gate = spec.gate(label)
        if label.task == "binary":
            auc_threshold = tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(
                    lower_bound={"value": gate.auc_threshold}),
                change_threshold=tfma.GenericChangeThreshold(
                    direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                    absolute={"value": gate.auc_change_threshold}))
            # Gate on the overall slice only: feature slices are reported, but small slices are
            # too noisy to block a model (TFMA applies a plain `threshold` to every slice).
            overall_only = tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()],
                                                        threshold=auc_threshold)
            # TFMA's own BinaryCrossEntropy (same key, binary_crossentropy): Keras' runs a traced
            # TF update per example and slice (about a fifth of the Evaluator's time).
            metrics = [tfma.MetricConfig(class_name="AUC", per_slice_thresholds=[overall_only]),
                       tfma.MetricConfig(class_name="BinaryCrossEntropy"),
                       # calibration, mean_label, mean_prediction from AUC's histogram (TFMA's
                       # own metrics for them add a combiner fed every example of every slice)
                       tfma.MetricConfig(class_name="HistogramMeans",
                                         module="components.evaluation"),
                       # curves for the HTML report (calibration, ROC and PR)
                       tfma.MetricConfig(class_name="CalibrationPlot",
                                         config='{"num_buckets": 20}'),
                       tfma.MetricConfig(class_name="ConfusionMatrixPlot",
                                         config='{"num_thresholds": 200}')]
        else:
            mse_threshold = tfma.MetricThreshold(
                change_threshold=tfma.GenericChangeThreshold(
                    direction=tfma.MetricDirection.LOWER_IS_BETTER,
                    relative={"value": gate.mse_relative_change}))
            # A value threshold is always set: with only a change threshold, a first run (no
            # baseline) has no threshold left to check and TFMA refuses to bless.
            mse_threshold.value_threshold.upper_bound.value = (
                math.inf if gate.max_mse is None else gate.max_mse)
            overall_only = tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()],
                                                        threshold=mse_threshold)
            metrics = [tfma.MetricConfig(class_name="MeanSquaredError",
                                         per_slice_thresholds=[overall_only]),
                       tfma.MetricConfig(class_name="MeanAbsoluteError"),
                       tfma.MetricConfig(class_name="MeanLabel"),
                       tfma.MetricConfig(class_name="MeanPrediction")]
        metrics.append(tfma.MetricConfig(class_name="ExampleCount"))
        metrics_specs.append(tfma.MetricsSpec(
            metrics=metrics, output_names=[] if single else [label.name]))
    # tf_generic: what TFMA ends up with for our SavedModels; unset, TFMA first tries a Keras
    # load_model of the whole model only to learn the type (a quarter of a small Evaluator run).
    model_spec = tfma.ModelSpec(signature_name="serving_default", model_type=tfma.TF_GENERIC,
                                preprocessing_function_names=["transform_features"])
    if single:
        model_spec.label_key = spec.labels[0].name
    else:
        model_spec.label_keys.update({label.name: label.name for label in spec.labels})
    slicing = [tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[s])
                                      for s in spec.evaluation.slices]
    if spec.behaviour is not None:  # how users with no or little history fare
        from components.history import HIST_LENGTH_BUCKET
        slicing.append(tfma.SlicingSpec(feature_keys=[HIST_LENGTH_BUCKET]))
    # `confidence_intervals` (TFMA's jackknife) tell a noisy slice from a regression in the
    # report; the thresholds still gate on the point estimate. Opt-in: the jackknife recomputes
    # every metric and plot per sample and slice (Evaluator 358 s with vs 52 s without, 2k-row
    # Criteo sample). The model's own compiled Keras metrics are left out: TFMA reloads the
    # SavedModel in every combiner for them, and every metric reported is configured above.
    options = tfma.Options()
    options.compute_confidence_intervals.value = confidence_intervals
    options.include_default_metrics.value = False
    return tfma.EvalConfig(model_specs=[model_spec], metrics_specs=metrics_specs,
                           slicing_specs=slicing, options=options)


def slice_limits(spec) -> Dict[str, Dict]:
    """The spec's limited slice features for the Evaluator's `slice_top_values`: {feature:
    {"top_values": k, "vocabulary": its vocab group's asset file, "prefix": its token prefix}}
    for every vocabulary-encoded sparse slice feature with a limit (`EvaluationSpec.top_values`).
    The values themselves come from the model's vocabulary at run time."""
    from components.transform import vocabulary_name
    limits = {}
    for group, members in spec.vocab_groups().items():
        for feature in members:
            top = spec.evaluation.top_values(feature.name)
            if feature.name in spec.evaluation.slices and feature in spec.sparse and top:
                limits[feature.name] = {"top_values": top, "vocabulary": vocabulary_name(group),
                                        "prefix": spec.token_prefix(feature)}
    return limits


def top_values(vocabulary_path: str, prefix: str, limit: int) -> List[str]:
    """The first `limit` values of the tokens starting with `prefix` in a frequency-ordered
    vocabulary file, without the prefix; the missing-value token ("C6=") is not a value. Reads
    one more than `limit`, so that `len(result) > limit` tells that the limit binds."""
    values = []
    with tf.io.gfile.GFile(vocabulary_path) as f:
        for line in f:
            token = line.rstrip("\n")
            if token.startswith(prefix) and len(token) > len(prefix):
                values.append(token[len(prefix):])
                if len(values) > limit:
                    break
    return values


def values_sql(feature: str, values: List[str]) -> str:
    """TFMA `slice_keys_sql` slicing a string `feature` by `values` only (bytes literals with
    every byte escaped: no quoting or encoding issue whatever a value holds); its slice keys are
    the ones of `SlicingSpec(feature_keys=[feature])`, (feature, value), for the kept values."""
    literals = ", ".join("b'" + "".join(f"\\x{b:02x}" for b in v.encode()) + "'"
                         for v in values)
    return f"SELECT STRUCT(`{feature}`) FROM example.`{feature}` WHERE `{feature}` IN ({literals})"


def sliced_features(config: tfma.EvalConfig) -> List[List[str]]:
    """The feature names each slicing spec of `config` slices by, in order, without repeats and
    without the overall slice: a limited feature's SQL slice (`values_sql`) counts as its
    feature's."""
    result = []
    for spec in config.slicing_specs:
        names = list(spec.feature_keys) or sorted(spec.feature_values)
        match = re.match(r"SELECT STRUCT\(`([^`]+)`\) FROM example\.", spec.slice_keys_sql)
        if match:
            names = [match.group(1)]
        if names and names not in result:
            result.append(names)
    return result


def raw_types(model_dir: str) -> Dict[str, str]:
    """Raw feature name -> schema type name (BYTES, INT, FLOAT) from the raw-data schema the
    Trainer exports beside the model (assets.extra/raw_schema.pbtxt); {} without one."""
    from tensorflow_metadata.proto.v0 import schema_pb2
    from google.protobuf import text_format
    path = os.path.join(model_dir, "assets.extra", "raw_schema.pbtxt")
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        schema = text_format.Parse(f.read(), schema_pb2.Schema())
    return {f.name: schema_pb2.FeatureType.Name(f.type) for f in schema.feature}


def limit_slices(config: tfma.EvalConfig, limits: Dict, model_dir: str) -> tfma.EvalConfig:
    """A copy of `config` whose single-feature slice on a limited feature is replaced by a
    `slice_keys_sql` slice of its most frequent values (an int feature: one `feature_values`
    slice per value); other slices are kept as they are, in order. (Not feature_values for
    strings: TFMA reads a value that looks like a number, "12345678", as a number, which then
    never matches the feature's bytes; and one SQL slice is one test per example, not one per
    value.)"""
    types_by_name = raw_types(model_dir)
    result = tfma.EvalConfig()
    result.CopyFrom(config)
    del result.slicing_specs[:]
    for spec in config.slicing_specs:
        feature = spec.feature_keys[0] if len(spec.feature_keys) == 1 else None
        limit = limits.get(feature) if not spec.feature_values else None
        raw_type = types_by_name.get(feature, "BYTES")
        if limit is None or raw_type not in ("BYTES", "INT"):
            result.slicing_specs.append(spec)
            continue
        values = top_values(os.path.join(model_dir, "assets", limit["vocabulary"]),
                            limit["prefix"], limit["top_values"])
        if len(values) <= limit["top_values"]:
            result.slicing_specs.append(spec)  # the limit keeps every value it knows: as it was
            continue
        kept = values[:limit["top_values"]]
        logging.info("Slicing %s by its %d most frequent values (%s, ...)", feature, len(kept),
                     ", ".join(kept[:3]))
        if raw_type == "INT":  # TFMA reads feature_values as numbers: exact for an int feature
            result.slicing_specs.extend(tfma.SlicingSpec(feature_values={feature: v})
                                        for v in kept)
        else:
            result.slicing_specs.append(tfma.SlicingSpec(slice_keys_sql=values_sql(feature, kept)))
    return result


def decoding_schema(config: tfma.EvalConfig, model_dir: str):
    """The raw-data schema (`raw_types`' file) cut to the raw features TFMA reads from the
    examples under `config`: the slice features, the label and example-weight columns. TFMA
    decodes every feature of every example and splits each into per-example values, though the
    model reads the serialized examples and the labels come from its `transform_features`; with
    this schema only these columns are decoded. None (decode everything, as without it) when the
    model has no raw schema, or a slice feature is missing from it, or a slice uses SQL on
    anything but one limited feature (`limit_slices`'s)."""
    from tensorflow_metadata.proto.v0 import schema_pb2
    from google.protobuf import text_format
    path = os.path.join(model_dir, "assets.extra", "raw_schema.pbtxt")
    if not tf.io.gfile.exists(path):
        return None
    if any(spec.slice_keys_sql and not re.match(r"SELECT STRUCT\(`[^`]+`\) FROM example\.",
                                                spec.slice_keys_sql)
           for spec in config.slicing_specs):
        return None
    sliced = {name for names in sliced_features(config) for name in names}
    needed = set(sliced)
    for spec in config.model_specs:
        needed.update(n for n in (spec.label_key, spec.example_weight_key) if n)
        needed.update(spec.label_keys.values())
        needed.update(spec.example_weight_keys.values())
    with tf.io.gfile.GFile(path) as f:
        schema = text_format.Parse(f.read(), schema_pb2.Schema())
    known = {feature.name for feature in schema.feature}
    if not sliced <= known:
        return None
    result = schema_pb2.Schema()
    result.CopyFrom(schema)
    del result.feature[:]
    result.feature.extend(f for f in schema.feature if f.name in needed)
    return result


def _histogram_means(name: str = "histogram_means", eval_config=None, model_name: str = "",
                     output_name: str = "", sub_key=None, aggregation_type=None,
                     class_weights=None, example_weighted: bool = False):
    """TFMA computations of HistogramMeans: TFMA's default calibration histogram (the one its
    AUC, confusion matrices and calibration plot share), then mean label, mean prediction and
    calibration as TFMA defines them (weighted label / prediction sums over weighted examples;
    predictions over labels), the sums taken over the histogram's buckets."""
    from tensorflow_model_analysis.metrics import calibration, calibration_histogram, metric_types
    keys = {n: metric_types.MetricKey(name=n, model_name=model_name, output_name=output_name,
                                      sub_key=sub_key, example_weighted=example_weighted)
            for n in (calibration.MEAN_LABEL_NAME, calibration.MEAN_PREDICTION_NAME,
                      calibration.CALIBRATION_NAME)}
    computations = calibration_histogram.calibration_histogram(
        eval_config=eval_config, model_name=model_name, output_name=output_name,
        sub_key=sub_key, aggregation_type=aggregation_type, class_weights=class_weights,
        example_weighted=example_weighted)
    histogram_key = computations[-1].keys[-1]

    def ratio(numerator, denominator):
        return float("nan") if np.isclose(denominator, 0.0) else numerator / denominator

    def result(metrics):
        buckets = metrics[histogram_key]
        labels = sum(b.weighted_labels for b in buckets)
        predictions = sum(b.weighted_predictions for b in buckets)
        examples = sum(b.weighted_examples for b in buckets)
        return {keys[calibration.MEAN_LABEL_NAME]: ratio(labels, examples),
                keys[calibration.MEAN_PREDICTION_NAME]: ratio(predictions, examples),
                keys[calibration.CALIBRATION_NAME]: ratio(predictions, labels)}

    computations.append(metric_types.DerivedMetricComputation(keys=list(keys.values()),
                                                              result=result))
    return computations


class HistogramMeans(tfma.metrics.Metric):
    """mean_label, mean_prediction and calibration (TFMA's keys and values) of a binary output,
    derived from the calibration histogram that AUC and the plots already build. TFMA's own
    MeanLabel, MeanPrediction and Calibration keep a separate combiner for these sums, which
    receives every example of every slice again (7 % of the demo's Evaluator run). Configure
    with `MetricConfig(class_name="HistogramMeans", module="components.evaluation")`."""

    def __init__(self, name: str = "histogram_means"):
        from tensorflow_model_analysis.metrics import metric_util
        super().__init__(metric_util.merge_per_key_computations(_histogram_means), name=name)


class Executor(tfx_evaluator.Executor):
    """TFX's Evaluator executor on the EvalConfig with limited slices (`limit_slices`), decoding
    only the raw features TFMA reads (`decoding_schema`)."""
    decoding_schema = staticmethod(decoding_schema)

    def Do(self, input_dict, output_dict, exec_properties):
        limits = json.loads(exec_properties.get(SLICE_TOP_VALUES_KEY) or "{}")
        config_json = exec_properties.get(standard_component_specs.EVAL_CONFIG_KEY)
        if not config_json or standard_component_specs.MODEL_KEY not in input_dict:
            return super().Do(input_dict, output_dict, exec_properties)
        model = artifact_utils.get_single_instance(input_dict[standard_component_specs.MODEL_KEY])
        model_dir = path_utils.serving_model_path(model.uri,
                                                  path_utils.is_old_model_artifact(model))
        config = proto_utils.json_to_proto(config_json, tfma.EvalConfig())
        if limits:
            config = limit_slices(config, limits, model_dir)
            exec_properties = {**exec_properties,
                               standard_component_specs.EVAL_CONFIG_KEY:
                                   proto_utils.proto_to_json(config)}
        schema = self.decoding_schema(config, model_dir)
        if schema is not None and standard_component_specs.SCHEMA_KEY not in input_dict:
            try:
                schema_dir = os.path.join(self._get_tmp_dir(), "decoding_schema")
            except RuntimeError:  # called outside a pipeline without a temp path
                schema_dir = tempfile.mkdtemp(prefix="evaluator_schema_")
            tf.io.gfile.makedirs(schema_dir)
            with tf.io.gfile.GFile(os.path.join(schema_dir, "schema.pbtxt"), "w") as f:
                f.write(str(schema))
            artifact = standard_artifacts.Schema()
            artifact.uri = schema_dir
            input_dict = {**input_dict, standard_component_specs.SCHEMA_KEY: [artifact]}
            logging.info("Decoding only %s of the examples' features",
                         ", ".join(f.name for f in schema.feature))
        super().Do(input_dict, output_dict, exec_properties)


class EvaluatorSpec(standard_component_specs.EvaluatorSpec):
    # code_version: a fingerprint of this module (the executor), which TFX's cache key leaves
    # out (it holds the executor's class path, not its source); TFX's EvaluatorSpec has no
    # free parameter for it (module_file would be loaded as user code)
    PARAMETERS = {**standard_component_specs.EvaluatorSpec.PARAMETERS,
                  SLICE_TOP_VALUES_KEY: ExecutionParameter(type=str, optional=True),
                  "code_version": ExecutionParameter(type=str, optional=True)}


class Evaluator(tfx_evaluator_component.Evaluator):
    """TFX's Evaluator (same id, inputs and outputs) with `slice_top_values`: JSON of
    {feature: {"top_values": k, "vocabulary": its vocabulary's asset file name, "prefix": its
    token prefix}} (`slice_limits` builds it from the dataset spec). Part of the cache
    key, like the EvalConfig; so is `code_version`, the fingerprint of the executor's source."""
    SPEC_CLASS = EvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
                 baseline_model: types.BaseChannel, eval_config: tfma.EvalConfig,
                 slice_top_values: str = "", code_version: str = ""):
        # TFX's __init__ builds its own spec class; this one adds the parameter to the same fields
        spec = EvaluatorSpec(
            examples=examples, model=model, baseline_model=baseline_model,
            # the test split only: no training decision saw it (components/dataset_spec.py)
            eval_config=eval_config, example_splits=json.dumps([TEST_SPLIT]),
            fairness_indicator_thresholds="null",
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            slice_top_values=slice_top_values, code_version=code_version)
        super(tfx_evaluator_component.Evaluator, self).__init__(spec=spec)
