"""The Evaluator's TFMA config comes from the spec and gates on the overall slice only."""
import pytest

from components.dataset_spec import load_spec
from components.evaluation import eval_config


def _metric(config, name):
    return next(m for spec in config.metrics_specs for m in spec.metrics if m.class_name == name)


def test_binary_spec_gates_overall_auc_and_reports_slices():
    spec = load_spec("criteo")
    config = eval_config(spec)
    assert config.model_specs[0].label_key == "label"
    assert list(config.model_specs[0].preprocessing_function_names) == ["transform_features"]
    assert config.model_specs[0].model_type == "tf_generic"
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["C6"], ["C9"]]
    auc = _metric(config, "AUC")
    assert not auc.HasField("threshold")  # a plain threshold would gate every slice
    (gate,) = auc.per_slice_thresholds
    assert [list(s.feature_keys) for s in gate.slicing_specs] == [[]]
    assert gate.threshold.value_threshold.lower_bound.value == spec.evaluation.auc_threshold
    assert gate.threshold.change_threshold.absolute.value == spec.evaluation.auc_change_threshold
    for name in ("BinaryCrossEntropy", "HistogramMeans", "ExampleCount"):
        _metric(config, name)
    assert _metric(config, "HistogramMeans").module == "components.evaluation"


def test_regression_spec_gates_on_mse_change():
    config = eval_config(load_spec("movielens_rating"))
    (gate,) = _metric(config, "MeanSquaredError").per_slice_thresholds
    assert gate.threshold.change_threshold.relative.value == 0.01
    # always a value threshold, or a first run (no baseline) could never be blessed
    assert gate.threshold.value_threshold.upper_bound.value == float("inf")
    _metric(config, "MeanAbsoluteError")


def test_multi_task_spec_gates_every_output_with_its_own_thresholds():
    from components.dataset_spec import DatasetSpec
    spec = DatasetSpec.from_dict({
        "labels": [{"name": "click", "column": "click", "auc_threshold": 0.7},
                   {"name": "purchase", "column": "purchase", "auc_change_threshold": -0.05},
                   {"name": "spend", "column": "spend", "task": "regression", "max_mse": 2.5}],
        "sparse": ["device"], "slices": ["device"],
        "evaluation": {"auc_threshold": 0.6, "auc_change_threshold": -0.01}})
    config = eval_config(spec)
    assert dict(config.model_specs[0].label_keys) == {"click": "click", "purchase": "purchase",
                                                      "spend": "spend"}
    assert not config.model_specs[0].label_key
    by_output = {tuple(m.output_names): m for m in config.metrics_specs}
    assert set(by_output) == {("click",), ("purchase",), ("spend",)}

    def gate(output, metric):
        (config_,) = [m for m in by_output[(output,)].metrics if m.class_name == metric]
        (per_slice,) = config_.per_slice_thresholds
        assert [list(s.feature_keys) for s in per_slice.slicing_specs] == [[]]  # overall only
        return per_slice.threshold

    assert gate("click", "AUC").value_threshold.lower_bound.value == 0.7
    assert gate("click", "AUC").change_threshold.absolute.value == -0.01  # spec default
    assert gate("purchase", "AUC").value_threshold.lower_bound.value == 0.6  # spec default
    assert gate("purchase", "AUC").change_threshold.absolute.value == -0.05
    assert gate("spend", "MeanSquaredError").value_threshold.upper_bound.value == 2.5
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["device"]]


def test_confidence_intervals_are_opt_in():
    spec = load_spec("criteo")
    assert not eval_config(spec).options.compute_confidence_intervals.value
    assert eval_config(spec, confidence_intervals=True).options.compute_confidence_intervals.value


def test_logloss_is_tfma_binary_cross_entropy_under_the_keras_key():
    """TFMA's own metric (no traced TF update per example), reported as binary_crossentropy
    (the key the run summary and the report read), equal to the NumPy logloss."""
    import numpy as np
    import tensorflow_model_analysis as tfma
    _metric(eval_config(load_spec("criteo")), "BinaryCrossEntropy")
    labels = np.array([1.0, 0.0, 1.0, 0.0, 0.0])
    predictions = np.array([0.9, 0.2, 0.35, 0.6, 0.01])
    (computation,) = tfma.metrics.BinaryCrossEntropy().computations()
    combiner = computation.combiner
    accumulator = combiner.create_accumulator()
    for y, p in zip(labels, predictions):
        accumulator = combiner.add_input(accumulator, tfma.metrics.StandardMetricInputs(
            labels=np.array([y]), predictions=np.array([p]), example_weights=np.array([1.0])))
    ((key, value),) = combiner.extract_output(accumulator).items()
    assert key.name == "binary_crossentropy"
    expected = -np.mean(labels * np.log(predictions) + (1 - labels) * np.log(1 - predictions))
    np.testing.assert_allclose(value, expected, rtol=1e-12)


def _spec(slices, evaluation=None):
    from components.dataset_spec import DatasetSpec
    return DatasetSpec.from_dict({
        "labels": [{"name": "click", "column": "click"}], "dense": ["price"],
        "sparse": ["site", "app", {"name": "ad", "encoding": "hash", "hash_buckets": 100},
                   {"name": "user", "vocab_group": "people"}],
        "slices": slices, "evaluation": evaluation or {}})


def test_vocabulary_slice_features_are_limited_to_their_top_values_by_default():
    from components.dataset_spec import spec_from_config
    from components.evaluation import slice_limits
    spec = _spec(["site", {"name": "user", "top_values": 20}, "ad", "price"])
    assert spec.evaluation.slices == ("site", "user", "ad", "price")
    # hash-encoded and dense features have no vocabulary to rank their values: all values
    assert slice_limits(spec) == {
        "site": {"top_values": 100, "vocabulary": "vocab_ids", "prefix": "site="},
        "user": {"top_values": 20, "vocabulary": "vocab_people", "prefix": "user="}}
    # the config still names the features; the Evaluator's executor picks the values
    assert [list(s.feature_keys) for s in eval_config(spec).slicing_specs] == [
        [], ["site"], ["user"], ["ad"], ["price"]]
    assert spec_from_config(spec.to_dict()).evaluation == spec.evaluation
    assert slice_limits(_spec(["site", "user"], {"slice_top_values": None})) == {}
    assert slice_limits(_spec(["site"], {"slice_top_values": 5}))["site"]["top_values"] == 5
    assert slice_limits(load_spec("criteo")).keys() == {"C6", "C9"}


def test_a_top_values_limit_needs_a_vocabulary_feature_and_a_positive_int():
    import pytest
    from components.dataset_spec import SpecError
    with pytest.raises(SpecError, match=r"slices\.ad: top_values needs a vocabulary-encoded"):
        _spec([{"name": "ad", "top_values": 5}])
    with pytest.raises(SpecError, match=r"slices\.site: top_values must be a positive int"):
        _spec([{"name": "site", "top_values": 0}])
    with pytest.raises(SpecError, match="slice_top_values: must be a positive int or null"):
        _spec(["site"], {"slice_top_values": "all"})
    with pytest.raises(SpecError, match="an entry is a feature name or"):
        _spec([{"name": "site", "top": 5}])


def evaluator_model_dir(tmp_path, vocabulary, raw_types):
    """A model folder as the Evaluator sees it: the Transform vocabulary among the SavedModel
    assets, the raw-data schema in assets.extra."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "vocab_ids").write_text("".join(t + "\n" for t in vocabulary))
    (tmp_path / "assets.extra").mkdir()
    (tmp_path / "assets.extra" / "raw_schema.pbtxt").write_text("".join(
        f'feature {{ name: "{name}" type: {kind} }}\n' for name, kind in raw_types.items()))
    return str(tmp_path)


def test_a_limited_slice_becomes_an_sql_slice_of_the_most_frequent_values(tmp_path):
    from components.evaluation import limit_slices, sliced_features
    # tft.vocabulary order (descending frequency), several fields; "site=" is the missing value
    model_dir = evaluator_model_dir(
        tmp_path, ["site=a", "app=x", "site=", "site=b", "site=c", "app=y", "site=d"],
        {"site": "BYTES", "app": "BYTES", "ad": "BYTES"})
    limits = {name: {"top_values": 2, "vocabulary": "vocab_ids", "prefix": f"{name}="}
              for name in ("site", "app")}
    config = eval_config(_spec(["site", "app", "ad"]))
    limited = limit_slices(config, limits, model_dir)
    assert [(list(s.feature_keys), s.slice_keys_sql) for s in limited.slicing_specs] == [
        ([], ""),
        ([], r"SELECT STRUCT(`site`) FROM example.`site` WHERE `site` IN (b'\x61', b'\x62')"),
        # a limit the vocabulary does not exceed keeps the feature slice (unseen values too)
        (["app"], ""), (["ad"], "")]
    assert limited.metrics_specs == config.metrics_specs
    assert list(config.slicing_specs[1].feature_keys) == ["site"]  # the input is not changed
    # the report's tables: one per feature, in the spec's order
    assert sliced_features(limited) == sliced_features(config) == [["site"], ["app"], ["ad"]]


def test_the_sql_slice_keys_equal_the_feature_slice_keys_for_the_kept_values():
    """Run by tfx_bsl's SQL engine (what TFMA's SqlSliceKeyExtractor runs) on raw values that
    TFMA's feature_values would misread (numbers, leading zeros) or that need quoting."""
    import pyarrow as pa
    from tfx_bsl.arrow import sql_util
    from components.evaluation import values_sql
    values = ["12345678", "it's", "é", "0012", "a\\b"]
    rows = [[v.encode()] for v in values] + [[], [b"other"]]
    batch = pa.RecordBatch.from_arrays([pa.array(rows, type=pa.list_(pa.binary()))], ["C6"])
    sql = f"SELECT ARRAY({values_sql('C6', values)}) as slice_key FROM Examples as example;"
    keys = sql_util.RecordBatchSQLSliceQuery(sql, batch.schema).Execute(batch)
    assert [[tuple(k) for (k,) in row] for row in keys] == [[("C6", v)] for v in values] + [[], []]


def test_an_int_feature_is_limited_by_exact_values(tmp_path):
    import numpy as np
    from tensorflow_model_analysis.slicer import slicer_lib
    from components.evaluation import limit_slices
    model_dir = evaluator_model_dir(tmp_path, ["movie=7", "movie=12", "movie=3"], {"movie": "INT"})
    config = eval_config(_spec(["site"]))
    del config.slicing_specs[1:]
    config.slicing_specs.add(feature_keys=["movie"])
    limits = {"movie": {"top_values": 2, "vocabulary": "vocab_ids", "prefix": "movie="}}
    specs = limit_slices(config, limits, model_dir).slicing_specs[1:]
    assert [dict(s.feature_values) for s in specs] == [{"movie": "7"}, {"movie": "12"}]

    def keys(slicing_specs, value):  # TFMA's slice keys of an example with movie = value
        return list(slicer_lib.get_slices_for_features_dicts(
            [{"movie": np.array([value])}], None,
            [slicer_lib.SingleSliceSpec(spec=s) for s in slicing_specs]))

    for value in (7, 12):  # the same key, int value, as slicing by the feature
        assert keys(specs, value) == keys(config.slicing_specs[1:], value) == [(("movie", value),)]
    assert keys(specs, 3) == []


def test_the_evaluator_component_carries_the_limits():
    from tfx.types import standard_artifacts
    from tfx.types.channel import Channel
    from components.evaluation import SLICE_TOP_VALUES_KEY, Evaluator
    spec = load_spec("criteo")
    evaluator = Evaluator(examples=Channel(type=standard_artifacts.Examples),
                          model=Channel(type=standard_artifacts.Model),
                          baseline_model=Channel(type=standard_artifacts.Model),
                          eval_config=eval_config(spec), slice_top_values='{"C6": {}}')
    assert evaluator.id == "Evaluator"
    assert evaluator.exec_properties[SLICE_TOP_VALUES_KEY] == '{"C6": {}}'
    assert set(evaluator.outputs) == {"evaluation", "blessing"}


def test_tfma_takes_the_model_type_without_a_keras_load(tmp_path, monkeypatch):
    """Unset, TFMA tries a Keras load_model of the whole SavedModel only to learn the type (a
    quarter of a small Evaluator run); set, it is taken as it is, and the baseline copy too."""
    import tensorflow as tf
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.utils import model_util
    loads = []
    monkeypatch.setattr(tf.keras.models, "load_model", lambda *a, **k: loads.append(a))
    config = tfma.utils.update_eval_config_with_defaults(eval_config(load_spec("criteo")),
                                                         has_baseline=True)
    assert [model_util.get_model_type(s, str(tmp_path)) for s in config.model_specs] == [
        tfma.TF_GENERIC, tfma.TF_GENERIC]
    assert loads == []
    model_util.get_model_type(tfma.ModelSpec(), str(tmp_path))  # the patch is what TFMA calls
    assert len(loads) == 1


def test_the_evaluator_decodes_only_the_sliced_label_and_weight_columns(tmp_path):
    from tensorflow_metadata.proto.v0 import schema_pb2
    from components.evaluation import decoding_schema, limit_slices
    model_dir = evaluator_model_dir(tmp_path, ["site=a", "site=b", "site=c"],
                                    {"click": "INT", "site": "BYTES", "app": "BYTES",
                                     "price": "FLOAT", "w": "FLOAT"})
    config = eval_config(_spec(["site", "price"]))
    config.model_specs[0].example_weight_key = "w"

    def names(schema):
        return sorted(f.name for f in schema.feature)

    schema = decoding_schema(config, model_dir)
    assert names(schema) == ["click", "price", "site", "w"]
    assert {f.name: schema_pb2.FeatureType.Name(f.type) for f in schema.feature} == {
        "click": "INT", "site": "BYTES", "price": "FLOAT", "w": "FLOAT"}  # the raw types
    limits = {"site": {"top_values": 2, "vocabulary": "vocab_ids", "prefix": "site="}}
    limited = limit_slices(config, limits, model_dir)
    assert limited.slicing_specs[1].slice_keys_sql  # the limit binds: an SQL slice of site
    assert names(decoding_schema(limited, model_dir)) == ["click", "price", "site", "w"]
    # everything decoded, as TFX does, when the columns a slice reads are not known
    assert decoding_schema(eval_config(_spec(["app", "ad"])), model_dir) is None  # ad: no raw type
    other_sql = eval_config(_spec(["site"]))
    other_sql.slicing_specs.add(slice_keys_sql="SELECT STRUCT(site, app) FROM example")
    assert decoding_schema(other_sql, model_dir) is None
    assert decoding_schema(config, str(tmp_path / "no_model")) is None


def test_mean_label_prediction_and_calibration_come_from_the_auc_histogram():
    """HistogramMeans: TFMA's keys and values (NumPy weighted means, calibration = predictions
    over labels), computed from the histogram AUC builds anyway: no combiner of its own."""
    import numpy as np
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.metrics import metric_specs, metric_types
    from components.evaluation import HistogramMeans
    config = eval_config(load_spec("criteo"))
    computations = metric_specs.to_computations(config.metrics_specs, eval_config=config)
    combiners = [c for c in computations if type(c) is metric_types.MetricComputation]
    # AUC, the plots and the means share one histogram; BinaryCrossEntropy and ExampleCount
    # (TFMA runs each distinct key's combiner once)
    names = {key.name for c in combiners for key in c.keys}
    assert len(names) == 3
    assert sum(name.startswith("_calibration_histogram") for name in names) == 1

    labels = np.array([1.0, 0.0, 1.0, 0.0, 0.5])
    predictions = np.array([0.9, 0.2, 0.35, 0.6, 0.01])
    weights = np.array([1.0, 2.0, 0.5, 1.0, 3.0])
    for weighted in (False, True):
        (histogram, means) = HistogramMeans().computations(example_weighted=weighted)
        combiner = histogram.combiner
        accumulator = combiner.create_accumulator()
        for y, p, w in zip(labels, predictions, weights):
            accumulator = combiner.add_input(accumulator, tfma.metrics.StandardMetricInputs(
                labels=np.array([y]), predictions=np.array([p]), example_weights=np.array([w])))
        result = means.result(combiner.extract_output(accumulator))
        w = weights if weighted else np.ones_like(weights)
        expected = {"mean_label": np.sum(labels * w) / np.sum(w),
                    "mean_prediction": np.sum(predictions * w) / np.sum(w),
                    "calibration": np.sum(predictions * w) / np.sum(labels * w)}
        assert {key.name: value for key, value in result.items()} == pytest.approx(expected,
                                                                                    rel=1e-12)
        assert all(key.example_weighted == weighted for key in result)


def test_the_gate_keys_are_one_list_that_the_spec_gate_and_the_components_copy_follow():
    """GATE_KEYS (components.dataset_spec) name the blessing thresholds of a label and of the
    spec's `evaluation`; spec.gate reads exactly those keys, and the spec the other components
    get (their cache key) has none of them."""
    import dataclasses
    from components.dataset_spec import (BINARY_GATE_KEYS, GATE_KEYS, REGRESSION_GATE_KEYS,
                                          EvaluationSpec, LabelSpec)
    from components.dataset_spec import spec_without_gates
    assert GATE_KEYS == BINARY_GATE_KEYS + REGRESSION_GATE_KEYS
    assert set(GATE_KEYS) <= {f.name for f in dataclasses.fields(LabelSpec)}
    assert set(GATE_KEYS) <= {f.name for f in dataclasses.fields(EvaluationSpec)}
    spec = load_spec("census_income")  # two labels, each with its own gate
    for label in spec.labels:
        assert {k: getattr(spec.gate(label), k) for k in GATE_KEYS} == {
            k: getattr(label, k) if getattr(label, k) is not None
            else getattr(spec.evaluation, k) for k in GATE_KEYS}
    stripped = spec_without_gates(spec)
    assert "evaluation" not in stripped
    for label in stripped["labels"]:
        assert not set(GATE_KEYS) & set(label), label
