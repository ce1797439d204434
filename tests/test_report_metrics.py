"""The one TFMA reader (pipeline/reporting/metrics.py) without a pipeline run: metric values and
intervals, the summary's overall / per-slice / per-task views, threshold texts and the
validation result's failure lines."""
import pytest

from pipeline.reporting.metrics import (EvalData, Metric, gates, load_validation,
                                        threshold_text)


def test_a_tfma_value_becomes_a_metric_with_its_interval_when_there_is_one():
    assert Metric.from_tfma({"doubleValue": 0.75}) == Metric(0.75)
    bounded = Metric.from_tfma({"boundedValue": {"value": 0.7, "lowerBound": 0.65,
                                                 "upperBound": 0.74}})
    assert bounded == Metric(0.7, 0.65, 0.74) and bounded.has_interval
    assert not Metric(0.7).has_interval
    assert Metric.from_tfma({"confusionMatrixAtThresholds": {}}) is None  # not a number


def _data(outputs):
    """EvalData of one overall slice and three C6 slices for each output."""
    metrics = {}
    for output, shift in outputs.items():
        for key, auc in (((), 0.70), ((("C6", "a"),), 0.80), ((("C6", "b"),), 0.60),
                         ((("C6", "c"),), None)):
            values = {"example_count": Metric(100.0)}
            if auc is not None:
                values["auc"] = Metric(auc + shift, auc + shift - 0.01, auc + shift + 0.01)
            metrics.setdefault(key, {})[output] = values
    return EvalData(metrics, plots={})


def test_single_output_overall_and_slices_worst_auc_first_without_intervals():
    data = _data({"": 0.0})
    assert data.output_names() == [""]
    overall, slices = data.overall_and_slices()
    assert overall == {"auc": 0.70, "example_count": 100.0}
    # worst AUC first; a slice without AUC last
    assert [name for name, _ in slices] == ["C6=b", "C6=a", "C6=c"]
    assert slices[0][1] == {"auc": 0.60, "example_count": 100.0}
    assert data.task_metrics() == ({}, [])  # one unnamed output: no tasks


def test_multi_task_metrics_per_output_and_slices_of_all_tasks_worst_first():
    data = _data({"ctr": 0.0, "cvr": 0.05})
    tasks, slices = data.task_metrics()
    assert tasks["ctr"]["auc"] == pytest.approx(0.70, abs=1e-12)
    assert tasks["cvr"]["auc"] == pytest.approx(0.75, abs=1e-12)
    names = [name for name, _ in slices]
    assert names[:4] == ["ctr: C6=b", "cvr: C6=b", "ctr: C6=a", "cvr: C6=a"]
    assert set(names[4:]) == {"ctr: C6=c", "cvr: C6=c"}
    assert data.overall_and_slices("nope") == ({}, [])


def _threshold(lower=None, upper=None, absolute=None, relative=None, higher_is_better=True):
    import tensorflow_model_analysis as tfma
    threshold = tfma.MetricThreshold()
    if lower is not None:
        threshold.value_threshold.lower_bound.value = lower
    if upper is not None:
        threshold.value_threshold.upper_bound.value = upper
    direction = (tfma.MetricDirection.HIGHER_IS_BETTER if higher_is_better
                 else tfma.MetricDirection.LOWER_IS_BETTER)
    if absolute is not None:
        threshold.change_threshold.absolute.value = absolute
        threshold.change_threshold.direction = direction
    if relative is not None:
        threshold.change_threshold.relative.value = relative
        threshold.change_threshold.direction = direction
    return threshold


def test_threshold_texts_name_each_bound_and_skip_infinite_ones():
    assert threshold_text(_threshold(lower=0.6)) == ">= 0.6"
    assert threshold_text(_threshold(lower=0.6, upper=float("inf"))) == ">= 0.6"
    assert threshold_text(_threshold(upper=0.25)) == "<= 0.25"
    assert threshold_text(_threshold(absolute=-0.01)) == "change vs baseline >= -0.01"
    assert (threshold_text(_threshold(relative=0.1, higher_is_better=False))
            == "relative change vs baseline <= 0.1")
    assert threshold_text(_threshold(lower=0.6), at_least="≥") == "≥ 0.6"
    assert threshold_text(_threshold()) == "a threshold"


def test_gates_are_the_thresholds_of_the_output_from_the_pipelines_eval_config():
    from components.dataset_spec import load_spec
    from components.evaluation import eval_config
    spec = load_spec("criteo")
    config = eval_config(spec)
    evaluation = spec.evaluation
    assert gates(config, "", at_least="≥") == [
        f"AUC ≥ {evaluation.auc_threshold:.4g}",
        f"AUC change vs baseline ≥ {evaluation.auc_change_threshold:.4g}"]
    assert threshold_text(config.metrics_specs[0].metrics[0].per_slice_thresholds[0].threshold) == (
        f">= {evaluation.auc_threshold:.4g}, change vs baseline >= "
        f"{evaluation.auc_change_threshold:.4g}")
    # one label: its MetricsSpec names no output, so it gates whatever the output is called
    assert gates(config, "click") == gates(config, "")


def _write_validation(folder, result):
    import tensorflow as tf
    with tf.io.TFRecordWriter(str(folder / "validations.tfrecord")) as writer:
        writer.write(result.SerializeToString())


def test_validation_failures_say_task_metric_value_and_the_bound(tmp_path):
    from tensorflow_model_analysis.proto import validation_result_pb2
    result = validation_result_pb2.ValidationResult(validation_ok=False)
    per_slice = result.metric_validations_per_slice.add()
    failed = per_slice.failures.add()
    failed.metric_key.name = "auc"
    failed.metric_value.double_value.value = 0.5812
    failed.metric_threshold.CopyFrom(_threshold(lower=0.6))
    not_computed = per_slice.failures.add()
    not_computed.metric_key.name = "auc"
    not_computed.metric_key.output_name = "income"
    not_computed.metric_key.is_diff = True
    not_computed.metric_threshold.CopyFrom(_threshold(absolute=-0.01))
    result.missing_slices.add(feature_keys=["C6"])
    _write_validation(tmp_path, result)
    validation = load_validation(str(tmp_path))
    assert validation.ok is False
    assert validation.failures[:2] == [
        "overall: auc = 0.5812, needs >= 0.6",
        "income: auc change vs baseline was not computed, needs change vs baseline >= -0.01"]
    assert len(validation.failures) == 3 and validation.failures[2].startswith("missing slice ")
    assert "C6" in validation.failures[2]


def test_no_threshold_applied_and_no_validation_written(tmp_path):
    from tensorflow_model_analysis.proto import validation_result_pb2
    empty = tmp_path / "no_thresholds"
    empty.mkdir()
    _write_validation(empty, validation_result_pb2.ValidationResult(
        validation_ok=False, missing_thresholds=True))
    validation = load_validation(str(empty))
    assert validation.ok is False
    assert validation.failures == ["no threshold could be checked (none applies to this "
                                   "evaluation)"]
    nothing = load_validation(str(tmp_path / "absent"))
    assert nothing.ok is None and nothing.failures == []
