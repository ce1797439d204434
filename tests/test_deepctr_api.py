"""DeepCTR 0.9.4's public module paths and names exist under ctr_models, and the behaviours DeepCTR
code relies on hold: DNN(()) is the identity, Hash returns int64 ids (vocabulary files map unknown
keys to the default), inputs.py's helpers build and look up embeddings, check_version is offline."""
import importlib
import socket

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from layer_testing import assert_config_round_trip, rand

# Public names of DeepCTR 0.9.4 (git tag v0.9.4), module by module: its top-level classes and
# functions, the names its package __init__ files export, and its public constants. Read from
# deepctr/**/*.py; deepctr.contrib (TF1 RNN internals) is not part of the promise.
DEEPCTR_PUBLIC_NAMES = {
    "": ["check_version", "__version__"],
    "utils": ["check_version"],
    "feature_column": ["DEFAULT_GROUP_NAME", "SparseFeat", "VarLenSparseFeat", "DenseFeat",
                       "get_feature_names", "build_input_features", "get_linear_logit",
                       "input_from_feature_columns"],
    "inputs": ["get_inputs_list", "create_embedding_dict", "get_embedding_vec_list",
               "create_embedding_matrix", "embedding_lookup", "varlen_embedding_lookup",
               "get_varlen_pooling_list", "get_dense_input", "mergeDict"],
    "layers": ["Dice", "DNN", "LocalActivationUnit", "PredictionLayer", "RegulationModule", "CIN",
               "FM", "AFMLayer", "BiInteractionPooling", "CrossNet", "CrossNetMix",
               "InnerProductLayer", "InteractingLayer", "OutterProductLayer", "FGCNNLayer",
               "SENETLayer", "BilinearInteraction", "FieldWiseBiInteraction", "FwFMLayer",
               "FEFMLayer", "BridgeModule", "LayerNormalization", "AttentionSequencePoolingLayer",
               "BiasEncoding", "BiLSTM", "KMaxPooling", "SequencePoolingLayer",
               "WeightedSequenceLayer", "Transformer", "DynamicGRU", "PositionEncoding", "NoMask",
               "Hash", "Linear", "combined_dnn_input", "softmax", "reduce_sum", "Concat",
               "custom_objects"],
    "layers.activation": ["Dice", "activation_layer"],
    "layers.core": ["LocalActivationUnit", "DNN", "PredictionLayer", "RegulationModule"],
    "layers.interaction": ["AFMLayer", "BiInteractionPooling", "CIN", "CrossNet", "CrossNetMix",
                           "FM", "InnerProductLayer", "InteractingLayer", "OutterProductLayer",
                           "FGCNNLayer", "SENETLayer", "BilinearInteraction",
                           "FieldWiseBiInteraction", "FwFMLayer", "FEFMLayer", "BridgeModule"],
    "layers.normalization": ["LayerNormalization"],
    "layers.sequence": ["SequencePoolingLayer", "WeightedSequenceLayer",
                        "AttentionSequencePoolingLayer", "BiLSTM", "Transformer",
                        "PositionEncoding", "BiasEncoding", "DynamicGRU", "KMaxPooling"],
    "layers.utils": ["NoMask", "Hash", "Linear", "Concat", "concat_func", "reduce_mean",
                     "reduce_sum", "reduce_max", "div", "softmax", "add_func",
                     "combined_dnn_input"],
    "models": ["AFM", "AutoInt", "CCPM", "DCN", "DCNMix", "DeepFEFM", "DeepFM", "DIFM", "FGCNN",
               "FiBiNET", "FLEN", "FNN", "FwFM", "IFM", "MLR", "SharedBottom", "ESMM", "MMOE",
               "PLE", "NFM", "ONN", "PNN", "DIN", "DIEN", "DSIN", "BST", "WDL", "xDeepFM",
               "EDCN"],
    "models.afm": ["AFM"], "models.autoint": ["AutoInt"], "models.ccpm": ["CCPM"],
    "models.dcn": ["DCN"], "models.dcnmix": ["DCNMix"], "models.deepfefm": ["DeepFEFM"],
    "models.deepfm": ["DeepFM"], "models.difm": ["DIFM"], "models.edcn": ["EDCN"],
    "models.fgcnn": ["FGCNN"], "models.fibinet": ["FiBiNET"], "models.flen": ["FLEN"],
    "models.fnn": ["FNN"], "models.fwfm": ["FwFM"], "models.ifm": ["IFM"], "models.mlr": ["MLR"],
    "models.nfm": ["NFM"], "models.onn": ["ONN"], "models.pnn": ["PNN"], "models.wdl": ["WDL"],
    "models.xdeepfm": ["xDeepFM"],
    "models.multitask": ["ESMM", "MMOE", "PLE", "SharedBottom"],
    "models.multitask.esmm": ["ESMM"], "models.multitask.mmoe": ["MMOE"],
    "models.multitask.ple": ["PLE"], "models.multitask.sharedbottom": ["SharedBottom"],
    "models.sequence": ["BST", "DIEN", "DIN", "DSIN"],
    "models.sequence.bst": ["BST"], "models.sequence.dien": ["DIEN"],
    "models.sequence.din": ["DIN"], "models.sequence.dsin": ["DSIN"],
    "estimator": ["AFMEstimator", "AutoIntEstimator", "CCPMEstimator", "DCNEstimator",
                  "DeepFMEstimator", "FwFMEstimator", "FiBiNETEstimator", "FNNEstimator",
                  "NFMEstimator", "PNNEstimator", "WDLEstimator", "xDeepFMEstimator",
                  "DeepFEFMEstimator"],
    "estimator.models": ["AFMEstimator", "AutoIntEstimator", "CCPMEstimator", "DCNEstimator",
                         "DeepFMEstimator", "FwFMEstimator", "FiBiNETEstimator", "FNNEstimator",
                         "NFMEstimator", "PNNEstimator", "WDLEstimator", "xDeepFMEstimator",
                         "DeepFEFMEstimator"],
    "estimator.models.afm": ["AFMEstimator"], "estimator.models.autoint": ["AutoIntEstimator"],
    "estimator.models.ccpm": ["CCPMEstimator"], "estimator.models.dcn": ["DCNEstimator"],
    "estimator.models.deepfefm": ["DeepFEFMEstimator"],
    "estimator.models.deepfm": ["DeepFMEstimator"],
    "estimator.models.fibinet": ["FiBiNETEstimator"], "estimator.models.fnn": ["FNNEstimator"],
    "estimator.models.fwfm": ["FwFMEstimator"], "estimator.models.nfm": ["NFMEstimator"],
    "estimator.models.pnn": ["PNNEstimator"], "estimator.models.wdl": ["WDLEstimator"],
    "estimator.models.xdeepfm": ["xDeepFMEstimator"],
    "estimator.inputs": ["input_fn_pandas", "input_fn_tfrecord"],
    "estimator.feature_column": ["linear_model", "get_linear_logit", "input_from_feature_columns",
                                 "is_embedding"],
    "estimator.utils": ["LINEAR_SCOPE_NAME", "DNN_SCOPE_NAME"],
}

# Public in DeepCTR's files but deliberately not mirrored (see README "Coming from DeepCTR"):
# model-internal helpers that take DeepCTR's internal tensors, and the TF1 graph/Estimator
# plumbing of estimator/utils.py, which needs tf.estimator (gone in TF 2.16).
NOT_MIRRORED = {
    "models.fgcnn": ["unstack"],
    "models.mlr": ["get_region_score", "get_learner_score"],
    "models.onn": ["feature_embedding"],
    "models.sequence.dien": ["auxiliary_loss", "interest_evolution"],
    "models.sequence.dsin": ["sess_interest_division", "sess_interest_extractor"],
    "estimator.utils": ["Head", "deepctr_model_fn", "get_train_op_fn", "variable_scope",
                        "get_collection", "get_GraphKeys", "get_losses", "input_layer",
                        "get_metrics", "to_float", "summary_scalar"],
}


@pytest.mark.parametrize("module", sorted(DEEPCTR_PUBLIC_NAMES))
def test_deepctr_names_importable_from_the_same_path(module):
    mod = importlib.import_module("ctr_models" + ("." + module if module else ""))
    missing = [name for name in DEEPCTR_PUBLIC_NAMES[module] if not hasattr(mod, name)]
    assert not missing, f"ctr_models.{module} lacks DeepCTR names {missing}"


def test_reexported_layers_are_the_same_objects():
    from ctr_models.layers import core, field_interaction, interaction, pooling, sequence
    assert core.LocalActivationUnit is sequence.LocalActivationUnit
    assert core.RegulationModule is field_interaction.RegulationModule
    assert interaction.BridgeModule is field_interaction.BridgeModule
    assert sequence.KMaxPooling is pooling.KMaxPooling
    with pytest.raises(AttributeError):
        core.NotALayer  # noqa: B018


def test_layers_custom_objects_cover_deepctr_layer_classes():
    from ctr_models.layers import custom_objects
    for name in ["Concat", "_Add", "Hash", "KMaxPooling", "DNN", "BridgeModule"]:
        assert name in custom_objects


# ----------------------------------------------------------------------------- DNN


def test_dnn_with_no_hidden_units_is_the_identity():
    from ctr_models.layers import DNN
    x = rand(4, 3, 5)
    layer = DNN(())
    np.testing.assert_array_equal(layer(x, training=True).numpy(), x)
    assert layer.compute_output_shape((None, 3, 5)) == (None, 3, 5)
    assert not layer.trainable_weights
    assert_config_round_trip(layer, x)
    # inside a functional model, saved and reloaded
    inp = keras.Input((5,))
    model = keras.Model(inp, DNN([])(inp))
    np.testing.assert_array_equal(model.predict(x[:, 0], verbose=0), x[:, 0])


# ----------------------------------------------------------------------------- Hash


def test_hash_returns_int64_fingerprint_buckets():
    from ctr_models.layers import Hash
    keys = tf.constant([["a"], ["b"], ["0"], [""]])
    ids = Hash(10)(keys)
    assert ids.dtype == tf.int64
    np.testing.assert_array_equal(ids.numpy(), tf.strings.to_hash_bucket_fast(keys, 10).numpy())
    masked = Hash(10, mask_zero=True)(keys).numpy()
    np.testing.assert_array_equal(
        masked[:2], tf.strings.to_hash_bucket_fast(keys[:2], 9).numpy() + 1)
    np.testing.assert_array_equal(masked[2:], [[0], [0]])


@pytest.mark.parametrize("dtype", [tf.int32, tf.int64, tf.float32])
def test_hash_mask_zero_on_numeric_keys(dtype):
    from ctr_models.layers import Hash
    keys = tf.constant([[0, 3], [5, 0]], dtype=dtype)
    ids = Hash(7, mask_zero=True)(keys).numpy()
    assert ids.dtype == np.int64
    assert ids[0, 0] == 0 and ids[1, 1] == 0
    expected = tf.strings.to_hash_bucket_fast(tf.strings.as_string(keys), 6).numpy() + 1
    assert ids[0, 1] == expected[0, 1] and ids[1, 0] == expected[1, 0]


def test_hash_vocabulary_file_maps_keys_and_unknowns_to_default(tmp_path):
    from ctr_models.layers import Hash
    path = tmp_path / "age_vocabulary.csv"
    path.write_text("1,emerson\n2,lake\n3,palmer\n")
    keys = tf.constant([["lake"], ["palmer"], ["lakeemerson"], [""]])
    ids = Hash(4, vocabulary_path=str(path))(keys)
    assert ids.dtype == tf.int64
    np.testing.assert_array_equal(ids.numpy(), [[2], [3], [0], [0]])
    ids = Hash(4, vocabulary_path=str(path), default_value=-1)(keys)
    np.testing.assert_array_equal(ids.numpy(), [[2], [3], [-1], [-1]])
    # numbers are looked up by their string form
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("1,18\n2,25\n")
    np.testing.assert_array_equal(
        Hash(3, vocabulary_path=str(numbers))(tf.constant([[25], [18], [99]])).numpy(),
        [[2], [1], [0]])


def test_sparse_feat_vocabulary_path_trains_in_a_model(tmp_path):
    from ctr_models.feature_column import SparseFeat, get_feature_names
    from ctr_models.models import WDL
    path = tmp_path / "vocab.csv"
    path.write_text("1,a\n2,b\n")
    columns = [SparseFeat("k", 3, embedding_dim=2, use_hash=True, vocabulary_path=str(path),
                          dtype="string")]
    model = WDL(columns, columns, dnn_hidden_units=(4,))
    model.compile("adam", "binary_crossentropy")
    x = {name: np.array(["a", "b", "zzz", "a"]) for name in get_feature_names(columns)}
    model.fit(x, np.array([1, 0, 0, 1]), epochs=1, verbose=0)
    assert model.predict(x, verbose=0).shape == (4, 1)


# ----------------------------------------------------------------------------- layers.utils


def test_layer_utils_helpers_match_numpy():
    from ctr_models.layers.utils import (Concat, add_func, div, reduce_max, reduce_mean,
                                         reduce_sum, softmax)
    a, b = rand(2, 3), rand(2, 3, seed=1)
    np.testing.assert_allclose(add_func([a, b]).numpy(), a + b, rtol=1e-6)
    assert add_func(a) is a and add_func([a]) is a
    np.testing.assert_allclose(Concat(axis=1)([a, b]).numpy(), np.concatenate([a, b], 1))
    np.testing.assert_allclose(reduce_mean(a, axis=1, keep_dims=True).numpy(),
                               a.mean(1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(reduce_max(a, reduction_indices=0).numpy(), a.max(0))
    np.testing.assert_allclose(reduce_sum(a, 1).numpy(), a.sum(1), rtol=1e-6)
    np.testing.assert_allclose(div(a, b).numpy(), a / b, rtol=1e-6)
    e = np.exp(a - a.max(-1, keepdims=True))
    np.testing.assert_allclose(softmax(a).numpy(), e / e.sum(-1, keepdims=True), rtol=1e-5)


def test_concat_combines_masks():
    from ctr_models.layers.utils import Concat
    x = keras.layers.Embedding(5, 2, mask_zero=True)(tf.constant([[1, 0]]))
    y = rand(1, 2, 3)
    mask = Concat(axis=-1).compute_mask([x, y], [x._keras_mask, None])
    np.testing.assert_array_equal(mask.numpy(), [[True, False]])
    assert Concat(axis=-1, supports_masking=False).compute_mask([x, y]) is None


# ----------------------------------------------------------------------------- inputs.py helpers


def test_inputs_helpers_build_tables_and_look_up_like_deepctr():
    from ctr_models.feature_column import (DenseFeat, SparseFeat, VarLenSparseFeat,
                                           build_input_features)
    from ctr_models.inputs import (create_embedding_matrix, embedding_lookup, get_dense_input,
                                   get_embedding_vec_list, get_inputs_list,
                                   get_varlen_pooling_list, mergeDict, varlen_embedding_lookup)
    columns = [SparseFeat("item", 5, 3), SparseFeat("user", 4, 2, group_name="u"),
               VarLenSparseFeat(SparseFeat("hist_item", 5, 3, embedding_name="item"), maxlen=3,
                                combiner="mean"),
               DenseFeat("price", 1)]
    tables = create_embedding_matrix(columns, l2_reg=1e-5, seed=7, prefix="p_")
    assert sorted(tables) == ["item", "user"]
    features = {"item": np.array([[1], [4]]), "user": np.array([[0], [3]]),
                "hist_item": np.array([[1, 2, 0], [3, 0, 0]]),
                "price": np.array([[0.5], [2.0]], np.float32)}
    sparse = [c for c in columns if isinstance(c, SparseFeat)]
    grouped = embedding_lookup(tables, features, sparse)
    assert list(grouped) == ["default_group", "u"]
    item_table = tables["item"].embeddings.numpy()
    np.testing.assert_allclose(grouped["default_group"][0].numpy()[:, 0], item_table[[1, 4]])
    assert len(embedding_lookup(tables, features, sparse, return_feat_list=["user"],
                                to_list=True)) == 1
    varlen = [c for c in columns if isinstance(c, VarLenSparseFeat)]
    seq = varlen_embedding_lookup(tables, features, varlen)
    pooled = get_varlen_pooling_list(seq, features, varlen)["default_group"][0].numpy()
    np.testing.assert_allclose(pooled[:, 0], [item_table[[1, 2]].mean(0), item_table[3]],
                               rtol=1e-5, atol=1e-6)
    # get_embedding_vec_list indexes the dict by feature name (as DeepCTR)
    vecs = get_embedding_vec_list(tables, features, sparse, return_feat_list=["user"])
    np.testing.assert_allclose(vecs[0].numpy()[:, 0], tables["user"].embeddings.numpy()[[0, 3]])
    np.testing.assert_allclose(get_dense_input(features, columns)[0], features["price"])
    merged = mergeDict({"a": [1]}, {"a": [2], "b": [3]})
    assert dict(merged) == {"a": [1, 2], "b": [3]}
    inputs = build_input_features(columns)
    assert get_inputs_list([inputs, None]) == list(inputs.values())


def test_feature_column_module_exposes_input_functions():
    from ctr_models import feature_column, inputs
    assert feature_column.get_linear_logit is inputs.get_linear_logit
    assert feature_column.input_from_feature_columns is inputs.input_from_feature_columns


# ----------------------------------------------------------------------------- utils


def test_check_version_is_offline(monkeypatch, caplog):
    import ctr_models
    from ctr_models.utils import check_version

    def no_network(*args, **kwargs):
        raise AssertionError("check_version opened a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert ctr_models.check_version is check_version
    assert check_version(ctr_models.__version__) is True
    with caplog.at_level("WARNING", logger="ctr_models.utils"):
        assert check_version("0.0.1") is False
    assert "installed version" in caplog.text
