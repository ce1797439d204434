"""Train / validation / test splits (issue 20): the spec's `split` section, and ExampleGen (with
the SplitByColumn component for column splits) on a small CSV: every row lands in exactly one
split, test ∩ (train ∪ validation) = ∅ by the hash of each row's raw features, and a time split
puts every test row after every validation row after every train row. Each test runs only
ExampleGen's executor (and SplitByColumn's) in-process on a few hundred rows: no pipeline."""
import collections
import glob
import hashlib
import os

import pytest
import tensorflow as tf
from tfx import types
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from components import fast_csv
from components.dataset_spec import DatasetSpec, SpecError
from components.splits import (SplitByColumn, hash_split_index, split_at_time,
                               time_boundaries)
from pipeline.pipeline import example_gen_configs
from pipeline.spans import find_span_input

BASE = {"name": "splits", "labels": [{"name": "label", "column": "label"}],
        "dense": ["x"], "sparse": ["user"]}
COLUMNS = ("row", "label", "x", "user", "ts", "day")
ROWS = 400


def _spec(split):
    return DatasetSpec.from_dict({**BASE, "split": split}, source="test.yaml")


def _rows(count=ROWS, start=0):
    # `row` makes every row distinct, so that a row in two splits cannot hide as a duplicate
    return [{"row": i, "label": i % 2, "x": round(i * 0.37 % 5, 2), "user": f"u{i % 37}",
             "ts": 1_000_000 + (i * 7919) % count * 60, "day": (i * 7919) % count // 80}
            for i in range(start, start + count)]


def _write_csv(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(",".join(COLUMNS) + "\n")
        f.writelines(",".join(str(r[c]) for c in COLUMNS) + "\n" for r in rows)


def _decode(serialized):
    example = tf.train.Example.FromString(serialized)
    out = {}
    for key, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        value = getattr(feature, kind).value[0]
        out[key] = value.decode() if isinstance(value, bytes) else value
    return out


def _read_splits(examples):
    """{split: [decoded rows]} of an Examples artifact."""
    out = {}
    for name in sorted(os.listdir(examples.uri)):
        files = glob.glob(os.path.join(examples.uri, name, "*"))
        out[name[len("Split-"):]] = [_decode(r.numpy()) for r in
                                     tf.data.TFRecordDataset(files, compression_type="GZIP")]
    return out


def run_splits(spec, data_root, pattern, out_dir):
    """ExampleGen's executor (the pipeline's input and output configs for `spec`), then
    SplitByColumn's when a column decides the splits -> {split: [decoded rows]}."""
    input_config, output_config = example_gen_configs(spec, data_root, pattern)
    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(out_dir, "example_gen")
    fast_csv.Executor().Do({}, {standard_component_specs.EXAMPLES_KEY: [examples]}, {
        standard_component_specs.INPUT_BASE_KEY: data_root,
        standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(input_config),
        standard_component_specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(output_config),
        standard_component_specs.OUTPUT_DATA_FORMAT_KEY: 6})  # FORMAT_TF_EXAMPLE
    if spec.split_by is None:
        return _read_splits(examples)
    component = SplitByColumn(examples=types.Channel(type=standard_artifacts.Examples),
                              spec=spec)
    split = standard_artifacts.Examples()
    split.uri = os.path.join(out_dir, "split")
    split.split_names = "[]"
    SplitByColumn.EXECUTOR_SPEC.executor_class().Do(
        {"examples": [examples]}, {"split_examples": [split]},
        {k: v for k, v in component.exec_properties.items()})
    return _read_splits(split)


def _row_hash(row):
    """A hash of the row's raw features (every column but the split-neutral order)."""
    return hashlib.sha256(repr(sorted(row.items())).encode()).hexdigest()


def assert_disjoint_and_complete(splits, rows):
    assert sorted(splits) == ["test", "train", "validation"]
    hashes = {name: collections.Counter(map(_row_hash, split)) for name, split in splits.items()}
    fitted = hashes["train"] + hashes["validation"]
    assert not set(hashes["test"]) & set(fitted), "a test row informed training"
    assert not set(hashes["train"]) & set(hashes["validation"])
    # every input row is in exactly one split
    assert sum(fitted.values()) + sum(hashes["test"].values()) == len(rows)
    assert set(fitted) | set(hashes["test"]) == {_row_hash(_decode_like(r)) for r in rows}
    assert all(hashes[name] for name in hashes), "an empty split"


def _decode_like(row):
    """A CSV row as ExampleGen types it (ints stay ints, x a float32)."""
    out = dict(row)
    out["x"] = float(tf.constant(row["x"], tf.float32).numpy())
    return out


# -- the spec ---------------------------------------------------------------------------------

def test_spec_split_formats():
    spec = _spec({"train": 8, "validation": 1, "test": 1})
    assert spec.split == (("train", 8), ("validation", 1), ("test", 1))
    assert (spec.split_order, spec.split_by) == ("hash", None)
    assert DatasetSpec.from_dict(BASE).split == spec.split  # the default
    # the old two-way format: eval is test; validation is a tenth of the old train share
    assert _spec({"train": 9, "eval": 1}).split == (("train", 81), ("validation", 9),
                                                    ("test", 10))
    timed = _spec({"by": "ts", "order": "time", "train": 8, "validation": 1, "test": 1})
    assert (timed.split_order, timed.split_by) == ("time", "ts")
    assert "ts" in timed.raw_columns  # the pre-flight check looks for the column
    by_value = _spec({"by": "day", "values": {"train": [0, 1], "validation": 2, "test": ["3"]}})
    assert by_value.split_values == (("train", ("0", "1")), ("validation", ("2",)),
                                     ("test", ("3",)))
    files = _spec({"files": {"train": "a/*", "validation": "b/*", "test": "c/*"}})
    assert files.split_files == (("train", "a/*"), ("validation", "b/*"), ("test", "c/*"))


@pytest.mark.parametrize("split, message", [
    ({"train": 8, "test": 1}, "must map train, validation, test"),
    ({"train": 8, "validation": 0, "test": 1}, "positive ints"),
    ({"order": "time", "train": 8, "validation": 1, "test": 1}, "needs `by"),
    ({"by": "day", "values": {"train": [1], "validation": [1], "test": [2]}}, "in both"),
    ({"by": "day", "values": {"train": [1], "test": [2]}}, "exactly train, validation, test"),
    ({"files": {"train": "../x", "validation": "b", "test": "c"}}, "relative to the data"),
])
def test_spec_split_errors(split, message):
    with pytest.raises(SpecError, match=message):
        _spec(split)


# -- the rules --------------------------------------------------------------------------------

def test_time_boundaries_round_to_the_closest_time_and_keep_ties_together():
    two = (("train", 9), ("test", 1))
    assert time_boundaries([(1, 5), (2, 4), (3, 1)], two) == [(3, "test")]
    assert time_boundaries([(2, 5), (1, 3)], (("train", 1), ("test", 1))) == [(2, "test")]
    three = (("train", 8), ("validation", 1), ("test", 1))
    counts = [(t, 1) for t in range(20)]  # 20 rows at 20 times: 16 / 2 / 2
    assert time_boundaries(counts, three) == [(16, "validation"), (18, "test")]
    assert [split_at_time(t, [(16, "validation"), (18, "test")], "train")
            for t in (0, 15, 16, 17, 18, 19)] == ["train", "train", "validation", "validation",
                                                  "test", "test"]
    with pytest.raises(ValueError, match="leaves a split without rows"):
        time_boundaries([(1, 10), (2, 1), (3, 10)], three)
    with pytest.raises(ValueError, match="3 different times"):
        time_boundaries([(1, 10), (2, 10)], three)


def test_hash_by_column_is_tfx_partition_feature_rule():
    # TFX's rule (base_example_gen_executor._PartitionFn with partition_feature_name), written
    # out: sha256 of the feature's serialization, modulo the total share, bisected
    shares = (("train", 8), ("validation", 1), ("test", 1))
    for user in ("u1", "u2", "someone"):
        example = tf.train.Example()
        example.features.feature["user"].bytes_list.value.append(user.encode())
        key = example.features.feature["user"].SerializeToString(deterministic=True)
        bucket = int(hashlib.sha256(key).hexdigest(), 16) % 10
        expected = 0 if bucket < 8 else 1 if bucket < 9 else 2
        assert hash_split_index(example, "user", shares) == expected


# -- ExampleGen on a small CSV ----------------------------------------------------------------

def test_hash_split_is_disjoint(tmp_path):
    rows = _rows()
    _write_csv(str(tmp_path / "data" / "rows.csv"), rows)
    splits = run_splits(_spec({"train": 8, "validation": 1, "test": 1}),
                        str(tmp_path / "data"), "*", str(tmp_path / "out"))
    assert_disjoint_and_complete(splits, rows)
    assert 0.7 < len(splits["train"]) / ROWS < 0.9  # 8/10 of 400 by hash: ~320


def test_hash_by_column_keeps_each_user_in_one_split(tmp_path):
    rows = _rows()
    _write_csv(str(tmp_path / "data" / "rows.csv"), rows)
    splits = run_splits(_spec({"train": 8, "validation": 1, "test": 1, "by": "user"}),
                        str(tmp_path / "data"), "*", str(tmp_path / "out"))
    assert_disjoint_and_complete(splits, rows)
    users = {name: {r["user"] for r in split} for name, split in splits.items()}
    assert not users["test"] & (users["train"] | users["validation"])
    assert not users["train"] & users["validation"]


def test_time_split_puts_test_after_validation_after_train(tmp_path):
    rows = _rows()
    _write_csv(str(tmp_path / "data" / "rows.csv"), rows)
    splits = run_splits(
        _spec({"by": "ts", "order": "time", "train": 8, "validation": 1, "test": 1}),
        str(tmp_path / "data"), "*", str(tmp_path / "out"))
    assert_disjoint_and_complete(splits, rows)
    times = {name: [r["ts"] for r in split] for name, split in splits.items()}
    assert max(times["train"]) < min(times["validation"])
    assert max(times["validation"]) < min(times["test"])
    # 400 distinct times: exactly the shares
    assert [len(times[n]) for n in ("train", "validation", "test")] == [320, 40, 40]


def test_split_by_values(tmp_path):
    rows = _rows()  # day 0..4, 80 rows each
    _write_csv(str(tmp_path / "data" / "rows.csv"), rows)
    spec = _spec({"by": "day", "values": {"train": [0, 1, 2], "validation": [3], "test": [4]}})
    splits = run_splits(spec, str(tmp_path / "data"), "*", str(tmp_path / "out"))
    assert_disjoint_and_complete(splits, rows)
    assert {name: sorted({r["day"] for r in split}) for name, split in splits.items()} == {
        "train": [0, 1, 2], "validation": [3], "test": [4]}


def test_split_by_values_fails_on_an_unlisted_value(tmp_path):
    _write_csv(str(tmp_path / "data" / "rows.csv"), _rows())
    spec = _spec({"by": "day", "values": {"train": [0, 1], "validation": [3], "test": [4]}})
    with pytest.raises(Exception, match="value '2' is in no split"):
        run_splits(spec, str(tmp_path / "data"), "*", str(tmp_path / "out"))


def test_split_folders_decide_the_splits(tmp_path):
    parts = {"train": _rows(200), "validation": _rows(30, 200), "test": _rows(40, 230)}
    for name, rows in parts.items():
        _write_csv(str(tmp_path / "data" / name / "part.csv"), rows)
    splits = run_splits(DatasetSpec.from_dict(BASE), str(tmp_path / "data"), "*",
                        str(tmp_path / "out"))
    assert_disjoint_and_complete(splits, [r for rows in parts.values() for r in rows])
    for name, rows in parts.items():  # each split holds exactly its folder's rows
        assert sorted(r["row"] for r in splits[name]) == [r["row"] for r in rows]


def test_split_file_patterns_with_spans(tmp_path):
    """Day files -> splits per span (`split: {files: ...}` under span-<N>/ folders); the newest
    span is read, and its test file only is test."""
    for span in (1, 2):
        for day in range(4):
            _write_csv(str(tmp_path / "data" / f"span-{span}" / f"day_{day}.csv"),
                       _rows(50, 1000 * span + 50 * day))
    span_input = find_span_input(str(tmp_path / "data"))
    assert span_input.spans == [2] and span_input.pattern == "span-{SPAN}/*"
    spec = _spec({"files": {"train": "day_[01].csv", "validation": "day_2.csv",
                            "test": "day_3.csv"}})
    input_config, _ = example_gen_configs(spec, span_input.input_base, span_input.pattern)
    assert [(s.name, s.pattern) for s in input_config.splits] == [
        ("train", "span-{SPAN}/day_[01].csv"), ("validation", "span-{SPAN}/day_2.csv"),
        ("test", "span-{SPAN}/day_3.csv")]
    # ExampleGen's executor with the span resolved (what its driver does for span 2)
    span_dir = str(tmp_path / "data" / "span-2")
    splits = run_splits(spec, span_dir, "*", str(tmp_path / "out"))
    assert_disjoint_and_complete(splits, [r for day in range(4)
                                          for r in _rows(50, 2000 + 50 * day)])
    assert sorted(r["row"] for r in splits["test"]) == list(range(2150, 2200))


def test_span_folders_with_split_folders_are_found(tmp_path):
    for span in (3, 4):
        for name in ("train", "validation", "test"):
            _write_csv(str(tmp_path / "data" / f"span-{span}" / name / "part.csv"), _rows(20))
    span_input = find_span_input(str(tmp_path / "data"))
    assert span_input.available == [3, 4]
    assert span_input.files(4) == sorted(
        str(tmp_path / "data" / "span-4" / name / "part.csv")
        for name in ("train", "validation", "test"))
    input_config, output_config = example_gen_configs(
        DatasetSpec.from_dict(BASE), span_input.input_base, span_input.pattern)
    assert [(s.name, s.pattern) for s in input_config.splits] == [
        ("train", "span-{SPAN}/train/*"), ("validation", "span-{SPAN}/validation/*"),
        ("test", "span-{SPAN}/test/*")]
    assert not output_config.split_config.splits  # the input splits are the output splits


def test_some_split_folders_but_not_all_is_an_error(tmp_path):
    for name in ("train", "test"):
        _write_csv(str(tmp_path / "data" / name / "part.csv"), _rows(20))
    with pytest.raises(ValueError, match="but not validation/"):
        example_gen_configs(DatasetSpec.from_dict(BASE), str(tmp_path / "data"), "*")


# -- who reads which split (the pipeline as built; nothing runs) ------------------------------

def _built(spec, data_root="/nonexistent/data"):
    import pipeline.pipeline as pipeline_module
    built = pipeline_module.create_pipeline(
        spec, data_root, pipeline_module.RunPaths("/nonexistent/root"),
        pipeline_module.TrainingConfig(train_steps=2), input_pattern="*.csv")
    return {c.id: c for c in built.components}


def test_trainer_decides_on_validation_and_the_evaluator_judges_test():
    from tfx.proto import trainer_pb2, transform_pb2
    components = _built(DatasetSpec.from_dict(BASE))
    trainer = components["Trainer"].exec_properties
    train_args, eval_args = trainer_pb2.TrainArgs(), trainer_pb2.EvalArgs()
    proto_utils.json_to_proto(trainer["train_args"], train_args)
    proto_utils.json_to_proto(trainer["eval_args"], eval_args)
    assert (list(train_args.splits), list(eval_args.splits)) == (["train"], ["validation"])
    splits_config = transform_pb2.SplitsConfig()
    proto_utils.json_to_proto(components["Transform"].exec_properties["splits_config"],
                              splits_config)
    assert list(splits_config.analyze) == ["train"]
    assert "test" not in splits_config.transform
    assert components["Evaluator"].exec_properties["example_splits"] == '["test"]'
    assert components["SchemaGen"].exec_properties["exclude_splits"] == '["test"]'
    assert "SplitByColumn" not in components


def test_a_column_split_runs_split_by_column_before_statistics():
    components = _built(_spec({"by": "ts", "order": "time", "train": 8, "validation": 1,
                               "test": 1}))
    split = components["SplitByColumn"]
    assert components["StatisticsGen"].inputs["examples"] is split.outputs["split_examples"]
    assert components["Evaluator"].inputs["examples"] is split.outputs["split_examples"]
