"""WDL, FNN, NFM, AFM, DCN, DCNMix, xDeepFM, PNN, CCPM: DeepCTR 0.9.4 signatures, training and
round trips (model_harness.check_model), documented options, and impossible configurations."""
import inspect

import numpy as np
import pytest
import tf_keras as keras

from ctr_models.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat, get_feature_names
from ctr_models.layers import custom_objects
from ctr_models.models import (AFM, CCPM, DCN, FNN, NFM, PNN, WDL, DCNMix, get_model_fn,
                               xDeepFM)
from model_harness import check_model, feature_columns, planted_data, reset

SMALL = (8,)


def no_dense(columns):
    return [fc for fc in columns if not isinstance(fc, DenseFeat)]


def layer_names(model):
    return [type(layer).__name__ for layer in model.layers]


def quick_check(model, columns, task="binary"):
    """Cheaper than check_model for option variants: trains 2 epochs (loss must drop) and checks
    that a JSON-config clone with the same weights predicts the same."""
    x, y = planted_data(columns, n=1024, task=task)
    x = {k: x[k] for k in get_feature_names(columns)}
    model.compile(keras.optimizers.Adam(0.01),
                  "binary_crossentropy" if task == "binary" else "mse")
    losses = model.fit(x, y, batch_size=256, epochs=2, verbose=0).history["loss"]
    assert losses[-1] < losses[0], losses
    pred = model.predict(x, batch_size=1024, verbose=0)
    assert pred.shape == (len(y), 1) and np.all(np.isfinite(pred))
    clone = keras.models.model_from_json(model.to_json(), custom_objects)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, batch_size=1024, verbose=0), pred,
                               rtol=1e-5, atol=1e-6)


def smoke_predict(model, columns, n=64):
    """Cheapest check of a built variant: it predicts finite values of the right shape."""
    x, _ = planted_data(columns, n=n)
    pred = model.predict({k: x[k] for k in get_feature_names(columns)}, batch_size=n, verbose=0)
    assert pred.shape == (n, 1) and np.all(np.isfinite(pred))


# --- DeepCTR 0.9.4 signatures ---------------------------------------------------------------

SIGNATURES = {
    "WDL": "linear_feature_columns, dnn_feature_columns, dnn_hidden_units=(256, 128, 64), "
           "l2_reg_linear=1e-05, l2_reg_embedding=1e-05, l2_reg_dnn=0, seed=1024, dnn_dropout=0, "
           "dnn_activation='relu', task='binary'",
    "FNN": "linear_feature_columns, dnn_feature_columns, dnn_hidden_units=(256, 128, 64), "
           "l2_reg_embedding=1e-05, l2_reg_linear=1e-05, l2_reg_dnn=0, seed=1024, dnn_dropout=0, "
           "dnn_activation='relu', task='binary'",
    "NFM": "linear_feature_columns, dnn_feature_columns, dnn_hidden_units=(256, 128, 64), "
           "l2_reg_embedding=1e-05, l2_reg_linear=1e-05, l2_reg_dnn=0, seed=1024, bi_dropout=0, "
           "dnn_dropout=0, dnn_activation='relu', task='binary'",
    "AFM": "linear_feature_columns, dnn_feature_columns, fm_group='default_group', "
           "use_attention=True, attention_factor=8, l2_reg_linear=1e-05, l2_reg_embedding=1e-05, "
           "l2_reg_att=1e-05, afm_dropout=0, seed=1024, task='binary'",
    "DCN": "linear_feature_columns, dnn_feature_columns, cross_num=2, "
           "cross_parameterization='vector', dnn_hidden_units=(256, 128, 64), l2_reg_linear=1e-05, "
           "l2_reg_embedding=1e-05, l2_reg_cross=1e-05, l2_reg_dnn=0, seed=1024, dnn_dropout=0, "
           "dnn_use_bn=False, dnn_activation='relu', task='binary'",
    "DCNMix": "linear_feature_columns, dnn_feature_columns, cross_num=2, "
              "dnn_hidden_units=(256, 128, 64), l2_reg_linear=1e-05, l2_reg_embedding=1e-05, "
              "low_rank=32, num_experts=4, l2_reg_cross=1e-05, l2_reg_dnn=0, seed=1024, "
              "dnn_dropout=0, dnn_use_bn=False, dnn_activation='relu', task='binary'",
    "xDeepFM": "linear_feature_columns, dnn_feature_columns, dnn_hidden_units=(256, 128, 64), "
               "cin_layer_size=(128, 128), cin_split_half=True, cin_activation='relu', "
               "l2_reg_linear=1e-05, l2_reg_embedding=1e-05, l2_reg_dnn=0, l2_reg_cin=0, "
               "seed=1024, dnn_dropout=0, dnn_activation='relu', dnn_use_bn=False, task='binary'",
    "PNN": "dnn_feature_columns, dnn_hidden_units=(256, 128, 64), l2_reg_embedding=1e-05, "
           "l2_reg_dnn=0, seed=1024, dnn_dropout=0, dnn_activation='relu', use_inner=True, "
           "use_outter=False, kernel_type='mat', task='binary'",
    "CCPM": "linear_feature_columns, dnn_feature_columns, conv_kernel_width=(6, 5), "
            "conv_filters=(4, 4), dnn_hidden_units=(128, 64), l2_reg_linear=1e-05, "
            "l2_reg_embedding=1e-05, l2_reg_dnn=0, dnn_dropout=0, seed=1024, task='binary'",
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_signature_matches_deepctr(name):
    assert str(inspect.signature(get_model_fn(name))) == f"({SIGNATURES[name]})"


# --- every model: train, SavedModel and weights round trips ---------------------------------

def _full_cases():
    lin, dnn = feature_columns()
    sparse_only = no_dense(dnn)
    return {
        "WDL": (lambda: WDL(lin, dnn, dnn_hidden_units=SMALL), lin, "binary"),
        "FNN": (lambda: FNN(lin, dnn, dnn_hidden_units=(16, 8)), lin, "regression"),
        "NFM": (lambda: NFM(lin, dnn, dnn_hidden_units=SMALL, bi_dropout=0.1), lin, "binary"),
        "AFM": (lambda: AFM(lin, sparse_only, attention_factor=4, afm_dropout=0.1), lin,
                "binary"),
        "DCN": (lambda: DCN(lin, dnn, cross_num=2, cross_parameterization="matrix",
                            dnn_hidden_units=SMALL), lin, "regression"),
        "DCNMix": (lambda: DCNMix(lin, dnn, dnn_hidden_units=SMALL, low_rank=4, num_experts=2),
                   lin, "binary"),
        "xDeepFM": (lambda: xDeepFM(lin, dnn, dnn_hidden_units=SMALL, cin_layer_size=(4, 4)),
                    lin, "binary"),
        "PNN": (lambda: PNN(dnn, dnn_hidden_units=SMALL, use_outter=True, kernel_type="vec"),
                dnn, "binary"),
        "CCPM": (lambda: CCPM(lin, sparse_only, conv_kernel_width=(3, 2), conv_filters=(2, 2),
                              dnn_hidden_units=SMALL), lin, "regression"),
    }


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_model_trains_and_round_trips(tmp_path, name):
    reset()
    build, columns, task = _full_cases()[name]
    model = build()
    assert model.name == name
    check_model(model, columns, tmp_path, task=task)


# --- documented options (full training of the default variants is above; here the variants
# are built and predicted, and the ones with their own maths are also trained) ---------------

def test_wdl_without_hidden_layers_keeps_a_deep_logit():
    reset()
    lin, dnn = feature_columns()
    model = WDL(lin, dnn, dnn_hidden_units=())
    # as DeepCTR: no hidden layer, but Dense(1) over the embeddings and dense values remains
    assert "DNN" not in layer_names(model) and "Linear" in layer_names(model)
    assert "Dense" in layer_names(model)
    smoke_predict(model, lin)


def test_fnn_has_no_linear_logit_as_deepctr_since_555():
    reset()
    lin, dnn = feature_columns()
    extra = SparseFeat("linear_only", 20, embedding_dim=4)
    model = FNN(lin + [extra], dnn, dnn_hidden_units=SMALL)
    assert "linear_only" in model.input_names  # kept as an input: the input names do not change
    assert "Linear" not in layer_names(model)
    assert not [w.name for w in model.weights if w.name.startswith("linear")]
    # every weight random (the old linear tables started at 0): the linear-only input feeds nothing
    model.set_weights([np.random.RandomState(i).normal(0, 0.5, w.shape)
                       for i, w in enumerate(model.get_weights())])
    x, _ = planted_data(lin + [extra], n=16)
    x = {k: x[k] for k in model.input_names}
    moved = {**x, "linear_only": (x["linear_only"] + 7) % 20}
    np.testing.assert_array_equal(model.predict(moved, verbose=0), model.predict(x, verbose=0))


def test_weights_of_the_0_9_4_fnn_restore_into_wdl(tmp_path):
    """FNN's docstring: the old FNN (linear + deep logit, the layout linear_deep_model builds)
    saved its weights in WDL's layout, so WDL built with the same arguments restores them."""
    import tensorflow as tf
    from ctr_models.models.base import linear_deep_model
    reset()
    lin, dnn = feature_columns()
    args = (lin, dnn, SMALL, 1e-5, 1e-5, 0, 1024, 0, "relu", "binary")
    old_fnn = linear_deep_model("FNN", *args)
    old_fnn.set_weights([np.random.RandomState(i).normal(0, 0.5, w.shape)
                         for i, w in enumerate(old_fnn.get_weights())])
    path = tf.train.Checkpoint(model=old_fnn).write(str(tmp_path / "old_fnn"))
    wdl = WDL(lin, dnn, dnn_hidden_units=SMALL)
    tf.train.Checkpoint(model=wdl).read(path).assert_consumed()
    x, _ = planted_data(lin, n=16)
    x = {k: x[k] for k in old_fnn.input_names}
    np.testing.assert_allclose(wdl.predict(x, verbose=0), old_fnn.predict(x, verbose=0),
                               rtol=0, atol=1e-6)
    status = tf.train.Checkpoint(model=FNN(lin, dnn, dnn_hidden_units=SMALL)).read(path)
    with pytest.raises(AssertionError):  # the new FNN has no place for the linear weights
        status.assert_consumed()
    status.expect_partial()  # (silences the checkpoint's warnings about them at exit)


def test_nfm0_projects_the_bi_interaction_directly():
    reset()
    lin, dnn = feature_columns()
    model = NFM(lin, dnn, dnn_hidden_units=(), task="regression")
    assert "DNN" not in layer_names(model) and "BiInteractionPooling" in layer_names(model)
    smoke_predict(model, lin)


def test_afm_without_attention_is_fm_and_groups_are_exact_names():
    reset()
    lin, _ = feature_columns(sparse=4, varlen=0, group_names=["a", "a", "ab", "ab"])
    model = AFM(lin, no_dense(lin), fm_group=["a", "ab"], use_attention=False)
    assert layer_names(model).count("FM") == 2 and "AFMLayer" not in layer_names(model)
    quick_check(model, lin)
    # a string fm_group names one group exactly: "a" must not also select "ab"
    model = AFM(lin, no_dense(lin), fm_group="a")
    assert layer_names(model).count("AFMLayer") == 1


@pytest.mark.parametrize("parameterization", ["vector", "matrix"])
def test_dcn_parameterization_sets_kernel_shape(parameterization):
    reset()
    lin, dnn = feature_columns()
    model = DCN(lin, dnn, cross_parameterization=parameterization, dnn_hidden_units=SMALL)
    (cross,) = [layer for layer in model.layers if type(layer).__name__ == "CrossNet"]
    d = cross.kernels[0].shape[0]
    assert cross.kernels[0].shape == ((d, 1) if parameterization == "vector" else (d, d))


def test_dcn_cross_only_trains():
    reset()
    lin, dnn = feature_columns()
    model = DCN(lin, dnn, cross_num=3, dnn_hidden_units=())
    assert "DNN" not in layer_names(model)
    quick_check(model, lin)


@pytest.mark.parametrize("model_fn", [DCN, DCNMix])
def test_dcn_cross_only_and_deep_only(model_fn):
    reset()
    lin, dnn = feature_columns()
    extra = {"low_rank": 4, "num_experts": 2} if model_fn is DCNMix else {}
    cross_only = model_fn(lin, dnn, cross_num=2, dnn_hidden_units=(), **extra)
    assert "DNN" not in layer_names(cross_only)
    smoke_predict(cross_only, lin)
    deep_only = model_fn(lin, dnn, cross_num=0, dnn_hidden_units=SMALL, **extra)
    assert not {"CrossNet", "CrossNetMix"} & set(layer_names(deep_only))
    smoke_predict(deep_only, lin)


def test_dcn_mixed_dims_and_linear_only_columns():
    """Embeddings are flattened, so dims may differ; a linear-only column is a model input
    (DeepCTR built DCN's inputs from the dnn columns only)."""
    reset()
    cols = [SparseFeat("s0", 20, 4), SparseFeat("s1", 20, 8), DenseFeat("d0", 1)]
    wide = cols + [SparseFeat("w", 20, 4)]
    model = DCN(wide, cols, dnn_hidden_units=SMALL)
    assert "w" in model.input_names
    smoke_predict(model, wide)


def test_xdeepfm_without_cin_allows_unequal_dims():
    reset()
    cols = [SparseFeat("s0", 20, 4), SparseFeat("s1", 20, 6), DenseFeat("d0", 1)]
    model = xDeepFM(cols, cols, dnn_hidden_units=SMALL, cin_layer_size=())
    assert "CIN" not in layer_names(model)
    smoke_predict(model, cols)


def test_xdeepfm_cin_only_without_split_half():
    reset()
    lin, dnn = feature_columns()
    model = xDeepFM(lin, dnn, dnn_hidden_units=(), cin_layer_size=(3, 2), cin_split_half=False,
                    task="regression")
    assert "DNN" not in layer_names(model)
    (cin,) = [layer for layer in model.layers if type(layer).__name__ == "CIN"]
    assert cin.output.shape[-1] == 3 + 2
    quick_check(model, lin, task="regression")


@pytest.mark.parametrize("use_inner,use_outter,kernel_type", [
    (True, False, "mat"), (False, True, "mat"), (True, True, "num"), (False, False, "vec")])
def test_pnn_builds_only_enabled_products(use_inner, use_outter, kernel_type):
    reset()
    _, dnn = feature_columns()
    model = PNN(dnn, dnn_hidden_units=SMALL, use_inner=use_inner, use_outter=use_outter,
                kernel_type=kernel_type)
    names = layer_names(model)
    assert ("InnerProductLayer" in names) == use_inner
    assert ("OutterProductLayer" in names) == use_outter
    smoke_predict(model, dnn)


def test_pnn_outer_mat_trains():
    reset()
    _, dnn = feature_columns()
    quick_check(PNN(dnn, dnn_hidden_units=SMALL, use_inner=False, use_outter=True), dnn)


def test_pnn_without_products_needs_neither_equal_dims_nor_two_fields():
    """With both products off, PNN builds from unequal dims or a single sparse field, and its DNN
    reads exactly [embedding of each field, dense values] (checked against the tables); the same
    columns with a product enabled are refused."""
    unequal = [SparseFeat("s0", 20, 4), SparseFeat("s1", 20, 6)]
    single = [SparseFeat("s0", 20, 4), DenseFeat("d0", 1)]
    for columns in (unequal, single):
        reset()
        model = PNN(columns, dnn_hidden_units=SMALL, use_inner=False)
        names = layer_names(model)
        assert "InnerProductLayer" not in names and "OutterProductLayer" not in names
        x, _ = planted_data(columns, n=16)
        x = {k: x[k] for k in get_feature_names(columns)}
        dnn = next(layer for layer in model.layers if type(layer).__name__ == "DNN")
        dnn_input = keras.Model(model.inputs, dnn.input).predict(x, verbose=0)
        tables = {layer.embedding_dim: layer.get_weights()[0] for layer in model.layers
                  if type(layer).__name__ == "FusedEmbedding"}  # one table per dim here
        expected = np.concatenate(
            [tables[fc.embedding_dim][x[fc.name][:, 0]] if isinstance(fc, SparseFeat)
             else x[fc.name] for fc in columns], axis=1)
        np.testing.assert_allclose(dnn_input, expected, rtol=1e-6, atol=1e-7)
        smoke_predict(model, columns)
        with pytest.raises(ValueError, match="embedding_dim|at least 2 sparse fields"):
            PNN(columns, dnn_hidden_units=SMALL, use_inner=True)


@pytest.mark.parametrize("widths,filters,ks", [
    ((3,), (2,), [3]),             # a single layer keeps 3 rows
    ((3, 3, 2), (2, 3, 2), [4, 1, 1]),  # k_i = (1 - (i/l)^(l-i)) * n, the last capped
    ((), (), [])])
def test_ccpm_conv_depths(widths, filters, ks):
    reset()
    lin, _ = feature_columns(sparse=4, varlen=1)  # n = 5 fields
    model = CCPM(lin, no_dense(lin), conv_kernel_width=widths, conv_filters=filters,
                 dnn_hidden_units=SMALL)
    pools = [layer for layer in model.layers if type(layer).__name__ == "KMaxPooling"]
    assert [pool.k for pool in pools] == ks
    smoke_predict(model, lin)


# --- impossible configurations ---------------------------------------------------------------

UNEQUAL = [SparseFeat("a", 10, embedding_dim=4), SparseFeat("b", 10, embedding_dim=8)]
ONE_FIELD = [SparseFeat("a", 10, embedding_dim=4), DenseFeat("d", 1)]
WITH_DENSE = [SparseFeat("a", 10, 4), SparseFeat("b", 10, 4), DenseFeat("dense_x", 1)]


@pytest.mark.parametrize("build,match", [
    (lambda: PNN(ONE_FIELD), "at least 2 sparse fields"),
    (lambda: PNN(UNEQUAL, use_inner=False, use_outter=True), r"dim 4: \['a'\]; dim 8: \['b'\]"),
    (lambda: PNN(UNEQUAL[:1] * 2, kernel_type="matrix"), "kernel_type"),
    (lambda: AFM(ONE_FIELD, ONE_FIELD[:1]), "at least 2 sparse fields"),
    (lambda: AFM(UNEQUAL, UNEQUAL), "dim 4"),
    (lambda: AFM(WITH_DENSE, WITH_DENSE), "DenseFeat.*dense_x"),
    (lambda: AFM(WITH_DENSE, WITH_DENSE[:2], fm_group="other"), "'other'"),
    (lambda: DCN(WITH_DENSE, WITH_DENSE, cross_num=0, dnn_hidden_units=()), "cross_num"),
    (lambda: DCN(WITH_DENSE, WITH_DENSE, cross_parameterization="diag"),
     "cross_parameterization"),
    (lambda: DCNMix(WITH_DENSE, WITH_DENSE, cross_num=0, dnn_hidden_units=()), "cross_num"),
    (lambda: DCNMix(WITH_DENSE, WITH_DENSE, num_experts=0), "num_experts"),
    (lambda: CCPM(WITH_DENSE, WITH_DENSE[:2], conv_kernel_width=(2, 2), conv_filters=(2,)),
     "equal length"),
    (lambda: CCPM(WITH_DENSE, WITH_DENSE), "DenseFeat.*dense_x"),
    (lambda: CCPM(UNEQUAL, UNEQUAL), "dim 4"),
    (lambda: xDeepFM(UNEQUAL, UNEQUAL), "cin_layer_size=()"),
    (lambda: xDeepFM(WITH_DENSE, WITH_DENSE, cin_layer_size=(3, 2)), "even"),
    (lambda: NFM(UNEQUAL, UNEQUAL), "Bi-Interaction"),
    (lambda: WDL(WITH_DENSE, WITH_DENSE, task="multiclass"), "task"),
])
def test_impossible_configurations_raise(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_varlen_fields_count_as_fields():
    """A VarLenSparseFeat is one (pooled) field for the pairwise layers."""
    reset()
    cols = [SparseFeat("a", 10, 4),
            VarLenSparseFeat(SparseFeat("v", 10, 4), maxlen=3, combiner="sum")]
    model = PNN(cols, dnn_hidden_units=SMALL, use_outter=True)
    (outer,) = [layer for layer in model.layers if type(layer).__name__ == "OutterProductLayer"]
    assert outer.output.shape[-1] == 1
