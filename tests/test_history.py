"""The history builder's Beam transform on tiny in-memory logs (DirectRunner), checked against
plain-Python reference computations; the behaviour section of the spec; the behaviour
generator."""
import glob
import os

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf

from components.dataset_spec import DatasetSpec, SpecError
from components.history import BuildHistories, length_bucket

BASE = {
    "labels": [{"name": "label", "column": "label"}],
    "sparse": ["user_id", "item_id", "cate_id"],
    "behaviour": {"user": "user_id", "item": "item_id", "attributes": ["cate_id"],
                  "time": "ts", "positive": "label", "max_length": 4},
}


def _spec(**behaviour):
    raw = dict(BASE, behaviour={**BASE["behaviour"], **behaviour})
    return DatasetSpec.from_dict(raw, source="test.yaml")


def _example(row):
    example = tf.train.Example()
    for key, value in row.items():
        feature = example.features.feature[key]
        if isinstance(value, str):
            feature.bytes_list.value.append(value.encode())
        elif isinstance(value, float):
            feature.float_list.value.append(value)
        else:
            feature.int64_list.value.append(value)
    return example.SerializeToString()


def _decode(serialized):
    example = tf.train.Example.FromString(serialized)
    out = {}
    for key, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        values = list(getattr(feature, kind).value)
        out[key] = values[0].decode() if kind == "bytes_list" else values[0]
    return out


def run_builder(spec, rows_by_split, out_dir):
    """Runs BuildHistories on {split: [row dict]}; returns {split: [decoded rows]} and
    {split: sorted serialized rows}."""
    with beam.Pipeline(argv=["--direct_running_mode=in_memory"]) as p:
        inputs = {name: p | f"Create[{name}]" >> beam.Create([_example(r) for r in rows])
                  for name, rows in rows_by_split.items()}
        outputs = inputs | BuildHistories(spec)
        for name, rows in outputs.items():
            _ = rows | f"Write[{name}]" >> beam.io.WriteToTFRecord(
                os.path.join(out_dir, name, "part"))
    raw = {}
    for name in outputs:
        files = sorted(glob.glob(os.path.join(out_dir, name, "part*")))
        raw[name] = sorted(r.numpy() for r in tf.data.TFRecordDataset(files))
    return {name: [_decode(r) for r in rows] for name, rows in raw.items()}, raw


def _random_log(seed=0, users=5, events=30):
    """Events with frequent timestamp ties (several events of a user at one time)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(1, users + 1):
        times = np.sort(rng.integers(0, 40, size=events)) * 100
        for t in times:
            item = int(rng.integers(1, 25))
            rows.append({"user_id": u, "item_id": item, "cate_id": f"c{item % 4}",
                         "ts": int(t), "label": int(rng.random() < 0.5)})
    return rows


def _reference_history(rows, row, max_length):
    """Items of the same user's positives strictly before `row`'s time, oldest first."""
    earlier = sorted((r["ts"], str(r["item_id"])) for r in rows
                     if r["user_id"] == row["user_id"] and r["label"] == 1 and r["ts"] < row["ts"])
    return [item for _, item in earlier][-max_length:], len(earlier)


def _split_history(text):
    return text.split("|") if text else []


@pytest.fixture(scope="module")
def random_run(tmp_path_factory):
    rows = _random_log()
    spec = _spec(negatives=1, session_gap_seconds=150, sess_max_count=2, sess_max_length=3,
                 split="example_gen")
    half = len(rows) // 2
    decoded, raw = run_builder(spec, {"train": rows[:half], "eval": rows[half:]},
                               str(tmp_path_factory.mktemp("random")))
    return spec, rows, decoded, raw


def test_histories_hold_only_strictly_earlier_positives_most_recent_kept(random_run):
    spec, rows, decoded, _ = random_run
    out = decoded["train"] + decoded["eval"]
    assert len(out) == len(rows)
    cate = {str(r["item_id"]): r["cate_id"] for r in rows}
    checked_ties = 0
    for row in out:
        expected, count = _reference_history(rows, row, 4)
        items = _split_history(row["hist_item_id"])
        # equal-time history items are ordered by the item's text
        assert items == expected, row
        assert _split_history(row["hist_cate_id"]) == [cate[i] for i in items]
        assert row["hist_length_bucket"] == length_bucket(count)
        same_time = {str(r["item_id"]) for r in rows if r["user_id"] == row["user_id"]
                     and r["ts"] == row["ts"] and r["label"] == 1 and r is not row}
        checked_ties += bool(same_time)
    assert checked_ties > 10  # the log really has positives tied with other events
    assert {r["hist_length_bucket"] for r in out} == {"0", "1-4", "5+"}


def test_example_gen_split_is_kept_and_the_history_reads_all_splits(random_run):
    _, rows, decoded, _ = random_run
    half = len(rows) // 2
    key = lambda r: (r["user_id"], r["ts"], r["item_id"], r["label"])  # noqa: E731
    assert sorted(map(key, decoded["train"])) == sorted(map(key, rows[:half]))
    assert sorted(map(key, decoded["eval"])) == sorted(map(key, rows[half:]))
    # eval rows of the first user (all in train) are none; a late-split user's train rows see
    # eval events in their history (split: example_gen is a hash-like split of rows)
    eval_items = {(r["user_id"], str(r["item_id"])) for r in rows[half:] if r["label"] == 1}
    assert any((r["user_id"], i) in eval_items for r in decoded["eval"]
               for i in _split_history(r["hist_item_id"]))


def test_negatives_are_never_the_users_items_align_with_history_and_are_seeded(random_run,
                                                                               tmp_path):
    spec, rows, decoded, raw = random_run
    catalogue = {str(r["item_id"]): r["cate_id"] for r in rows}
    drawn = set()
    for row in decoded["train"] + decoded["eval"]:
        mine = {str(r["item_id"]) for r in rows if r["user_id"] == row["user_id"]}
        negatives = _split_history(row["neg_hist_item_id"])
        assert len(negatives) == len(_split_history(row["hist_item_id"]))
        assert not set(negatives) & mine
        assert _split_history(row["neg_hist_cate_id"]) == [catalogue[n] for n in negatives]
        drawn |= set(negatives)
    assert len(drawn) > 3
    # same input -> byte-identical output, whatever the bundle order (input order reversed)
    half = len(rows) // 2
    _, again = run_builder(spec, {"train": rows[:half][::-1], "eval": rows[half:][::-1]},
                           str(tmp_path / "again"))
    assert again == raw
    reseeded = DatasetSpec.from_dict(dict(BASE, behaviour={
        **BASE["behaviour"], "negatives": 1, "session_gap_seconds": 150, "sess_max_count": 2,
        "sess_max_length": 3, "split": "example_gen", "seed": 1}))
    other, _ = run_builder(reseeded, {"train": rows[:half], "eval": rows[half:]},
                           str(tmp_path / "reseeded"))
    assert ([r["neg_hist_item_id"] for r in other["train"]]
            != [r["neg_hist_item_id"] for r in decoded["train"]])


def _reference_sessions(rows, row, gap, max_count, max_length):
    mine = sorted((r["ts"], str(r["item_id"]), r["label"]) for r in rows
                  if r["user_id"] == row["user_id"])
    sessions, last = [], None
    for t, item, label in mine:
        if last is None or t - last > gap:
            sessions.append([])
        last = t
        if label == 1 and t < row["ts"]:
            sessions[-1].append(item)
    recent = [s[-max_length:] for s in sessions[::-1] if s][:max_count]
    return recent + [[]] * (max_count - len(recent))


def test_sessions_split_on_the_gap_most_recent_first_and_capped(random_run):
    spec, rows, decoded, _ = random_run
    lengths = set()
    for row in decoded["train"] + decoded["eval"]:
        expected = _reference_sessions(rows, row, 150, 2, 3)
        got = [_split_history(row[f"sess_{i}_item_id"]) for i in range(2)]
        assert got == expected, row
        lengths.add(tuple(map(len, got)))
    assert (3, 3) in lengths and (0, 0) in lengths and any(0 < a < 3 for a, _ in lengths)


def test_hand_made_sessions(tmp_path):
    spec = _spec(session_gap_seconds=1800, sess_max_count=2, sess_max_length=2, max_length=10,
                 split="example_gen")
    log = [(0, 1, 1), (100, 2, 1), (200, 3, 1),   # session A
           (5000, 4, 1), (5100, 5, 0),            # session B
           (9000, 6, 0),                          # session C: no positives
           (20000, 7, 1), (20000, 8, 1)]          # session D: the two events tie
    rows = [{"user_id": 1, "item_id": i, "cate_id": f"c{i}", "ts": t, "label": y}
            for t, i, y in log]
    decoded, _ = run_builder(spec, {"train": rows}, str(tmp_path))
    by_item = {r["item_id"]: r for r in decoded["train"]}
    assert by_item[7]["sess_0_item_id"] == "4" and by_item[7]["sess_1_item_id"] == "2|3"
    assert by_item[8]["hist_item_id"] == "1|2|3|4"  # item 7 has the same time: not history
    assert by_item[5]["sess_0_item_id"] == "4" and by_item[5]["sess_1_item_id"] == "2|3"
    assert by_item[3]["sess_0_item_id"] == "1|2" and by_item[3]["sess_1_item_id"] == ""
    assert by_item[1]["sess_0_item_id"] == "" and by_item[1]["hist_length_bucket"] == "0"
    assert by_item[6]["hist_length_bucket"] == "1-4" and by_item[8]["hist_length_bucket"] == "1-4"
    assert by_item[8]["sess_1_cate_id"] == "c2|c3"


def test_time_split_cuts_the_whole_log_at_one_timestamp(tmp_path):
    rows = _random_log(seed=1, users=6, events=20)
    spec = _spec(split="time")
    decoded, _ = run_builder(spec, {"train": rows[::2], "eval": rows[1::2]}, str(tmp_path))
    assert sorted(decoded) == ["test", "train", "validation"]  # the spec's default 8:1:1
    train_times = [r["ts"] for r in decoded["train"]]
    validation_times = [r["ts"] for r in decoded["validation"]]
    eval_times = [r["ts"] for r in decoded["test"]]
    assert max(train_times) < min(validation_times) and max(validation_times) < min(eval_times)
    assert len(train_times) + len(validation_times) + len(eval_times) == len(rows)
    assert 0.05 < len(eval_times) / len(rows) < 0.2
    assert 0.05 < len(validation_times) / len(rows) < 0.2
    for row in decoded["test"]:  # test histories still read the user's training events
        assert _split_history(row["hist_item_id"]) == _reference_history(rows, row, 4)[0]


def test_movielens_format_log(tmp_path):
    from components.dataset_spec import load_spec
    from data.generators import generate_movielens
    df, _ = generate_movielens(400, seed=2)
    spec = load_spec("movielens_behaviour")
    rows = [{k: (v if isinstance(v, str) else int(v)) for k, v in rec.items()}
            for rec in df.to_dict("records")]
    decoded, _ = run_builder(spec, {"train": rows[:300], "eval": rows[300:]}, str(tmp_path))
    out = decoded["train"] + decoded["validation"] + decoded["test"]  # split: time, 8:1:1
    assert len(out) == 400
    nonempty = 0
    for row in out:
        earlier = sorted((r["timestamp"], str(r["movie_id"])) for r in rows
                         if r["user_id"] == row["user_id"] and r["rating"] >= 4
                         and r["timestamp"] < row["timestamp"])
        assert _split_history(row["hist_movie_id"]) == [m for _, m in earlier][-20:]
        nonempty += bool(earlier)
    assert nonempty > 200


def test_spec_generates_history_features_sharing_the_candidates_vocabulary():
    spec = _spec(negatives=1, session_gap_seconds=60, sess_max_count=2)
    by_name = {f.name: f for f in spec.multi_value}
    assert list(by_name) == ["hist_item_id", "hist_cate_id", "neg_hist_item_id",
                             "neg_hist_cate_id", "sess_0_item_id", "sess_0_cate_id",
                             "sess_1_item_id", "sess_1_cate_id"]
    assert by_name["hist_cate_id"].vocab_of == "cate_id"
    assert by_name["sess_1_item_id"].max_length == 4 and by_name["hist_item_id"].keep == "last"
    assert spec.behaviour.history_feature_list == ["item_id", "cate_id"]
    # the log's columns: generated ones are not read, the time column is
    assert spec.raw_columns == ["label", "user_id", "item_id", "cate_id", "ts"]
    # a hand-declared history column that agrees is kept as declared
    raw = dict(BASE, multi_value=[{"name": "hist_item_id", "vocab_of": "item_id", "keep": "last",
                                   "max_length": 4, "combiner": "sum"}])
    spec = DatasetSpec.from_dict(raw)
    assert [f.combiner for f in spec.multi_value if f.name == "hist_item_id"] == ["sum"]


@pytest.mark.parametrize("change, message", [
    ({"attributes": ["brand"]}, "'brand' (item/attribute) must be a sparse feature"),
    ({"negatives": 3}, "behaviour.negatives: must be 0 or 1"),
    ({"max_length": 0}, "behaviour.max_length: must be an int >= 1"),
    ({"split": "random"}, "behaviour.split: must be time or example_gen"),
    ({"session_gap_seconds": -5}, "behaviour.session_gap_seconds"),
    ({"separator": "||"}, "behaviour.separator"),
    ({"colour": 1}, "unknown keys ['colour']"),
    ({"time": None}, "behaviour.time: must name a column"),
])
def test_spec_errors_name_the_field(change, message):
    with pytest.raises(SpecError, match="test.yaml") as err:
        _spec(**change)
    assert message in str(err.value)


def test_hand_declared_history_that_disagrees_is_an_error():
    raw = dict(BASE, multi_value=[{"name": "hist_item_id", "vocab_of": "cate_id"}])
    with pytest.raises(SpecError, match="multi_value.hist_item_id: is generated by the "
                                        "behaviour section"):
        DatasetSpec.from_dict(raw)


def test_log_that_already_has_a_history_column_is_rejected(tmp_path):
    rows = [{"user_id": 1, "item_id": 1, "cate_id": "a", "ts": 1, "label": 1,
             "hist_item_id": "3|4"}]
    with pytest.raises(Exception, match="already has a column 'hist_item_id'"):
        run_builder(_spec(), {"train": rows}, str(tmp_path))


def test_behaviour_generator_is_deterministic_and_plants_a_history_effect():
    from data.behaviour import generate_behaviour
    df, info = generate_behaviour(4000, seed=5, return_probability=True)
    again, _ = generate_behaviour(4000, seed=5)
    assert df[again.columns].equals(again)
    assert (np.diff(df["timestamp"]) >= 0).all()
    assert info["oracle_auc"] > info["no_history_oracle_auc"] + 0.05
    # the click rate is higher when the candidate is in the current interest
    match = df["cate_id"] == df["current_interest"]
    assert df.loc[match, "label"].mean() > 2 * df.loc[~match, "label"].mean()


@pytest.mark.parametrize("model, args, expected", [
    ("WDL", {}, {"hist_item_id", "hist_cate_id"}),
    ("DIN", {}, {"hist_item_id", "hist_cate_id"}),
    ("DSIN", {}, {"hist_item_id", "hist_cate_id"} | {f"sess_{i}_{x}" for i in range(3)
                                                     for x in ("item_id", "cate_id")}),
])
def test_models_get_the_behaviour_columns_and_arguments_they_read(model, args, expected):
    from components.dataset_spec import load_spec
    from components.model_builder import build_model, feature_columns
    spec = load_spec("behaviour")
    linear, dnn = feature_columns(spec, {g: 50 for g in spec.vocab_groups()})
    built = build_model(model, spec, linear, dnn, args)
    assert {i.name for i in built.inputs} == {"user_id", "item_id", "cate_id"} | expected


def test_model_builder_errors_for_missing_behaviour_columns():
    from components.dataset_spec import load_spec
    from components.model_builder import build_model, feature_columns
    spec = load_spec("movielens_behaviour")  # no negatives, no sessions
    linear, dnn = feature_columns(spec, {g: 50 for g in spec.vocab_groups()})
    with pytest.raises(ValueError, match="reads sessions: set behaviour.session_gap_seconds"):
        build_model("DSIN", spec, linear, dnn)
    with pytest.raises(ValueError, match="has no behaviour section"):
        plain = load_spec("movielens")
        build_model("DIN", plain, *feature_columns(plain, {g: 50 for g in plain.vocab_groups()}))
    no_hist = DatasetSpec.from_dict(dict(BASE, behaviour={**BASE["behaviour"],
                                                          "history_in_other_models": False}))
    linear, dnn = feature_columns(no_hist, {g: 50 for g in no_hist.vocab_groups()})
    assert {i.name for i in build_model("WDL", no_hist, linear, dnn).inputs} == {
        "user_id", "item_id", "cate_id"}


def test_evaluator_slices_on_the_history_length_bucket():
    from components.dataset_spec import load_spec
    from components.evaluation import eval_config
    slices = [list(s.feature_keys) for s in eval_config(load_spec("behaviour")).slicing_specs]
    assert slices == [[], ["hist_length_bucket"]]
    plain = eval_config(load_spec("movielens")).slicing_specs
    assert ["hist_length_bucket"] not in [list(s.feature_keys) for s in plain]


def test_a_new_threshold_leaves_the_history_builder_cached():
    """HistoryBuilder's parameters are its cache key: a new blessing threshold or slice must not
    rebuild every history (and everything after it), only re-run the Evaluator and Pusher."""
    import dataclasses
    import json
    from components.dataset_spec import load_spec
    from pipeline.pipeline import RunPaths, TrainingConfig, create_pipeline

    def history_parameters(spec):
        built = create_pipeline(spec, "/nonexistent/data", RunPaths("/nonexistent/root"),
                                TrainingConfig(train_steps=2), input_pattern="*.csv")
        node = next(c for c in built.components if c.id == "HistoryBuilder")
        return node.exec_properties

    spec = load_spec("behaviour")
    changed = dataclasses.replace(spec, evaluation=dataclasses.replace(
        spec.evaluation, auc_threshold=0.9, auc_change_threshold=-0.5))
    assert history_parameters(spec) == history_parameters(changed)
    built = json.loads(history_parameters(spec)["spec_json"])
    assert "evaluation" not in built and "auc_threshold" not in built["labels"][0]
    # still the whole behaviour section (through JSON, as the executor reads it)
    assert built["behaviour"] == json.loads(json.dumps(spec.to_dict()["behaviour"]))
