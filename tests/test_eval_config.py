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
