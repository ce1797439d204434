"""DriftCheck: TFDV's drift and skew comparators on the run's statistics, the gate that stops
`python -m pipeline retrain` before Transform when a new span has drifted.

- drift: the train split of the newest span against the train split of the last span a model was
  trained on (that run's StatisticsGen output, which pipeline/retrain.py finds in ML-Metadata
  and passes as `baseline_json`; the first run of a root has none and checks skew only);
- skew: the train split against the test split of this run (measured and recorded, never a
  reason to stop: with a time or file split some skew is what the split is for).

The distances are TFDV's own (`tfdv.validate_statistics` with a schema whose features carry
`drift_comparator` / `skew_comparator` thresholds), read back from the anomalies'
`drift_skew_info`: L-infinity for text columns (the largest change of one value's share of the
rows), approximate Jensen-Shannon divergence for numeric ones (their histograms; 0 = the same,
1 = disjoint). Thresholds and features: the dataset spec's `drift` section
(components/dataset_spec.py, "Drift").

The component writes `drift.json` (baseline, every measured distance with its threshold and
verdict) into its output artifact; the run summary and the HTML report read it back. A distance
above its drift threshold fails the execution with DriftFound, naming each drifted feature, its
comparator and distance, unless `allow_drift` (retrain's `--allow-drift`), which records the
drift, logs it and lets the run go on.
"""
import dataclasses
import json
import logging
import os
from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.dataset_spec import TEST_SPLIT, TRAIN_SPLIT, DatasetSpec, DriftSpec

log = logging.getLogger(__name__)

CATEGORICAL, NUMERIC = "categorical_linf", "numeric_js"
# how the summary, the report and the error name each comparator
COMPARATOR_NAMES = {CATEGORICAL: "L-infinity", NUMERIC: "Jensen-Shannon"}
RESULT_FILE = "drift.json"
STATISTICS_FILE = "FeatureStats.pb"  # StatisticsGen's file in each Split-<name> folder


class DriftFound(ValueError):
    """The new span drifted beyond the spec's thresholds; nothing after the check ran."""


@dataclasses.dataclass(frozen=True)
class Distance:
    """One comparator's distance for one feature, and the threshold it is held to."""
    feature: str
    comparator: str  # CATEGORICAL or NUMERIC
    distance: float
    threshold: float

    @property
    def exceeded(self) -> bool:
        return self.distance > self.threshold

    def describe(self) -> str:
        return (f"{self.feature} {COMPARATOR_NAMES[self.comparator]} {self.distance:.3f} "
                f"{'>' if self.exceeded else '<='} {self.threshold:g}")


def compared_features(spec: DatasetSpec) -> List[str]:
    """The spec's `drift.features`, else every dense, sparse and multi_value feature."""
    if spec.drift.features:
        return list(spec.drift.features)
    return [f.name for f in spec.dense] + [f.name for f in spec.categorical()]


def comparator_of(feature_statistics) -> Optional[str]:
    """CATEGORICAL for a text column's statistics, NUMERIC for a number column's, else None."""
    if feature_statistics.HasField("string_stats"):
        return CATEGORICAL
    if feature_statistics.HasField("num_stats"):
        return NUMERIC
    return None


def _feature_name(path) -> str:
    return ".".join(path.step)


def measure(statistics, other, drift: DriftSpec, features: List[str],
            skew: bool = False) -> List[Distance]:
    """TFDV's distances between `statistics` and `other` (DatasetFeatureStatisticsList protos
    of one split each) for `features` present in `statistics`: drift (`other` = the previous
    span's) or, with `skew`, skew (`other` = the serving/test split's), sorted by feature."""
    import tensorflow_data_validation as tfdv
    schema = tfdv.infer_schema(statistics)
    kinds = {_feature_name(f.path) or f.name: comparator_of(f)
             for f in statistics.datasets[0].features}
    wanted = set(features)
    for feature in schema.feature:
        kind = kinds.get(feature.name)
        if feature.name not in wanted or kind is None:
            continue
        comparator = feature.skew_comparator if skew else feature.drift_comparator
        norm = (comparator.infinity_norm if kind == CATEGORICAL
                else comparator.jensen_shannon_divergence)
        norm.threshold = drift.threshold(kind, skew)
    other_key = "serving_statistics" if skew else "previous_statistics"
    anomalies = tfdv.validate_statistics(statistics, schema, **{other_key: other})
    out = []
    for info in anomalies.drift_skew_info:
        name = _feature_name(info.path)
        for measurement in (info.skew_measurements if skew else info.drift_measurements):
            out.append(Distance(name, kinds[name], float(measurement.value),
                                float(measurement.threshold)))
    return sorted(out, key=lambda d: (d.feature, d.comparator))


def load_split_statistics(uri: str, split: str):
    """The statistics StatisticsGen wrote for `split` under artifact folder `uri`."""
    from tensorflow_metadata.proto.v0 import statistics_pb2
    path = os.path.join(uri, f"Split-{split}", STATISTICS_FILE)
    with open(path, "rb") as f:
        return statistics_pb2.DatasetFeatureStatisticsList.FromString(f.read())


def describe_baseline(baseline: Dict) -> str:
    """'span 3 (run <id>)', or 'run <id>' for input without spans."""
    run = f"run {baseline.get('run_id')}"
    return f"span {baseline['span']} ({run})" if baseline.get("span") is not None else run


def refusal_message(drifted: List[Distance], baseline: Dict, uri: str) -> str:
    listed = "; ".join(d.describe() for d in sorted(drifted, key=lambda d: -d.distance))
    return (f"the new data drifted from {describe_baseline(baseline)}, training stopped before "
            f"Transform: {listed}. Check the data; pass --allow-drift to train anyway, or set the "
            f"thresholds in the dataset spec's drift section (all distances in "
            f"{os.path.join(uri, RESULT_FILE)})")


def result_dict(baseline: Optional[Dict], drift: List[Distance], skew: List[Distance],
                allow_drift: bool) -> Dict:
    """What drift.json holds (read back by read_result, and as JSON by pipeline/reporting, which
    imports nothing of TFX): the baseline, one row per distance (feature, comparator and its
    `name`, distance, threshold, exceeded), the drifted and skewed features, allow_drift."""
    def rows(distances):
        return [{**dataclasses.asdict(d), "name": COMPARATOR_NAMES[d.comparator],
                 "exceeded": d.exceeded} for d in distances]
    return {"baseline": baseline, "drift": rows(drift), "skew": rows(skew),
            "drifted": [d.feature for d in drift if d.exceeded],
            "skewed": [d.feature for d in skew if d.exceeded], "allow_drift": allow_drift}


def read_result(uri: str) -> Optional[Dict]:
    """drift.json of a DriftCheck output folder, with the distances as Distance objects; None
    when the folder has none."""
    path = os.path.join(uri, RESULT_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        result = json.load(f)
    for key in ("drift", "skew"):
        result[key] = [Distance(r["feature"], r["comparator"], r["distance"], r["threshold"])
                       for r in result[key]]
    return result


class Executor(base_executor.BaseExecutor):
    """Measures drift (when there is a baseline) and skew, writes drift.json, and fails on
    drift unless `allow_drift`."""

    def Do(self, input_dict, output_dict, exec_properties):
        statistics = artifact_utils.get_single_instance(input_dict["statistics"])
        output = artifact_utils.get_single_instance(output_dict["drift"])
        drift = DriftSpec(**{**json.loads(exec_properties["drift_json"]),
                             "features": ()})
        features = json.loads(exec_properties["features_json"])
        baseline = json.loads(exec_properties.get("baseline_json") or "null")
        allow = bool(exec_properties.get("allow_drift"))
        train = load_split_statistics(statistics.uri, TRAIN_SPLIT)
        drifts = []
        if baseline and not os.path.exists(os.path.join(baseline["uri"], f"Split-{TRAIN_SPLIT}",
                                                        STATISTICS_FILE)):
            # a run of an older layout, or its files deleted: nothing to compare with
            log.warning("drift not checked: %s has no train statistics in %s",
                        describe_baseline(baseline), baseline["uri"])
            baseline = {**baseline, "missing": True}
        elif baseline:
            drifts = measure(train, load_split_statistics(baseline["uri"], TRAIN_SPLIT), drift,
                             features)
        skews = measure(train, load_split_statistics(statistics.uri, TEST_SPLIT), drift,
                        features, skew=True)
        result = result_dict(baseline, drifts, skews, allow)
        os.makedirs(output.uri, exist_ok=True)
        with open(os.path.join(output.uri, RESULT_FILE), "w") as f:
            json.dump(result, f, indent=1)
        output.set_int_custom_property("drifted", int(bool(result["drifted"])))
        drifted = [d for d in drifts if d.exceeded]
        if drifted and not allow:
            raise DriftFound(refusal_message(drifted, baseline, output.uri))
        if drifted:
            log.warning("drift allowed (--allow-drift): %s",
                        "; ".join(d.describe() for d in drifted))
        skewed = [d for d in skews if d.exceeded]
        if skewed:
            log.warning("train/test skew above the spec's thresholds: %s",
                        "; ".join(d.describe() for d in skewed))


class DriftCheckSpec(types.ComponentSpec):
    PARAMETERS = {
        "drift_json": ExecutionParameter(type=str),  # the spec's drift thresholds
        "features_json": ExecutionParameter(type=str),  # the compared features
        # the last trained span's statistics: {"uri", "run_id", "span"}; "" for none
        "baseline_json": ExecutionParameter(type=str, optional=True),
        "allow_drift": ExecutionParameter(type=int, optional=True),
        # the cache key must change with this module's code
        "code_version": ExecutionParameter(type=str, optional=True)}
    INPUTS = {"statistics": ChannelParameter(type=standard_artifacts.ExampleStatistics)}
    OUTPUTS = {"drift": ChannelParameter(type=standard_artifacts.ExampleAnomalies)}


class DriftCheck(base_component.BaseComponent):
    """StatisticsGen's statistics -> drift.json; fails the run on drift (see the module
    docstring). Placed before Transform, which waits for it."""
    SPEC_CLASS = DriftCheckSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, statistics, spec: DatasetSpec, baseline: Optional[Dict] = None,
                 allow_drift: bool = False, code_version: str = ""):
        thresholds = {k: v for k, v in dataclasses.asdict(spec.drift).items() if k != "features"}
        super().__init__(spec=DriftCheckSpec(
            statistics=statistics, drift_json=json.dumps(thresholds, sort_keys=True),
            features_json=json.dumps(compared_features(spec)),
            baseline_json=json.dumps(baseline, sort_keys=True) if baseline else "",
            allow_drift=int(allow_drift), code_version=code_version,
            drift=types.Channel(type=standard_artifacts.ExampleAnomalies)))
