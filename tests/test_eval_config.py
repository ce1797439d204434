"""The Evaluator's TFMA config comes from the spec and gates on the overall slice only."""
from components.dataset_spec import load_spec
from pipeline.pipeline import eval_config


def _metric(config, name):
    return next(m for spec in config.metrics_specs for m in spec.metrics if m.class_name == name)


def test_binary_spec_gates_overall_auc_and_reports_slices():
    spec = load_spec("criteo")
    config = eval_config(spec)
    assert config.model_specs[0].label_key == "label"
    assert list(config.model_specs[0].preprocessing_function_names) == ["transform_features"]
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["C6"], ["C9"]]
    auc = _metric(config, "AUC")
    assert not auc.HasField("threshold")  # a plain threshold would gate every slice
    (gate,) = auc.per_slice_thresholds
    assert [list(s.feature_keys) for s in gate.slicing_specs] == [[]]
    assert gate.threshold.value_threshold.lower_bound.value == spec.evaluation.auc_threshold
    assert gate.threshold.change_threshold.absolute.value == spec.evaluation.auc_change_threshold
    for name in ("BinaryCrossentropy", "Calibration", "ExampleCount"):
        _metric(config, name)


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
