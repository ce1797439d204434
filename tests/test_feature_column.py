"""Feature columns, inputs and embedding lookups (ctr_models.feature_column / ctr_models.inputs)."""
import inspect

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

import ctr_models.layers as layers_pkg
from ctr_models.feature_column import (DEFAULT_GROUP_NAME, DenseFeat, SparseFeat,
                                       VarLenSparseFeat, build_input_features, get_feature_names)
from ctr_models.inputs import get_linear_logit, input_from_feature_columns, lookup_embeddings
from ctr_models.layers import FusedEmbedding, custom_objects
from ctr_models.layers.utils import concat_func
from model_harness import check_model, reset

RNG = np.random.default_rng(3)


def embedding_layers(model):
    return [layer for layer in model.layers if isinstance(layer, FusedEmbedding)]


def embedding_model(columns, **kwargs):
    """Model: inputs -> the list of (pooled) sparse embeddings [B, 1, d]."""
    features = build_input_features(columns)
    sparse, _ = input_from_feature_columns(features, columns, 0, 1024, **kwargs)
    return keras.Model(list(features.values()), sparse)


# --------------------------------------------------------------------------------- the columns

def test_sparse_feat_defaults_and_fields():
    assert SparseFeat._fields == ("name", "vocabulary_size", "embedding_dim", "use_hash",
                                  "vocabulary_path", "dtype", "embeddings_initializer",
                                  "embedding_name", "group_name", "trainable")
    fc = SparseFeat("user", 10)
    assert (fc.embedding_dim, fc.use_hash, fc.vocabulary_path, fc.dtype) == (4, False, None,
                                                                              "int32")
    assert fc.embeddings_initializer is None  # -> RandomNormal(stddev=1e-4) at lookup
    assert (fc.embedding_name, fc.group_name, fc.trainable) == ("user", DEFAULT_GROUP_NAME, True)
    assert DEFAULT_GROUP_NAME == "default_group"
    # positional order as in DeepCTR
    fc = SparseFeat("a", 5, 8, True, None, "string", None, "shared", "g", False)
    assert (fc.embedding_dim, fc.use_hash, fc.dtype, fc.embedding_name, fc.group_name,
            fc.trainable) == (8, True, "string", "shared", "g", False)


def test_varlen_and_dense_defaults_and_fields():
    assert VarLenSparseFeat._fields == ("sparsefeat", "maxlen", "combiner", "length_name",
                                        "weight_name", "weight_norm")
    assert DenseFeat._fields == ("name", "dimension", "dtype", "transform_fn")
    v = VarLenSparseFeat(SparseFeat("hist", 30, 6, embedding_name="item", group_name="g"), 5)
    assert (v.maxlen, v.combiner, v.length_name, v.weight_name, v.weight_norm) == (
        5, "mean", None, None, True)
    assert (v.name, v.vocabulary_size, v.embedding_dim, v.embedding_name, v.group_name,
            v.dtype, v.trainable) == ("hist", 30, 6, "item", "g", "int32", True)
    d = DenseFeat("price")
    assert (d.dimension, d.dtype, d.transform_fn) == (1, "float32", None)


def test_auto_embedding_dim():
    # DeepCTR: 6 * int(vocabulary_size ** 0.25)
    assert SparseFeat("a", 10000, "auto").embedding_dim == 60
    assert SparseFeat("a", 100, "auto").embedding_dim == 6 * int(100 ** 0.25) == 18
    assert SparseFeat("a", 1, "auto").embedding_dim == 6


def test_numpy_integers_are_accepted():
    # DeepCTR's examples pass e.g. data[feat].max() + 1, a NumPy integer
    fc = SparseFeat("a", np.int64(12), np.int32(3))
    assert (fc.vocabulary_size, fc.embedding_dim) == (12, 3)
    assert type(fc.vocabulary_size) is int and type(fc.embedding_dim) is int


def test_invalid_columns_raise_naming_the_feature():
    with pytest.raises(ValueError, match="'a'.*vocabulary_size"):
        SparseFeat("a", 0)
    with pytest.raises(ValueError, match="'a'.*embedding_dim"):
        SparseFeat("a", 10, embedding_dim=0)
    with pytest.raises(ValueError, match="'h'.*combiner"):
        VarLenSparseFeat(SparseFeat("h", 10), 3, combiner="median")


def test_get_feature_names_and_build_input_features():
    columns = [SparseFeat("user", 10), DenseFeat("price", 3),
               VarLenSparseFeat(SparseFeat("hist", 10), 6, length_name="hist_len",
                                weight_name="hist_w"),
               SparseFeat("tag", 10, use_hash=True, dtype="string"),
               SparseFeat("user", 10)]  # a duplicate is listed once
    assert get_feature_names(columns) == ["user", "price", "hist", "hist_w", "hist_len", "tag"]
    features = build_input_features(columns)
    expected = {"user": ((None, 1), tf.int32), "price": ((None, 3), tf.float32),
                "hist": ((None, 6), tf.int32), "hist_w": ((None, 6, 1), tf.float32),
                "hist_len": ((None, 1), tf.int32), "tag": ((None, 1), tf.string)}
    for name, (shape, dtype) in expected.items():
        assert tuple(features[name].shape) == shape, name
        assert features[name].dtype == dtype, name
        assert features[name].name == name
    prefixed = build_input_features(columns[:1], prefix="p_")
    assert prefixed["user"].name == "p_user"
    with pytest.raises(TypeError, match="Invalid feature column"):
        build_input_features(["user"])


# ------------------------------------------------------------------------- embedding sharing

def test_shared_embedding_name_reads_the_same_rows():
    columns = [SparseFeat("item", 8, 4),
               SparseFeat("last_item", 8, 4, embedding_name="item"),
               VarLenSparseFeat(SparseFeat("hist_item", 8, 4, embedding_name="item"), 3, "sum")]
    model = embedding_model(columns)
    (layer,) = embedding_layers(model)
    assert tuple(layer.embeddings.shape) == (8, 4)  # one logical table
    table = RNG.standard_normal((8, 4)).astype("float32")
    layer.embeddings.assign(table)
    x = {"item": np.array([[3], [5]], "int32"), "last_item": np.array([[3], [1]], "int32"),
         "hist_item": np.array([[3, 1, 0], [2, 0, 0]], "int32")}
    item, last, hist = model.predict(x, verbose=0)
    np.testing.assert_allclose(item[:, 0], table[[3, 5]], rtol=1e-6)
    np.testing.assert_allclose(last[:, 0], table[[3, 1]], rtol=1e-6)
    np.testing.assert_allclose(hist[:, 0], [table[3] + table[1], table[2]], rtol=1e-5)


@pytest.mark.parametrize("other", [
    SparseFeat("b", 9, 4, embedding_name="a"), SparseFeat("b", 8, 6, embedding_name="a"),
    SparseFeat("b", 8, 4, embedding_name="a", trainable=False),
    VarLenSparseFeat(SparseFeat("b", 9, 4, embedding_name="a"), 3)],
    ids=["vocabulary_size", "embedding_dim", "trainable", "varlen"])
def test_shared_embedding_name_disagreement_raises_naming_both(other):
    """As DeepCTR since #551 (create_embedding_matrix): one embedding_name is one table."""
    from ctr_models.inputs import create_embedding_matrix
    columns = [SparseFeat("a", 8, 4), other]
    with pytest.raises(ValueError, match="same embedding_name.*'a'.*'b'"):
        embedding_model(columns)
    with pytest.raises(ValueError, match="same embedding_name.*'a'.*'b'"):
        create_embedding_matrix(columns, l2_reg=0, seed=1024)


def test_create_embedding_matrix_makes_one_table_per_embedding_name():
    """DeepCTR's helper as fixed in #551: columns sharing an embedding_name share one table,
    named after the embedding_name, masking id 0 when a sequence reads it (0.9.4 made one per
    VarLenSparseFeat, named after the column, and failed on two SparseFeats sharing one)."""
    from ctr_models.inputs import create_embedding_matrix, embedding_lookup
    columns = [SparseFeat("item", 4, 8), SparseFeat("item_copy", 4, 8, embedding_name="item"),
               VarLenSparseFeat(SparseFeat("hist_item", 4, 8, embedding_name="item"), 3),
               VarLenSparseFeat(SparseFeat("neg_hist_item", 4, 8, embedding_name="item"), 3),
               SparseFeat("user", 3, 2), VarLenSparseFeat(SparseFeat("tags", 5, 2), 2)]
    tables = create_embedding_matrix(columns, l2_reg=0, seed=1024)
    assert list(tables) == ["item", "user", "tags"]
    assert [(t.name, t.mask_zero) for t in tables.values()] == [
        ("sparse_emb_item", True), ("sparse_emb_user", False), ("sparse_seq_emb_tags", True)]
    x = {"item": np.array([[1]]), "item_copy": np.array([[1]]), "user": np.array([[2]])}
    item, copy, _ = embedding_lookup(tables, x, columns[:2] + columns[4:5], to_list=True)
    np.testing.assert_array_equal(item.numpy(), copy.numpy())


def test_string_sparse_feat_without_hash_is_refused():
    """As DeepCTR since #551: string ids cannot reach an embedding lookup unconverted."""
    for fc in (SparseFeat("city", 10, dtype="string"),
               VarLenSparseFeat(SparseFeat("tags", 10, dtype=tf.string), 3)):
        with pytest.raises(ValueError, match=f"'{fc.name}'.*dtype='string'.*use_hash=True"):
            build_input_features([DenseFeat("d"), fc])
    # converted in the graph: accepted
    build_input_features([SparseFeat("city", 10, use_hash=True, dtype="string"),
                          SparseFeat("age", 10, vocabulary_path="ages.csv", dtype="string")])


def test_pretrained_frozen_embedding_is_used_and_stays_fixed():
    reset()
    matrix = RNG.standard_normal((6, 4)).astype("float32")
    columns = [SparseFeat("item", 6, 4, embeddings_initializer=keras.initializers.Constant(matrix),
                          trainable=False),
               VarLenSparseFeat(SparseFeat("hist_item", 6, 4, embedding_name="item",
                                           trainable=False), 3),
               SparseFeat("user", 5, 4)]
    features = build_input_features(columns)
    sparse, _ = input_from_feature_columns(features, columns, 1e-5, 1024)
    flat = keras.layers.Flatten()(concat_func(sparse, axis=1))
    out = keras.layers.Dense(1, activation="sigmoid")(flat)
    model = keras.Model(list(features.values()), out)
    lookup = keras.Model(list(features.values()), sparse)
    frozen = [layer for layer in embedding_layers(model) if not layer.trainable]
    assert len(frozen) == 1  # item and hist_item share the one pretrained table
    np.testing.assert_array_equal(frozen[0].embeddings.numpy(), matrix)
    assert all(w is not frozen[0].embeddings for w in model.trainable_weights)
    x = {"item": np.array([[1], [4]], "int32"), "hist_item": np.array([[2, 3, 0], [5, 0, 0]],
                                                                      "int32"),
         "user": np.array([[0], [2]], "int32")}
    item, _, hist = lookup.predict(x, verbose=0)  # DeepCTR's order: SparseFeats, then VarLens
    np.testing.assert_allclose(item[:, 0], matrix[[1, 4]], rtol=1e-6)
    np.testing.assert_allclose(hist[:, 0], [(matrix[2] + matrix[3]) / 2, matrix[5]], rtol=1e-5)
    trainable_before = [w.numpy().copy() for w in model.trainable_weights]
    model.compile(keras.optimizers.SGD(1.0), "binary_crossentropy")
    model.fit(x, np.array([[1.0], [0.0]]), epochs=2, verbose=0)
    np.testing.assert_array_equal(frozen[0].embeddings.numpy(), matrix)
    assert any(not np.allclose(a, w.numpy()) for a, w in zip(trainable_before,
                                                              model.trainable_weights))


# ----------------------------------------------------------------------------- hashing / vocab

def hashed_model(columns):
    features = build_input_features(columns)
    embedded = lookup_embeddings(features, columns, l2_reg=0)
    return keras.Model(list(features.values()), list(embedded.values()))


def test_use_hash_matches_to_hash_bucket_fast_on_every_path(tmp_path):
    columns = [SparseFeat("city", 7, 3, use_hash=True, dtype="string"),
               SparseFeat("zip", 11, 3, use_hash=True),  # int keys are hashed as strings
               VarLenSparseFeat(SparseFeat("tags", 9, 3, use_hash=True, dtype="string"), 4)]
    model = hashed_model(columns)
    (layer,) = embedding_layers(model)
    table = RNG.standard_normal(tuple(layer.embeddings.shape)).astype("float32")
    layer.embeddings.assign(table)
    x = {"city": np.array([["paris"], ["rome"], [""]], dtype=object),
         "zip": np.array([[75001], [0], [12345]], "int32"),
         "tags": np.array([["a", "b", "0", "0"], ["c", "0", "0", "0"], ["0"] * 4], dtype=object)}
    city_ids = tf.strings.to_hash_bucket_fast(x["city"], 7).numpy()
    zip_ids = tf.strings.to_hash_bucket_fast(tf.strings.as_string(x["zip"]), 11).numpy()
    # a sequence keeps 0 for padding ("0"), other keys go to [1, vocabulary_size)
    tag_ids = np.where(x["tags"] == "0", 0,
                       tf.strings.to_hash_bucket_fast(x["tags"], 8).numpy() + 1)
    offsets = dict(zip(layer.table_names, np.cumsum([0] + layer.table_sizes[:-1])))
    expected = [table[city_ids + offsets["city"]], table[zip_ids + offsets["zip"]],
                table[tag_ids + offsets["tags"]]]
    got = model.predict(x, verbose=0)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-6)
    model.save(str(tmp_path / "hashed"))
    reloaded = keras.models.load_model(str(tmp_path / "hashed"), custom_objects)
    for e, g in zip(expected, reloaded.predict(x, verbose=0)):
        np.testing.assert_allclose(g, e, rtol=1e-6)


def test_vocabulary_path_maps_keys_and_unknowns_to_zero(tmp_path):
    path = tmp_path / "age_vocabulary.csv"
    path.write_text("1,1\n2,18\n3,25\n")  # id,key as DeepCTR's movielens_age_vocabulary.csv
    columns = [SparseFeat("age", 4, 2, use_hash=True, vocabulary_path=str(path)),
               SparseFeat("age_str", 4, 2, vocabulary_path=str(path), dtype="string",
                          embedding_name="age")]
    model = hashed_model(columns)
    (layer,) = embedding_layers(model)
    table = RNG.standard_normal((4, 2)).astype("float32")
    layer.embeddings.assign(table)
    x = {"age": np.array([[1], [18], [25], [56]], "int32"),
         "age_str": np.array([["25"], ["18"], ["x"], ["1"]], dtype=object)}
    age, age_str = model.predict(x, verbose=0)
    np.testing.assert_allclose(age[:, 0], table[[1, 2, 3, 0]], rtol=1e-6)
    np.testing.assert_allclose(age_str[:, 0], table[[3, 2, 0, 1]], rtol=1e-6)
    model.save(str(tmp_path / "vocab_model"))
    reloaded = keras.models.load_model(str(tmp_path / "vocab_model"), custom_objects)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0)[0], age, rtol=1e-6)


# ---------------------------------------------------------------------------- lookup variants

def mixed_columns():
    return [SparseFeat("a", 5, 3), SparseFeat("b", 7, 3), SparseFeat("c", 4, 2),
            SparseFeat("b2", 7, 3, embedding_name="b"),
            VarLenSparseFeat(SparseFeat("h", 6, 3), 3, "mean"),
            VarLenSparseFeat(SparseFeat("hb", 7, 3, embedding_name="b"), 2, "max"),
            DenseFeat("d", 2)]


def mixed_data(n=6):
    return {"a": RNG.integers(0, 5, (n, 1)).astype("int32"),
            "b": RNG.integers(0, 7, (n, 1)).astype("int32"),
            "c": RNG.integers(0, 4, (n, 1)).astype("int32"),
            "b2": RNG.integers(0, 7, (n, 1)).astype("int32"),
            "h": np.where(np.arange(3)[None] < RNG.integers(0, 4, (n, 1)),
                          RNG.integers(1, 6, (n, 3)), 0).astype("int32"),
            "hb": np.where(np.arange(2)[None] < RNG.integers(0, 3, (n, 1)),
                           RNG.integers(1, 7, (n, 2)), 0).astype("int32"),
            "d": RNG.random((n, 2)).astype("float32")}


def table_values(model):
    """embedding_name -> the rows of its logical table."""
    tables = {}
    for layer in embedding_layers(model):
        rows = layer.embeddings.numpy()
        offset = 0
        for name, size in zip(layer.table_names, layer.table_sizes):
            tables[name] = rows[offset:offset + size]
            offset += size
    return tables


def set_tables(model, tables):
    for layer in embedding_layers(model):
        layer.embeddings.assign(np.concatenate([tables[n] for n in layer.table_names]))


def test_fuse_true_and_false_give_identical_outputs():
    columns = mixed_columns()
    fused, unfused = embedding_model(columns, fuse=True), embedding_model(columns, fuse=False)
    assert len(embedding_layers(fused)) == 2  # dims 3 and 2
    assert len(embedding_layers(unfused)) == 4  # tables a, b, c, h
    tables = {name: RNG.standard_normal(rows.shape).astype("float32")
              for name, rows in table_values(fused).items()}
    set_tables(fused, tables)
    set_tables(unfused, tables)
    x = mixed_data()
    for f, u in zip(fused.predict(x, verbose=0), unfused.predict(x, verbose=0)):
        np.testing.assert_allclose(f, u, rtol=1e-6)


def test_support_dense_false_raises_naming_the_dense_feature():
    columns = mixed_columns()
    with pytest.raises(ValueError, match="'d'"):
        input_from_feature_columns(build_input_features(columns), columns, 0, 1024,
                                   support_dense=False)


def test_support_group_returns_groups():
    columns = [SparseFeat("a", 5, 3, group_name="x"), SparseFeat("b", 5, 3, group_name="y"),
               SparseFeat("c", 5, 3, group_name="x"), DenseFeat("d")]
    grouped, dense = input_from_feature_columns(build_input_features(columns), columns, 0, 1024,
                                                support_group=True)
    assert list(grouped) == ["x", "y"] and [len(v) for v in grouped.values()] == [2, 1]
    assert len(dense) == 1


def test_get_linear_logit_with_units_matches_numpy():
    columns = mixed_columns()
    features = build_input_features(columns)
    logit = get_linear_logit(features, columns, units=3, use_bias=True)
    model = keras.Model(list(features.values()), logit)
    tables = {name: RNG.standard_normal(rows.shape).astype("float32")
              for name, rows in table_values(model).items()}
    set_tables(model, tables)
    (linear,) = [layer for layer in model.layers if layer.__class__.__name__ == "Linear"]
    kernel, bias = RNG.standard_normal((2, 3)).astype("float32"), np.array([.1, .2, .3], "f")
    linear.kernel.assign(kernel)
    linear.bias.assign(bias)
    x = mixed_data()
    expected = x["d"] @ kernel + bias
    for name in ("a", "b", "c"):
        expected += tables["linear_" + name][x[name][:, 0]]
    expected += tables["linear_b"][x["b2"][:, 0]]
    for b in range(len(expected)):
        h = x["h"][b][x["h"][b] != 0]
        if len(h):
            expected[b] += tables["linear_h"][h].mean(0)
        hb = x["hb"][b][x["hb"][b] != 0]
        if len(hb):
            expected[b] += tables["linear_b"][hb].max(0)
    out = model.predict(x, verbose=0)
    assert out.shape == (6, 3)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_linear_logit_only_dense_and_empty():
    columns = [DenseFeat("d", 2)]
    features = build_input_features(columns)
    model = keras.Model(list(features.values()), get_linear_logit(features, columns, units=2))
    kernel = next(layer for layer in model.layers if type(layer).__name__ == "Linear").kernel
    kernel.assign(np.array([[0.5, -1.0], [2.0, 0.25]], "f"))
    x = np.array([[1, 2], [0, 1], [3, -1]], "f")
    np.testing.assert_allclose(model.predict({"d": x}, verbose=0), x @ kernel.numpy(),
                               rtol=1e-6)
    features = build_input_features(columns)
    empty = keras.Model(list(features.values()), get_linear_logit(features, [], units=2))
    np.testing.assert_array_equal(empty.predict({"d": np.ones((3, 2), "f")}, verbose=0),
                                  np.zeros((3, 2)))


def test_varlen_pooled_with_length_name_and_weight_name():
    columns = [VarLenSparseFeat(SparseFeat("h", 6, 2), 4, "mean", length_name="h_len"),
               VarLenSparseFeat(SparseFeat("w", 6, 2), 4, "sum", weight_name="w_weight"),
               VarLenSparseFeat(SparseFeat("wl", 6, 2, embedding_name="w"), 4, "sum",
                                length_name="wl_len", weight_name="wl_weight",
                                weight_norm=False)]
    model = embedding_model(columns)
    tables = {name: RNG.standard_normal(rows.shape).astype("float32")
              for name, rows in table_values(model).items()}
    set_tables(model, tables)
    n = 5
    ids = RNG.integers(1, 6, (n, 4)).astype("int32")
    lengths = np.array([[4], [2], [0], [1], [3]], "int32")
    valid = np.arange(4)[None] < lengths
    # with length_name the length decides validity, even where ids are non-zero
    padded = np.where(valid, ids, 0).astype("int32")
    weights = RNG.standard_normal((n, 4, 1)).astype("float32")
    x = {"h": ids, "h_len": lengths, "w": padded, "w_weight": weights, "wl": ids,
         "wl_len": lengths, "wl_weight": weights}
    h, w, wl = model.predict(x, verbose=0)
    for b in range(n):
        rows = valid[b]
        exp_h = tables["h"][ids[b][rows]].mean(0) if rows.any() else np.zeros(2)
        np.testing.assert_allclose(h[b, 0], exp_h, rtol=1e-5, atol=1e-6)
        sw = weights[b, rows, 0]
        soft = np.exp(sw - sw.max()) / np.exp(sw - sw.max()).sum() if rows.any() else sw
        exp_w = (tables["w"][ids[b][rows]] * soft[:, None]).sum(0)
        np.testing.assert_allclose(w[b, 0], exp_w, rtol=1e-5, atol=1e-6)
        exp_wl = (tables["w"][ids[b][rows]] * sw[:, None]).sum(0)
        np.testing.assert_allclose(wl[b, 0], exp_wl, rtol=1e-5, atol=1e-6)


def test_model_with_hash_and_transform_in_linear_and_dnn_parts(tmp_path):
    """The same hashed / transformed column in both the linear and the DNN part builds (no layer
    name clash), trains and round-trips."""
    from ctr_models.models import DeepFM
    reset()
    columns = [SparseFeat("s0", 20, 4, use_hash=True), SparseFeat("s1", 20, 4),
               VarLenSparseFeat(SparseFeat("v0", 20, 4, use_hash=True), 4)]
    check_model(DeepFM(columns, columns, dnn_hidden_units=(4,)), columns, tmp_path, epochs=2)
    # transform_fn is a Lambda: its SavedModel reloads; Keras' safe mode refuses rebuilding
    # a Python lambda from JSON, so the harness' model_from_json check is not used here.
    reset()
    columns = [SparseFeat("s0", 20, 4), DenseFeat("d0", 1, transform_fn=lambda t: 2.0 * t)]
    model = DeepFM(columns, columns, dnn_hidden_units=(4,))
    assert {"transform_d0", "linear_transform_d0"} <= {layer.name for layer in model.layers}
    x = {"s0": np.arange(8, dtype="int32").reshape(-1, 1),
         "d0": RNG.random((8, 1)).astype("float32")}
    pred = model.predict(x, verbose=0)
    model.save(str(tmp_path / "transform"))
    reloaded = keras.models.load_model(str(tmp_path / "transform"), custom_objects)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), pred, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- custom_objects

def test_custom_objects_has_every_layer_class():
    for module in layers_pkg._MODULES:
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, keras.layers.Layer)
                    and obj.__module__ == module.__name__ and not name.startswith("_")):
                assert custom_objects.get(name) is obj, f"{module.__name__}.{name}"
    assert custom_objects["LocalActivationUnit"] is layers_pkg.LocalActivationUnit


def test_load_model_with_custom_objects(tmp_path):
    reset()
    columns = [SparseFeat("item", 10, 4),
               VarLenSparseFeat(SparseFeat("hist", 10, 4, embedding_name="item"), 3,
                                length_name="hist_len", weight_name="hist_w"),
               SparseFeat("tag", 10, 4, use_hash=True, dtype="string"), DenseFeat("d", 2)]
    features = build_input_features(columns)
    embedded = lookup_embeddings(features, columns)
    sparse, dense = input_from_feature_columns(features, columns, 1e-5, 1024, prefix="dnn_")
    att = layers_pkg.AttentionSequencePoolingLayer((4,), "dice", True)(
        [embedded["item"], embedded["hist"], features["hist_len"]])
    normed = layers_pkg.LayerNormalization()(concat_func(sparse + [att], axis=1))
    dnn_in = layers_pkg.combined_dnn_input([normed], dense)
    hidden = layers_pkg.DNN((4,), "dice", use_bn=True)(dnn_in)
    logit = keras.layers.Add()([keras.layers.Dense(1)(hidden),
                                get_linear_logit(features, columns)])
    model = keras.Model(list(features.values()), layers_pkg.PredictionLayer()(logit))
    model.compile("adam", "binary_crossentropy")
    x = {"item": RNG.integers(0, 10, (16, 1)).astype("int32"),
         "hist": RNG.integers(0, 10, (16, 3)).astype("int32"),
         "hist_len": RNG.integers(0, 4, (16, 1)).astype("int32"),
         "hist_w": RNG.random((16, 3, 1)).astype("float32"),
         "tag": RNG.choice(["a", "b", "c"], (16, 1)).astype(object),
         "d": RNG.random((16, 2)).astype("float32")}
    model.fit(x, RNG.integers(0, 2, (16, 1)).astype("float32"), epochs=1, verbose=0)
    pred = model.predict(x, verbose=0)
    for path in (str(tmp_path / "saved"), str(tmp_path / "model.h5")):
        model.save(path)
        reloaded = keras.models.load_model(path, custom_objects)
        np.testing.assert_allclose(reloaded.predict(x, verbose=0), pred, rtol=1e-5, atol=1e-6)
