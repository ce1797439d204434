"""The drift gate's parts without a pipeline run (components/drift.py): TFDV's distances on
small hand-made statistics against a reference computed here, the executor's refusal and its
override, the spec's `drift` section, the gate's place in the pipeline graph, and how the summary
and the CLI show a refusal. The gate in real retrain runs: tests/test_retrain.py."""
import argparse
import json
import os

import pandas as pd
import pytest

from components.dataset_spec import DatasetSpec, DriftSpec, SpecError, spec_without_gates

# current vs previous span: category shares move by 0.4 at most (value "z": 0.1 -> 0.5);
# the numeric column moves to a range of its own (disjoint histograms)
PREVIOUS = pd.DataFrame({"c": ["x"] * 60 + ["y"] * 30 + ["z"] * 10,
                         "n": [float(i) for i in range(100)]})
CURRENT = pd.DataFrame({"c": ["x"] * 20 + ["y"] * 30 + ["z"] * 50,
                        "n": [1000.0 + i for i in range(100)]})


def _spec(**drift):
    raw = {"name": "t", "labels": [{"name": "y", "column": "y"}], "dense": ["n"],
           "sparse": ["c"]}
    if drift:
        raw["drift"] = drift
    return DatasetSpec.from_dict(raw)


def _statistics(frame):
    import tensorflow_data_validation as tfdv
    return tfdv.generate_statistics_from_dataframe(frame)


def _reference_linf(a, b):
    """max over values of |share in a - share in b|."""
    pa, pb = a.value_counts(normalize=True), b.value_counts(normalize=True)
    values = pa.index.union(pb.index)
    return float((pa.reindex(values, fill_value=0) - pb.reindex(values, fill_value=0)).abs().max())


def test_the_distances_are_tfdvs_l_infinity_and_jensen_shannon():
    from components.drift import measure
    current, previous = _statistics(CURRENT), _statistics(PREVIOUS)
    distances = {d.feature: d for d in measure(current, previous, DriftSpec(), ["c", "n"])}
    assert distances["c"].comparator == "categorical_linf"
    assert distances["c"].distance == pytest.approx(_reference_linf(CURRENT.c, PREVIOUS.c),
                                                    abs=1e-6)
    assert _reference_linf(CURRENT.c, PREVIOUS.c) == pytest.approx(0.4)
    assert distances["c"].exceeded and distances["c"].threshold == 0.3
    # disjoint ranges: the Jensen-Shannon divergence (base 2) is its maximum, 1
    assert distances["n"].comparator == "numeric_js"
    assert distances["n"].distance == pytest.approx(1.0, abs=1e-6)
    assert distances["n"].threshold == 0.6
    same = measure(current, current, DriftSpec(), ["c", "n"])
    assert [d.feature for d in same] == ["c", "n"]
    assert [d.distance for d in same] == pytest.approx([0.0, 0.0], abs=1e-9)
    # only the features asked for
    assert [d.feature for d in measure(current, previous, DriftSpec(), ["n"])] == ["n"]


def test_skew_uses_the_skew_thresholds():
    from components.drift import measure
    train, test = _statistics(PREVIOUS), _statistics(CURRENT)
    drift = DriftSpec(categorical_linf=0.2, skew_categorical_linf=0.5)
    skew = {d.feature: d for d in measure(train, test, drift, ["c", "n"], skew=True)}
    assert skew["c"].distance == pytest.approx(0.4, abs=1e-6)
    assert skew["c"].threshold == 0.5 and not skew["c"].exceeded
    assert skew["n"].threshold == drift.numeric_js  # no skew_numeric_js: the drift threshold


def _write_statistics(folder, splits):
    for split, frame in splits.items():
        os.makedirs(os.path.join(folder, f"Split-{split}"))
        with open(os.path.join(folder, f"Split-{split}", "FeatureStats.pb"), "wb") as f:
            f.write(_statistics(frame).SerializeToString())
    return str(folder)


def _executor_args(tmp_path, name, baseline, allow):
    from tfx import types
    from tfx.types import standard_artifacts
    from components.drift import DriftCheck
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = _write_statistics(tmp_path / name / "current",
                                       {"train": CURRENT, "test": CURRENT})
    out = standard_artifacts.ExampleAnomalies()
    out.uri = str(tmp_path / name / "drift")
    node = DriftCheck(statistics=types.Channel(type=standard_artifacts.ExampleStatistics),
                      spec=_spec(), baseline=baseline, allow_drift=allow)
    return {"statistics": [statistics]}, {"drift": [out]}, dict(node.exec_properties), out


def test_the_executor_refuses_drift_naming_features_and_distances(tmp_path):
    from components import drift
    baseline = {"uri": _write_statistics(tmp_path / "previous", {"train": PREVIOUS}),
                "run_id": "run-7", "span": 3}
    inputs, outputs, properties, out = _executor_args(tmp_path, "gated", baseline, False)
    with pytest.raises(drift.DriftFound) as refused:
        drift.Executor().Do(inputs, outputs, properties)
    message = str(refused.value)
    assert message.startswith("the new data drifted from span 3 (run run-7), training stopped "
                              "before Transform: n Jensen-Shannon 1.000 > 0.6; "
                              "c L-infinity 0.400 > 0.3.")
    assert "--allow-drift" in message
    result = drift.read_result(out.uri)  # written before refusing: the report can show it
    assert result["drifted"] == ["c", "n"] and result["baseline"] == baseline
    assert [d.describe() for d in result["skew"]] == ["c L-infinity 0.000 <= 0.3",
                                                      "n Jensen-Shannon 0.000 <= 0.6"]
    inputs, outputs, properties, out = _executor_args(tmp_path, "allowed", baseline, True)
    drift.Executor().Do(inputs, outputs, properties)  # --allow-drift: recorded, no error
    assert drift.read_result(out.uri)["drifted"] == ["c", "n"]
    assert out.get_int_custom_property("drifted") == 1


def test_without_a_trained_run_only_skew_is_measured(tmp_path):
    from components import drift
    inputs, outputs, properties, out = _executor_args(tmp_path, "first", None, False)
    drift.Executor().Do(inputs, outputs, properties)
    result = drift.read_result(out.uri)
    assert result["baseline"] is None and result["drift"] == [] and len(result["skew"]) == 2
    assert out.get_int_custom_property("drifted") == 0


def test_the_spec_drift_section_defaults_overrides_and_errors():
    assert _spec().drift == DriftSpec(categorical_linf=0.3, numeric_js=0.6)
    spec = _spec(categorical_linf=0.1, skew_numeric_js=0.9, features=["c"])
    assert spec.drift.threshold("categorical_linf") == 0.1
    assert spec.drift.threshold("categorical_linf", skew=True) == 0.1
    assert spec.drift.threshold("numeric_js", skew=True) == 0.9
    from components.drift import compared_features
    assert compared_features(spec) == ["c"] and compared_features(_spec()) == ["n", "c"]
    # a gate like the blessing thresholds: not in the spec Transform and the Trainer read
    assert "drift" not in spec_without_gates(spec)
    for bad, error in (({"categorical_linf": 0}, "drift.categorical_linf: must be a number > 0"),
                       ({"linf": 0.2}, "drift: unknown keys ['linf']"),
                       ({"features": ["y"]}, "drift.features: 'y' is not a declared feature"),
                       ({"features": "c"}, "drift.features: must be a list")):
        with pytest.raises(SpecError, match=error.replace("[", r"\[").replace("]", r"\]")):
            _spec(**bad)


def test_the_gate_sits_before_transform_only_when_retrain_asks():
    from components.dataset_spec import load_spec
    from pipeline.pipeline import DriftGate, RunPaths, TrainingConfig, create_pipeline

    def build(gate):
        return create_pipeline(load_spec("criteo"), "/nonexistent/data",
                               RunPaths("/nonexistent/root"), TrainingConfig(train_steps=2),
                               input_pattern="*.csv", drift_gate=gate)
    baseline = {"uri": "/somewhere/statistics/3", "run_id": "r", "span": 2}
    gated = {c.id: c for c in build(DriftGate(baseline=baseline)).components}
    assert "DriftCheck" in {n.id for n in gated["Transform"].upstream_nodes}
    properties = gated["DriftCheck"].exec_properties
    assert json.loads(properties["baseline_json"]) == baseline
    assert properties["allow_drift"] == 0
    assert json.loads(properties["drift_json"])["categorical_linf"] == 0.3
    assert "DriftCheck" not in {c.id for c in build(None).components}  # run, demo, compare


def test_the_summary_names_drift_and_skew():
    from components.drift import Distance, result_dict
    from pipeline.reporting.summary import drift_lines
    ok = result_dict({"uri": "u", "run_id": "r1", "span": 2},
                     [Distance("C1", "categorical_linf", 0.12, 0.3),
                      Distance("I1", "numeric_js", 0.3, 0.6)],
                     [Distance("C1", "categorical_linf", 0.5, 0.3)], False)
    assert drift_lines(json.loads(json.dumps(ok))) == [
        "Drift from span 2 (run r1): within the thresholds (2 features; closest: I1 "
        "Jensen-Shannon 0.300 <= 0.6)",
        "Skew train vs test: ABOVE the thresholds: C1 L-infinity 0.500 > 0.3 (not a gate)"]
    allowed = result_dict({"uri": "u", "run_id": "r1", "span": None},
                          [Distance("C1", "categorical_linf", 0.7, 0.3)], [], True)
    assert drift_lines(allowed)[0] == ("Drift from run r1: ABOVE the thresholds: C1 L-infinity "
                                       "0.700 > 0.3 (allowed by --allow-drift)")
    assert drift_lines(None) == []


def test_the_cli_finds_a_refusal_in_the_error_chain_and_parses_allow_drift():
    from components.drift import DriftFound
    from pipeline.cli import drift_refusal
    from pipeline.retrain import DRIFT_EXIT_STATUS, add_retrain_args, retrain_options
    try:
        try:
            raise DriftFound("C1 drifted")
        except DriftFound as error:
            raise RuntimeError("component failed") from error
    except RuntimeError as wrapped:
        assert drift_refusal(wrapped) == "C1 drifted"
    assert drift_refusal(ValueError("other")) is None
    assert DRIFT_EXIT_STATUS not in (0, 1, 2, 3, 4)  # the CLI's other statuses
    parser = argparse.ArgumentParser()
    add_retrain_args(parser)
    base = ["--root", "r", "--data", "d"]
    assert retrain_options(parser.parse_args(base + ["--allow-drift"])).allow_drift is True
    assert retrain_options(parser.parse_args(base)).allow_drift is False


def test_the_report_has_a_drift_table_when_the_run_checked_drift():
    from components.drift import Distance, result_dict
    from pipeline.reporting.html import render_html
    from pipeline.reporting.summary import RunReport

    def page(drift):
        run = RunReport(pipeline_name="p", run_id="run-2", components=[], overall={},
                        slices=[], blessed=None, pushed_model=None, evaluation_uri=None,
                        model_uri=None, training={}, drift=drift)
        return render_html({
            "run": run, "root": "/tmp/root", "has_baseline": False, "intervals": False,
            "tasks": [], "blessed": None, "validation_ok": None, "failures": [],
            "data": {"splits": [], "anomalies": [], "features": []}, "lineage": [],
            "spec": {}, "spec_json": "{}", "model": "DeepFM", "model_args": {},
            "training": {}, "training_config": {}, "pushed_version": None,
            "leaderboard": None, "small_slice": 50, "generated": "2026-12-07 10:00"})
    drift = json.loads(json.dumps(result_dict(
        {"uri": "u", "run_id": "run-1", "span": 3},
        [Distance("C1", "categorical_linf", 0.7, 0.3), Distance("I1", "numeric_js", 0.2, 0.6)],
        [Distance("C1", "categorical_linf", 0.01, 0.3)], True)))
    shown = page(drift)
    assert "span 3, the last span trained on (run <code>run-1</code>)" in shown
    assert "1 feature(s) above the threshold</b>, trained anyway (--allow-drift)" in shown
    # feature, comparator, distance, threshold, verdict; largest distance first
    drift_rows = ('<td class="l">C1</td><td class="l">L-infinity</td><td>0.7000</td>'
                  '<td>0.3000</td><td class="l">above</td></tr>\n'
                  '  <tr><td class="l">I1</td><td class="l">Jensen-Shannon</td><td>0.2000</td>'
                  '<td>0.6000</td><td class="l">ok</td>')
    assert drift_rows in shown
    assert '<th class="l">skew: train vs test (not a gate): feature</th>' in shown
    assert 'id="drift"' not in page(None)  # runs without the check (run, demo) show nothing
