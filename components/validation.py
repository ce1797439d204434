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

from tfx import types
from tfx.components.example_validator import component as tfx_validator_component
from tfx.components.example_validator import executor as tfx_validator
from tfx.components.example_validator import labels
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter


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


class ExampleValidatorSpec(standard_component_specs.ExampleValidatorSpec):
    # code_version: a fingerprint of this module, which TFX's cache key leaves out (it holds the
    # executor's class path, not its source); TFX's spec has no free parameter for it
    PARAMETERS = {**standard_component_specs.ExampleValidatorSpec.PARAMETERS,
                  "code_version": ExecutionParameter(type=str, optional=True)}


class ExampleValidator(tfx_validator_component.ExampleValidator):
    """TFX's ExampleValidator (same id, inputs, outputs and default executor) with
    `code_version`, so that a change to the gate's code re-runs it instead of reusing a cached
    result."""
    SPEC_CLASS = ExampleValidatorSpec

    def __init__(self, statistics: types.BaseChannel, schema: types.BaseChannel,
                 code_version: str = ""):
        # TFX's __init__ builds its own spec class; this one adds the parameter to the same fields
        spec = ExampleValidatorSpec(
            statistics=statistics, schema=schema, exclude_splits="[]",
            anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies),
            code_version=code_version)
        super(tfx_validator_component.ExampleValidator, self).__init__(spec=spec)
