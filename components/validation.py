"""The data gate: ExampleValidator's executor, failing the run when the data has anomalies.

TFX's ExampleValidator only records anomalies (and an `blessed` property nobody reads), so a run
would go on to train on data that broke the schema. With this executor (the default; the CLI's
`--allow-anomalies` selects TFX's own) the run stops at ExampleValidator, before Transform and
the Trainer, with an error naming every anomalous feature and what TFDV found. The schema it
checks is CurateSchema's: the spec's dense columns must be numeric (a column turning into text
is an anomaly), labels must be present in every row, and a categorical feature with
`max_categories` in the spec may not have more distinct values than that.
"""
import os

from tfx.components.example_validator import executor as tfx_validator
from tfx.components.example_validator import labels
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, standard_component_specs


class AnomaliesFound(ValueError):
    """The data has anomalies against the curated schema; nothing downstream ran."""


def describe(anomalies_by_split):
    """One line naming each anomalous feature (per split) and TFDV's description."""
    parts = []
    for split, anomalies in anomalies_by_split.items():
        for name, info in sorted(anomalies.anomaly_info.items()):
            text = info.short_description or info.description
            detail = info.description if info.description != text else ""
            parts.append(f"{split}/{name}: {text}" + (f" ({detail})" if detail else ""))
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            parts.append(f"{split}/<dataset>: {info.short_description or info.description}")
    return "; ".join(parts)


class Executor(tfx_validator.Executor):
    """TFX's ExampleValidator, then: any anomaly in any split fails the execution."""

    def _Validate(self, inputs, outputs):
        anomalies = super()._Validate(inputs, outputs)
        # the output folder of a split is ".../Split-<name>"
        split = os.path.basename(os.path.normpath(outputs[labels.SCHEMA_DIFF_PATH]))
        if anomalies.anomaly_info or anomalies.HasField("dataset_anomaly_info"):
            self._found[split.replace("Split-", "", 1)] = anomalies
        return anomalies

    def Do(self, input_dict, output_dict, exec_properties):
        self._found = {}
        result = super().Do(input_dict, output_dict, exec_properties)
        found = self._found
        if found:
            uri = artifact_utils.get_single_uri(
                output_dict[standard_component_specs.ANOMALIES_KEY])
            raise AnomaliesFound(
                f"data anomalies, training stopped: {describe(found)}. Fix the data or the "
                f"dataset spec, or pass --allow-anomalies to train anyway (anomalies in {uri})")
        return result


EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
