"""preprocessing_fn on tiny in-memory data with tft_beam: ids, OOV, scaling, missing values."""

import numpy as np
import pytest
import tensorflow as tf

from components.dataset_spec import DatasetSpec, SpecError
from components.transform import vocabulary_name
from pipeline_testing import transform_rows

SPEC = {
    "name": "tiny",
    "labels": [{"name": "label", "column": "clicked", "task": "binary"}],
    "dense": [{"name": "I1", "log": True, "fill_value": 0.0}, {"name": "I2", "fill_value": -1.0}],
    "sparse_defaults": {"frequency_threshold": 2},
    "sparse": ["C1", "C2", {"name": "H", "encoding": "hash", "hash_buckets": 8}],
    "multi_value": [{"name": "genres", "separator": "|", "max_length": 2},
                    {"name": "hist", "vocab_of": "C1", "max_length": 3, "keep": "last"}],
    "slices": ["C2"],
}

RAW_SPEC = {
    "clicked": tf.io.FixedLenFeature([], tf.int64),
    "I1": tf.io.VarLenFeature(tf.float32),
    "I2": tf.io.VarLenFeature(tf.int64),
    "C1": tf.io.VarLenFeature(tf.string),
    "C2": tf.io.VarLenFeature(tf.int64),
    "H": tf.io.VarLenFeature(tf.string),
    "genres": tf.io.VarLenFeature(tf.string),
    "hist": tf.io.VarLenFeature(tf.string),
}

TRAIN = [
    {"clicked": 1, "I1": [0.0], "I2": [-3], "C1": ["a"], "C2": [7], "H": ["x"],
     "genres": ["Comedy|Drama"], "hist": ["a|b|a|c"]},
    {"clicked": 0, "I1": [9.0], "I2": [5], "C1": ["a"], "C2": [7], "H": ["y"],
     "genres": ["Drama"], "hist": ["b"]},
    {"clicked": 0, "I1": [], "I2": [], "C1": ["b"], "C2": [8], "H": [],
     "genres": ["Comedy|Drama|Action"], "hist": []},
    {"clicked": 1, "I1": [99.0], "I2": [1], "C1": ["b"], "C2": [8], "H": ["x"],
     "genres": [], "hist": ["a"]},
    {"clicked": 0, "I1": [3.0], "I2": [2], "C1": ["rare"], "C2": [9], "H": ["z"],
     "genres": ["Comedy"], "hist": ["zzz"]},
]


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    return transform_rows(DatasetSpec.from_dict(SPEC), RAW_SPEC, TRAIN, tmp_path_factory)


def test_vocabulary_ids_and_oov(transformed):
    data, tft_output = transformed
    vocab = tft_output.vocabulary_by_name(vocabulary_name("ids"))
    vocab = [t.decode() for t in vocab]
    # one fused vocabulary over all vocabulary features; threshold 2 drops singletons
    assert set(vocab) == {"C1=a", "C1=b", "C2=7", "C2=8", "genres=Comedy", "genres=Drama"}
    first_token_id = 1 + 3  # padding, then one OOV id for each of C1, C2, genres (hist borrows C1)
    ids = {t: first_token_id + i for i, t in enumerate(vocab)}
    assert [int(r["C1"][0]) for r in data] == [ids["C1=a"], ids["C1=a"], ids["C1=b"], ids["C1=b"], 1]
    # C2 is an int column: formatted to the same tokens; 9 is rare -> C2's OOV id 2
    assert [int(r["C2"][0]) for r in data] == [ids["C2=7"], ids["C2=7"], ids["C2=8"], ids["C2=8"], 2]


def test_multi_value_padding_truncation_and_shared_vocab(transformed):
    data, tft_output = transformed
    vocab = [t.decode() for t in tft_output.vocabulary_by_name(vocabulary_name("ids"))]
    ids = {t: 4 + i for i, t in enumerate(vocab)}
    np.testing.assert_array_equal(data[0]["genres"], [ids["genres=Comedy"], ids["genres=Drama"]])
    np.testing.assert_array_equal(data[3]["genres"], [0, 0])  # empty -> padding
    # keep='last' keeps the most recent 3; hist shares C1's ids; unknown 'zzz' -> C1's OOV id
    np.testing.assert_array_equal(data[0]["hist"], [ids["C1=b"], ids["C1=a"], 1])
    np.testing.assert_array_equal(data[1]["hist"], [ids["C1=b"], 0, 0])
    np.testing.assert_array_equal(data[4]["hist"], [1, 0, 0])


def test_dense_scaling_missing_and_negative(transformed):
    data, _ = transformed
    i1 = np.array([float(r["I1"][0]) for r in data])
    logged = np.log1p(np.array([0.0, 9.0, 0.0, 99.0, 3.0]))  # missing -> fill 0
    np.testing.assert_allclose(i1, (logged - logged.min()) / (logged.max() - logged.min()), atol=1e-6)
    i2 = np.array([float(r["I2"][0]) for r in data])
    raw = np.array([-3.0, 5.0, -1.0, 1.0, 2.0])  # missing -> fill -1, no log
    np.testing.assert_allclose(i2, (raw + 3) / 8, atol=1e-6)
    assert [float(r["label"][0]) for r in data] == [1, 0, 0, 1, 0]


def test_hash_encoding_matches_ctr_models_hashing(transformed):
    from ctr_models.hashing import hash_bucket_ids
    data, _ = transformed
    expected = hash_bucket_ids(tf.constant(["x", "y", "", "x", "z"]), 8, mask_zero=True).numpy()
    assert [int(r["H"][0]) for r in data] == list(expected)
    assert expected[2] == 0 and all(1 <= e < 8 for e in np.delete(expected, 2))


def test_serving_graph_maps_unseen_and_out_of_range(transformed):
    _, tft_output = transformed
    layer = tft_output.transform_features_layer()
    raw = {
        "I1": tf.sparse.from_dense(tf.constant([[1e6]])),
        "I2": tf.sparse.from_dense(tf.constant([[-100]], tf.int64)),
        "C1": tf.sparse.from_dense(tf.constant([["never-seen"]])),
        "C2": tf.SparseTensor(tf.zeros((0, 2), tf.int64), tf.constant([], tf.int64), [1, 1]),
        "H": tf.sparse.from_dense(tf.constant([["x"]])),
        "genres": tf.sparse.from_dense(tf.constant([["Horror|Comedy"]])),
        "hist": tf.sparse.from_dense(tf.constant([["b"]])),
    }
    out = layer(raw)
    assert float(out["I1"][0, 0]) == 1.0 and float(out["I2"][0, 0]) == 0.0  # clipped
    assert int(out["C1"][0, 0]) == 1  # C1's OOV id
    assert int(out["C2"][0, 0]) == 2  # missing and rare-in-training 'C2=' -> C2's OOV id
    assert int(out["genres"][0, 0]) == 3  # Horror unseen -> genres' OOV id


def test_a_missing_integer_category_is_not_the_value_0(tmp_path_factory):
    """Missing and 0 in an integer categorical column get different ids, in training and at
    serving alike (before, a missing cell was read as 0: one embedding row for both)."""
    spec = DatasetSpec.from_dict({
        "name": "ints", "labels": [{"name": "label", "column": "clicked", "task": "binary"}],
        "sparse_defaults": {"frequency_threshold": 2},
        "sparse": ["C", {"name": "H", "encoding": "hash", "hash_buckets": 8}]})
    raw_spec = {"clicked": tf.io.FixedLenFeature([], tf.int64),
                "C": tf.io.VarLenFeature(tf.int64), "H": tf.io.VarLenFeature(tf.int64)}
    rows = [{"clicked": 0, "C": [0], "H": [0]}, {"clicked": 1, "C": [], "H": []},
            {"clicked": 1, "C": [0], "H": [0]}, {"clicked": 0, "C": [], "H": []},
            {"clicked": 0, "C": [5], "H": [5]}]
    data, tft_output = transform_rows(spec, raw_spec, rows, tmp_path_factory)
    vocab = [t.decode() for t in tft_output.vocabulary_by_name(vocabulary_name("ids"))]
    assert sorted(vocab) == ["C=", "C=0"]  # both seen twice; 5 once (below the threshold)
    ids = {t: 2 + i for i, t in enumerate(vocab)}  # padding, C's OOV id, then the tokens
    assert [int(r["C"][0]) for r in data] == [ids["C=0"], ids["C="], ids["C=0"], ids["C="], 1]
    # hashing: a missing cell is the padding id 0, as for string columns; 0 is a value, hashed
    zero = 1 + int(tf.strings.to_hash_bucket_fast(["0"], 8 - 1)[0])
    assert [int(r["H"][0]) for r in data][:4] == [zero, 0, zero, 0]
    served = tft_output.transform_features_layer()({
        "C": tf.SparseTensor([[0, 0]], tf.constant([0], tf.int64), [2, 1]),
        "H": tf.SparseTensor([[0, 0]], tf.constant([0], tf.int64), [2, 1])})
    assert [int(v) for v in served["C"][:, 0]] == [ids["C=0"], ids["C="]]
    assert [int(v) for v in served["H"][:, 0]] == [zero, 0]


def test_spec_errors_name_the_field():
    bad = dict(SPEC, sparse=[{"name": "C1", "encoding": "onehot"}])
    with pytest.raises(SpecError, match="sparse.C1.*encoding"):
        DatasetSpec.from_dict(bad, source="tiny.yaml")
    with pytest.raises(SpecError, match="slices.*'nope'"):
        DatasetSpec.from_dict(dict(SPEC, slices=["nope"]))
    with pytest.raises(SpecError, match="dense.I1.*unknown keys \\['scale'\\]"):
        DatasetSpec.from_dict(dict(SPEC, dense=[{"name": "I1", "scale": "z"}]))
