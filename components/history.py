"""HistoryBuilder: a Beam-powered TFX component that turns an event log into behaviour sequences.

It sits after ExampleGen and writes an Examples artefact with the same split names whose rows
are the input rows plus the columns the spec's `behaviour` section declares (see
BehaviourSpec in components/dataset_spec.py; DeepCTR's names):

- `hist_<X>`: the user's `max_length` most recent positive events strictly BEFORE the event's
  timestamp (events at the same timestamp are not history: no leakage), oldest first, values
  joined by the separator ("12|55|7"); X is the item and each attribute (e.g. its category);
- `neg_hist_<X>` (negatives: 1): per history position, one item the user never interacted with
  anywhere in the log, drawn from the log's item catalogue (with that item's attributes); the
  draw is seeded by (seed, user, event), so reruns give identical output;
- `sess_<i>_<X>` (session_gap_seconds): the user's earlier positives grouped into sessions (a
  new session starts when two consecutive events of the user are more than the gap apart),
  sess_0 = the most recent session (the current one when it already has positives before the
  event), at most sess_max_count sessions of at most sess_max_length items, empty sessions
  omitted, so the non-empty sessions come first (what DSIN's session mask expects);
- `hist_length_bucket`: "0", "1-4" or "5+" earlier positives (before truncation), a raw
  column for the Evaluator's slices; it is not a model feature.

Histories always read the user's whole earlier log, whatever split an event lands in. Splits:
`split: time` (default) orders the whole log by time and splits it in the spec's shares
(components/splits.py time_boundaries): the last share is `test`, the one before it
`validation` (events of one timestamp stay in one split), so no training row's history holds a
later split's event and test rows are the "future"; `split: example_gen` keeps ExampleGen's
split of each row (hash split: training histories may then contain test events).

Values are written as strings: ints as decimal, integral floats without ".0", bytes decoded as
UTF-8, so they match the tokens Transform makes of the candidate columns. The catalogue and the
cut-off timestamp are side inputs (held in memory by each worker); users are grouped with
GroupByKey, so one user's log must fit in a worker's memory.
"""
import hashlib
import json
import os

import apache_beam as beam
import numpy as np
import tensorflow as tf
from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_component, base_beam_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.dataset_spec import TRAIN_SPLIT, spec_from_config, spec_without_gates
from components.splits import split_at_time, time_boundaries

HIST_LENGTH_BUCKET = "hist_length_bucket"
_BUCKETS = ((5, "5+"), (1, "1-4"), (0, "0"))  # (lowest count, name), highest first
_OUTPUT_FILE = "data_tfrecord"


def length_bucket(count):
    """'0', '1-4' or '5+' for a number of earlier positives."""
    return next(name for lowest, name in _BUCKETS if count >= lowest)


# -- reading events ---------------------------------------------------------------------------

def _as_text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _values(example, name):
    feature = example.features.feature.get(name)
    if feature is None:
        return []
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def _single(example, name, column_kind, required=True):
    values = _values(example, name)
    if not values:
        if required:
            raise ValueError(f"behaviour.{column_kind}: column {name!r} is missing in an event "
                             f"(every event needs one); event: {example}")
        return None
    if len(values) > 1:
        raise ValueError(f"behaviour.{column_kind}: column {name!r} must hold one value per "
                         f"event, got {values}")
    return values[0]


def parse_event(serialized, split, behaviour):
    """Serialized tf.Example -> (user, event tuple). The event tuple sorts by time, then item,
    then the row's bytes (a deterministic order for ties)."""
    example = tf.train.Example.FromString(serialized)
    user = _as_text(_single(example, behaviour.user, "user"))
    timestamp = _single(example, behaviour.time, "time")
    if isinstance(timestamp, bytes):
        try:
            timestamp = float(timestamp)
        except ValueError:
            raise ValueError(f"behaviour.time: column {behaviour.time!r} must be a number, got "
                             f"{timestamp!r}") from None
    item = _as_text(_single(example, behaviour.item, "item"))
    attributes = tuple(_as_text(_single(example, a, "attributes")) for a in behaviour.attributes)
    if behaviour.positive:
        value = _single(example, behaviour.positive, "positive", required=False)
        positive = value is not None and float(value) >= behaviour.positive_threshold
    else:
        positive = True
    for name in behaviour.generated_names() + [HIST_LENGTH_BUCKET]:
        if name in example.features.feature:
            raise ValueError(f"behaviour: the log already has a column {name!r}, which the "
                             f"history builder writes; drop it from the log")
    return user, (float(timestamp), item, serialized, attributes, positive, split)


# -- one user's rows --------------------------------------------------------------------------

def _seed(*parts):
    digest = hashlib.sha256("\x00".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


class _Catalogue:
    """Sorted (item, attributes) of every item in the log; samples items a user never saw."""

    def __init__(self, entries):
        self.items = [item for item, _ in entries]
        self.attributes = dict(entries)

    def sample(self, rng, count, excluded):
        if count == 0:
            return []
        if len(excluded) * 2 <= len(self.items):  # rejection sampling is cheap
            out = []
            while len(out) < count:
                item = self.items[int(rng.integers(len(self.items)))]
                if item not in excluded:
                    out.append(item)
            return out
        allowed = [item for item in self.items if item not in excluded]
        if not allowed:
            return []
        return [allowed[i] for i in rng.integers(len(allowed), size=count)]


def _joined(behaviour, entries, index):
    """Column `index` (0 = item, then attributes) of `entries` joined by the separator."""
    return behaviour.separator.join(entry[index] for entry in entries)


def _check_separator(behaviour, value, column):
    if behaviour.separator in value:
        raise ValueError(f"behaviour.separator {behaviour.separator!r} occurs in {column} value "
                         f"{value!r}; choose another separator")


def user_rows(user, events, behaviour, catalogue, cutoff=None):
    """(split, serialized tf.Example with history columns) for each event of one user.

    `events` are parse_event tuples; `cutoff` (split: time): components.splits.time_boundaries'
    result, the first time of each split after train.
    """
    events = sorted(events)
    b = behaviour
    names = b.history_feature_list
    interacted = {e[1] for e in events}
    positives = []         # (time, (item, *attributes)) of earlier positives, in time order
    sessions = []          # [session id, [(item, *attributes), ...]] of earlier positives
    session_id, last_time = -1, None
    pending = []           # positives of the current timestamp: history only after it
    seen_at_time = {}
    for i, (timestamp, item, serialized, attributes, positive, split) in enumerate(events):
        if last_time is None or timestamp != last_time:
            for entry in pending:
                positives.append(entry[1])
                if not sessions or sessions[-1][0] != entry[0]:
                    sessions.append([entry[0], []])
                sessions[-1][1].append(entry[1])
            pending = []
        if b.sessions and (last_time is None or timestamp - last_time > b.session_gap_seconds):
            session_id += 1
        last_time = timestamp
        values = (item,) + attributes
        for column, value in zip(names, values):
            _check_separator(b, value, column)
        if positive:
            pending.append((session_id, values))

        history = positives[-b.max_length:]
        example = tf.train.Example.FromString(serialized)
        features = example.features.feature

        def put(name, text):
            features[name].bytes_list.value.append(text.encode("utf-8"))

        for k, x in enumerate(names):
            put(f"hist_{x}", _joined(b, history, k))
        if b.negatives:
            ordinal = seen_at_time.get((timestamp, item), 0)
            seen_at_time[(timestamp, item)] = ordinal + 1
            rng = np.random.default_rng(_seed(b.seed, user, repr(timestamp), item, ordinal))
            negatives = [(neg,) + tuple(catalogue.attributes[neg])
                         for neg in catalogue.sample(rng, len(history), interacted)]
            for k, x in enumerate(names):
                put(f"neg_hist_{x}", _joined(b, negatives, k))
        if b.sessions:
            recent = [s[1][-b.session_length:] for s in sessions[::-1][:b.sess_max_count]]
            for s in range(b.sess_max_count):
                for k, x in enumerate(names):
                    put(f"sess_{s}_{x}", _joined(b, recent[s], k) if s < len(recent) else "")
        put(HIST_LENGTH_BUCKET, length_bucket(len(positives)))
        if b.split == "time":
            split = split_at_time(timestamp, cutoff, TRAIN_SPLIT)
        yield split, example.SerializeToString(deterministic=True)


class _UserRows(beam.DoFn):
    def __init__(self, behaviour):
        self._behaviour = behaviour
        self._catalogue_key, self._catalogue = None, None

    def process(self, user_events, catalogue, cutoff):
        if self._catalogue_key is not id(catalogue):  # build once per side-input value
            self._catalogue_key, self._catalogue = id(catalogue), _Catalogue(catalogue)
        user, events = user_events
        yield from user_rows(user, list(events), self._behaviour, self._catalogue, cutoff)


class BuildHistories(beam.PTransform):
    """{split name: PCollection of serialized tf.Examples} -> the same with history columns.

    With `split: time` the output splits are the spec's (train, validation, test) by time; with
    `split: example_gen` each row keeps its input split."""

    def __init__(self, spec):
        super().__init__()
        if spec.behaviour is None:
            raise ValueError(f"{spec.source}: the spec has no behaviour section")
        self._spec = spec

    def expand(self, splits):
        behaviour = self._spec.behaviour
        names = ([name for name, _ in self._spec.split] if behaviour.split == "time"
                 else sorted(splits))
        tagged = [pcoll | f"Parse[{name}]" >> beam.Map(parse_event, name, behaviour)
                  for name, pcoll in sorted(splits.items())]
        events = tagged | "AllSplits" >> beam.Flatten()
        catalogue = (events
                     | "ItemAttributes" >> beam.Map(lambda kv: (kv[1][1], kv[1][3]))
                     | "OnePerItem" >> beam.CombinePerKey(min)
                     | "Catalogue" >> beam.combiners.ToList()
                     | "SortCatalogue" >> beam.Map(sorted))
        if behaviour.split == "time":
            cutoff = (events
                      | "Times" >> beam.Map(lambda kv: kv[1][0])
                      | "CountPerTime" >> beam.combiners.Count.PerElement()
                      | "TimeCounts" >> beam.combiners.ToList()
                      | "Cutoff" >> beam.Map(time_boundaries, self._spec.split))
        else:
            cutoff = events.pipeline | "NoCutoff" >> beam.Create([None])
        rows = (events
                | "ByUser" >> beam.GroupByKey()
                | "Histories" >> beam.ParDo(_UserRows(behaviour),
                                            beam.pvalue.AsSingleton(catalogue),
                                            beam.pvalue.AsSingleton(cutoff)))
        parts = rows | "BySplit" >> beam.Partition(lambda kv, n: names.index(kv[0]), len(names))
        return {name: parts[i] | f"Rows[{name}]" >> beam.Values()
                for i, name in enumerate(names)}


# -- the TFX component ------------------------------------------------------------------------

class Executor(base_beam_executor.BaseBeamExecutor):
    """Reads every split of `log`, writes `examples` (gzipped TFRecords per split)."""

    def Do(self, input_dict, output_dict, exec_properties):
        spec = spec_from_config(json.loads(exec_properties["spec_json"]))
        log = artifact_utils.get_single_instance(input_dict["log"])
        output = artifact_utils.get_single_instance(output_dict["examples"])
        in_splits = artifact_utils.decode_split_names(log.split_names)
        out_splits = ([name for name, _ in spec.split] if spec.behaviour.split == "time"
                      else in_splits)
        output.split_names = artifact_utils.encode_split_names(out_splits)
        examples_utils.set_payload_format(output, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
        with self._make_beam_pipeline() as pipeline:
            inputs = {name: pipeline | f"Read[{name}]" >> beam.io.ReadFromTFRecord(
                os.path.join(artifact_utils.get_split_uri([log], name), "*"))
                      for name in in_splits}
            outputs = inputs | "BuildHistories" >> BuildHistories(spec)
            for name, rows in outputs.items():
                _ = rows | f"Write[{name}]" >> beam.io.WriteToTFRecord(
                    os.path.join(output.uri, f"Split-{name}", _OUTPUT_FILE),
                    file_name_suffix=".gz")


class HistoryBuilderSpec(types.ComponentSpec):
    PARAMETERS = {"spec_json": ExecutionParameter(type=str),
                  # the cache key must change with this module's code
                  "code_version": ExecutionParameter(type=str)}
    INPUTS = {"log": ChannelParameter(type=standard_artifacts.Examples)}
    OUTPUTS = {"examples": ChannelParameter(type=standard_artifacts.Examples)}


class HistoryBuilder(base_beam_component.BaseBeamComponent):
    """Event log Examples (`log`) -> Examples with behaviour sequences (`examples`); runs on the
    pipeline's beam_pipeline_args (any Beam runner)."""
    SPEC_CLASS = HistoryBuilderSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, log, spec, code_version=""):
        super().__init__(spec=HistoryBuilderSpec(
            log=log, spec_json=json.dumps(spec_without_gates(spec), sort_keys=True),
            code_version=code_version,
            examples=types.Channel(type=standard_artifacts.Examples)))
