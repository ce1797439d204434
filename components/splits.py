"""SplitByColumn: a Beam-powered TFX component that assigns rows to train / validation / test by
one column's value (dataset spec `split: {by: <column>, ...}`; see "Splits" in
components/dataset_spec.py).

- hash (`split: {train: 8, validation: 1, test: 1, by: user_id}`): TFX's own rule for
  `SplitConfig.partition_feature_name`: the SHA-256 of the feature's deterministic
  serialization, modulo the total of the shares, picks the split (`hash_split_index`), so every
  row of one user lands in one split. It is done here rather than by ExampleGen because TFX
  applies `partition_feature_name` only to tf.Example protos, and this project's CSV executors
  (components/fast_csv.py, components/headerless_csv.py) emit serialized examples (the
  serialization is what TFX hashes for a whole-row split, which they keep).
- time (`order: time`): the rows are ordered by the column (numbers, or text such as ISO dates,
  which sort as text); the last share of the rows by time is test, the share before it
  validation (`time_boundaries`; rows of one timestamp stay in one split, so the shares are as
  close as the timestamps allow). TFX has no ordered split: ExampleGen's splits are hashes or
  input files.
- values (`values: {train: [...], validation: [...], test: [...]}`): each row goes to the split
  listing its value; a value no split lists fails the component, naming it.

ExampleGen then writes one split (`UNSPLIT`) that this component reads; its output has the
three splits and feeds everything ExampleGen's output fed before (StatisticsGen, Transform, the
Evaluator, the HistoryBuilder with `behaviour.split: example_gen`).
"""
import bisect
import hashlib
import json
import os

import apache_beam as beam
import tensorflow as tf
from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_component, base_beam_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.dataset_spec import SPLIT_NAMES, spec_from_config, spec_without_gates

# The one split ExampleGen writes when a column decides the split.
UNSPLIT = "unsplit"
_OUTPUT_FILE = "data_tfrecord"


def _feature(example, column):
    if column not in example.features.feature:
        raise ValueError(f"split by {column!r}: a row has no such column")
    return example.features.feature[column]


def column_value(example, column):
    """The single value of `column` in a tf.Example: an int, a float or a str; a row without
    one (or with several) fails, naming the column."""
    feature = _feature(example, column)
    kind = feature.WhichOneof("kind")
    values = list(getattr(feature, kind).value) if kind else []
    if len(values) != 1:
        raise ValueError(f"split by {column!r}: a row has {len(values)} values in it "
                         f"({values[:3]!r}); every row needs exactly one")
    value = values[0]
    return value.decode("utf-8") if isinstance(value, bytes) else value


def value_text(value):
    """A value as the spec's `values` lists hold it: ints and integral floats as decimal."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def hash_split_index(example, column, shares):
    """TFX's partition_feature_name rule (base_example_gen_executor._PartitionFn): SHA-256 of
    the feature's deterministic serialization modulo the total share, then the split whose
    cumulative share range holds it."""
    feature = _feature(example, column)
    if feature.WhichOneof("kind") not in ("bytes_list", "int64_list"):
        raise ValueError(f"split by {column!r} (hash): the column must hold text or integers, "
                         f"as for TFX's partition_feature_name")
    cumulative, total = [], 0
    for _, share in shares:
        total += share
        cumulative.append(total)
    key = feature.SerializeToString(deterministic=True)
    return bisect.bisect(cumulative, int(hashlib.sha256(key).hexdigest(), 16) % total)


def time_boundaries(time_counts, shares):
    """[(first time of the split, split name)] for every split after the first, given
    (time, rows) pairs and the splits' (name, share) in time order. Each boundary is the time,
    among those present (but the first), whose share of earlier rows is closest to the
    cumulative share of the splits before it (ties: the later time); every split must get at
    least one time, otherwise ValueError."""
    counts = sorted(time_counts)
    if len(counts) < len(shares):
        raise ValueError(f"a time split into {len(shares)} splits needs rows at {len(shares)} "
                         f"different times at least; the data has {len(counts)}")
    total_rows = sum(count for _, count in counts)
    total_share = sum(share for _, share in shares)
    boundaries, cumulative_share = [], 0
    for (name, _), (_, share) in zip(shares[1:], shares):
        cumulative_share += share
        target = total_rows * cumulative_share / total_share
        best, seen = None, 0
        for (time, _), previous in zip(counts[1:], counts):
            seen += previous[1]
            if best is None or abs(seen - target) <= best[0]:
                best = (abs(seen - target), time)
        boundaries.append((best[1], name))
    starts = [time for time, _ in boundaries]
    if any(later <= earlier for earlier, later in zip(starts, starts[1:])):
        raise ValueError(f"a time split of {total_rows} rows at {len(counts)} times leaves a "
                         f"split without rows (boundaries {boundaries}); give more rows or times")
    return boundaries


def split_at_time(time, boundaries, first_split):
    """The split a row of `time` belongs to, given `time_boundaries`' result."""
    index = bisect.bisect_right([start for start, _ in boundaries], time)
    return first_split if index == 0 else boundaries[index - 1][1]


def values_split_index(example, column, split_values):
    """The index (in `split_values`, ((split, (value text, ...)), ...)) of the split listing
    the row's value of `column`."""
    text = value_text(column_value(example, column))
    for index, (_, values) in enumerate(split_values):
        if text in values:
            return index
    raise ValueError(f"split by {column!r}: value {text!r} is in no split's values "
                     f"({dict(split_values)})")


class SplitRows(beam.PTransform):
    """PCollection of serialized tf.Examples -> {split name: its rows}, by the spec's column
    rule (hash, time or values; see the module docstring)."""

    def __init__(self, spec):
        super().__init__()
        if spec.split_by is None or spec.split_order not in ("hash", "time", "values"):
            raise ValueError(f"{spec.source}: the spec's split is not by a column")
        self._spec = spec

    def expand(self, rows):
        spec, column = self._spec, self._spec.split_by
        names = list(SPLIT_NAMES)
        parse = tf.train.Example.FromString
        if spec.split_order == "hash":
            parts = rows | "ByHash" >> beam.Partition(
                lambda row, n: hash_split_index(parse(row), column, spec.split), len(names))
        elif spec.split_order == "values":
            parts = rows | "ByValue" >> beam.Partition(
                lambda row, n: values_split_index(parse(row), column, spec.split_values),
                len(names))
        else:
            boundaries = (rows
                          | "Times" >> beam.Map(lambda row: column_value(parse(row), column))
                          | "CountPerTime" >> beam.combiners.Count.PerElement()
                          | "TimeCounts" >> beam.combiners.ToList()
                          | "Boundaries" >> beam.Map(time_boundaries, spec.split))
            parts = rows | "ByTime" >> beam.Partition(
                lambda row, n, bounds: names.index(split_at_time(
                    column_value(parse(row), column), bounds, names[0])),
                len(names), beam.pvalue.AsSingleton(boundaries))
        return {name: parts[i] for i, name in enumerate(names)}


class Executor(base_beam_executor.BaseBeamExecutor):
    """Reads every split of `examples`, writes `split_examples` (gzipped TFRecords per split)."""

    def Do(self, input_dict, output_dict, exec_properties):
        spec = spec_from_config(json.loads(exec_properties["spec_json"]))
        source = artifact_utils.get_single_instance(input_dict["examples"])
        output = artifact_utils.get_single_instance(output_dict["split_examples"])
        output.split_names = artifact_utils.encode_split_names(list(SPLIT_NAMES))
        examples_utils.set_payload_format(output, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
        in_splits = artifact_utils.decode_split_names(source.split_names)
        with self._make_beam_pipeline() as pipeline:
            rows = [pipeline | f"Read[{name}]" >> beam.io.ReadFromTFRecord(
                os.path.join(artifact_utils.get_split_uri([source], name), "*"))
                for name in in_splits] | "AllRows" >> beam.Flatten()
            for name, split_rows in (rows | "Split" >> SplitRows(spec)).items():
                _ = split_rows | f"Write[{name}]" >> beam.io.WriteToTFRecord(
                    os.path.join(output.uri, f"Split-{name}", _OUTPUT_FILE),
                    file_name_suffix=".gz")


class SplitByColumnSpec(types.ComponentSpec):
    PARAMETERS = {"spec_json": ExecutionParameter(type=str),
                  # the cache key must change with this module's code
                  "code_version": ExecutionParameter(type=str)}
    INPUTS = {"examples": ChannelParameter(type=standard_artifacts.Examples)}
    OUTPUTS = {"split_examples": ChannelParameter(type=standard_artifacts.Examples)}


class SplitByColumn(base_beam_component.BaseBeamComponent):
    """ExampleGen's unsplit Examples -> Examples with train, validation and test splits by the
    spec's `split.by` column; runs on the pipeline's beam_pipeline_args."""
    SPEC_CLASS = SplitByColumnSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, examples, spec, code_version=""):
        super().__init__(spec=SplitByColumnSpec(
            examples=examples, spec_json=json.dumps(spec_without_gates(spec), sort_keys=True),
            code_version=code_version,
            split_examples=types.Channel(type=standard_artifacts.Examples)))
