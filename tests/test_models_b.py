"""AutoInt, FGCNN, FiBiNET, FLEN, FwFM, DeepFEFM, EDCN, IFM, DIFM, ONN and MLR: each trains on
planted data and survives SavedModel / weights round trips (check_model); documented options
are built, trained briefly and JSON-round-tripped (quick_check); impossible configurations
raise ValueError at build time."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from ctr_models.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat, get_feature_names
from ctr_models.layers import custom_objects
from ctr_models.models import (MLR, ONN, AutoInt, DeepFEFM, DIFM, EDCN, FGCNN, FiBiNET, FLEN,
                               FwFM, IFM)
from model_harness import check_model, feature_columns, planted_data, reset

SMALL_FGCNN = dict(conv_kernel_width=(3, 2), conv_filters=(2, 2), new_maps=(2, 1),
                   pooling_width=(2, 2))


def quick_check(model, columns, task="binary"):
    """Eager checks of one configuration (no training, so a whole option matrix stays fast):
    finite outputs of the right shape and range, every trainable weight gets a gradient, and
    the JSON config + weights rebuild gives the same output."""
    x, y = planted_data(columns, n=64, task=task)
    x = {k: tf.constant(x[k]) for k in get_feature_names(columns)}
    loss_fn = (keras.losses.BinaryCrossentropy() if task == "binary"
               else keras.losses.MeanSquaredError())
    with tf.GradientTape() as tape:
        pred = model(x, training=True)
        loss = loss_fn(y, pred) + tf.add_n(model.losses or [tf.constant(0.0)])
    missing = [w.name for w, g in zip(model.trainable_weights,
                                      tape.gradient(loss, model.trainable_weights))
               if g is None]
    assert not missing, f"weights without gradient: {missing}"
    pred = model(x, training=False).numpy()
    assert pred.shape == (64, 1) and np.all(np.isfinite(pred))
    if task == "binary":
        assert np.all((pred >= 0) & (pred <= 1))
    clone = keras.models.model_from_json(model.to_json(), custom_objects)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x, training=False).numpy(), pred, rtol=1e-5, atol=1e-6)
    return model


def sparse_only(columns):
    return [fc for fc in columns if not isinstance(fc, DenseFeat)]


def layer_names(model):
    return [layer.__class__.__name__ for layer in model.layers]


# ---------------------------------------------------------------- every model: full check

MODELS = {
    "AutoInt": lambda lin, dnn, task: AutoInt(lin, dnn, att_layer_num=1, att_embedding_size=4,
                                              att_head_num=2, dnn_hidden_units=(8,), task=task),
    "FGCNN": lambda lin, dnn, task: FGCNN(lin, dnn, conv_kernel_width=(3,), conv_filters=(2,),
                                          new_maps=(2,), pooling_width=(2,),
                                          dnn_hidden_units=(8,), task=task),
    "FiBiNET": lambda lin, dnn, task: FiBiNET(lin, dnn, dnn_hidden_units=(8,), task=task),
    "FwFM": lambda lin, dnn, task: FwFM(lin, dnn, dnn_hidden_units=(8,), task=task),
    "DeepFEFM": lambda lin, dnn, task: DeepFEFM(lin, dnn, dnn_hidden_units=(8,), task=task),
    "IFM": lambda lin, dnn, task: IFM(lin, dnn, dnn_hidden_units=(8,), task=task),
    "DIFM": lambda lin, dnn, task: DIFM(lin, dnn, att_embedding_size=4, att_head_num=2,
                                        dnn_hidden_units=(8,), task=task),
    "ONN": lambda lin, dnn, task: ONN(lin, dnn, dnn_hidden_units=(8,), task=task),
    "FLEN": lambda lin, dnn, task: FLEN(lin, dnn, dnn_hidden_units=(8,), task=task),
}


# one full check per model (SavedModel saves are slow); binary and regression both covered,
# the other task of each model is covered by quick_check below
@pytest.mark.parametrize("name,task", [("AutoInt", "binary"), ("FGCNN", "binary"),
                                       ("FiBiNET", "regression"), ("FwFM", "binary"),
                                       ("DeepFEFM", "regression"), ("IFM", "regression"),
                                       ("DIFM", "binary")])
def test_model_trains_and_round_trips(tmp_path, name, task):
    reset()
    lin, dnn = feature_columns()
    check_model(MODELS[name](lin, dnn, task), dnn, tmp_path, task=task)


@pytest.mark.parametrize("name,task", [("AutoInt", "regression"), ("FGCNN", "regression"),
                                       ("FiBiNET", "binary"), ("FwFM", "regression"),
                                       ("DeepFEFM", "binary"), ("IFM", "binary"),
                                       ("DIFM", "regression"), ("ONN", "regression"),
                                       ("FLEN", "regression")])
def test_model_other_task(name, task):
    reset()
    lin, dnn = feature_columns(group_names=["user", "item", "item"] if name == "FLEN" else None)
    quick_check(MODELS[name](lin, dnn, task), dnn, task=task)


def test_flen_with_groups_trains_and_round_trips(tmp_path):
    reset()
    lin, dnn = feature_columns(sparse=4, group_names=["user", "user", "item", "context"])
    model = FLEN(lin, dnn, dnn_hidden_units=(8,))
    layer = next(l for l in model.layers if l.__class__.__name__ == "FieldWiseBiInteraction")
    # user, item, context and the varlen field's default_group
    assert layer.kernel_fm.shape == (4, 1)
    check_model(model, dnn, tmp_path)


def test_edcn_tau_survives_save_and_load(tmp_path):
    reset()
    lin, dnn = feature_columns()
    model = EDCN(lin, sparse_only(dnn), cross_num=1, bridge_type="attention_pooling", tau=0.5)
    check_model(model, lin, tmp_path)
    reloaded = keras.models.load_model(str(tmp_path / "saved_model"), custom_objects)
    taus = [l.tau for l in reloaded.layers if l.__class__.__name__ == "RegulationModule"]
    assert taus == [0.5] * 2  # per cross layer: the deep and the cross input


def test_onn_with_custom_embedding_name(tmp_path):
    reset()
    cols = [SparseFeat("user", 20, embedding_dim=4, embedding_name="uid_table"),
            SparseFeat("item", 20, embedding_dim=4, embedding_name="item_table"),
            VarLenSparseFeat(SparseFeat("hist_item", 20, embedding_dim=4,
                                        embedding_name="item_table"), 4, "mean"),
            DenseFeat("d0", 1)]
    model = ONN(cols, cols, dnn_hidden_units=(8,), reduce_sum=True)
    fused = [l for l in model.layers if l.__class__.__name__ == "FusedEmbedding"]
    assert len(fused) == 2  # one gather for all per-pair embeddings, one for the linear part
    onn = next(l for l in fused if l.embedding_dim == 4)
    # item and hist_item share item_table, so they also share its copy for partner "user"
    assert sorted(onn.table_names) == sorted([
        "uid_table_for_item", "uid_table_for_hist_item", "item_table_for_user",
        "item_table_for_hist_item", "item_table_for_item"])
    check_model(model, cols, tmp_path)


def test_mlr_with_base_and_bias_columns(tmp_path):
    reset()
    cols, _ = feature_columns()
    region, base, bias = cols[:2] + cols[4:5], [cols[0], cols[2], cols[3], cols[5]], cols[1:2]
    model = MLR(region, base, region_num=3, bias_feature_columns=bias, task="regression")
    # one multi-unit table per part: region and learner [*, 3], bias [*, 1]
    widths = sorted(l.embedding_dim for l in model.layers
                    if l.__class__.__name__ == "FusedEmbedding")
    assert widths == [1, 3, 3]
    check_model(model, cols, tmp_path, task="regression")


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_mlr_default_base_is_region(task):
    reset()
    cols, _ = feature_columns()
    model = quick_check(MLR(cols, task=task), cols, task=task)
    assert "PredictionLayer" not in layer_names(model)  # the mixture is the output


def test_mlr_with_bias_binary():
    reset()
    cols, _ = feature_columns()
    quick_check(MLR(cols[:3], cols[3:], region_num=2, bias_feature_columns=cols[:1]), cols)


# ---------------------------------------------------------------- option matrix

@pytest.mark.parametrize("bilinear_type", ["each", "all", "interaction"])
def test_fibinet_bilinear_types(bilinear_type):
    reset()
    lin, dnn = feature_columns()
    model = quick_check(FiBiNET(lin, dnn, bilinear_type=bilinear_type, reduction_ratio=2,
                                dnn_hidden_units=(8,)), dnn)
    assert {l.bilinear_type for l in model.layers
            if l.__class__.__name__ == "BilinearInteraction"} == {bilinear_type}


def test_fibinet_without_dnn():
    reset()
    lin, dnn = feature_columns()
    assert "DNN" not in layer_names(quick_check(FiBiNET(lin, dnn, dnn_hidden_units=()), dnn))


@pytest.mark.parametrize("kwargs,has_attention,has_dnn", [
    (dict(dnn_hidden_units=()), True, False),
    (dict(att_layer_num=0, dnn_hidden_units=(8,)), False, True),
    (dict(att_layer_num=1, att_res=False, dnn_hidden_units=(8,), dnn_use_bn=True,
          dnn_dropout=0.1), True, True),
])
def test_autoint_variants(kwargs, has_attention, has_dnn):
    reset()
    lin, dnn = feature_columns()
    model = quick_check(AutoInt(lin, dnn, att_embedding_size=4, **kwargs), dnn)
    assert ("InteractingLayer" in layer_names(model)) == has_attention
    assert ("DNN" in layer_names(model)) == has_dnn


@pytest.mark.parametrize("bridge_type", ["pointwise_addition", "hadamard_product",
                                         "concatenation", "attention_pooling"])
def test_edcn_bridge_types(bridge_type):
    reset()
    lin, dnn = feature_columns()
    model = quick_check(EDCN(lin, sparse_only(dnn), cross_num=2, bridge_type=bridge_type), lin)
    assert [l.bridge_type for l in model.layers
            if l.__class__.__name__ == "BridgeModule"] == [bridge_type] * 2


def test_edcn_matrix_cross_single_layer_regression():
    reset()
    lin, dnn = feature_columns()
    quick_check(EDCN(lin, sparse_only(dnn), cross_num=1, cross_parameterization="matrix",
                     task="regression"), lin, task="regression")


@pytest.mark.parametrize("kwargs,parts", [
    (dict(), {"linear", "fefm", "dnn"}),
    (dict(use_fefm=False), {"linear", "dnn"}),                            # ablation 1
    (dict(use_linear=False), {"fefm", "dnn"}),                            # ablation 2
    (dict(exclude_feature_embed_in_dnn=True), {"linear", "fefm", "dnn"}),  # ablation 3
    (dict(use_fefm_embed_in_dnn=False), {"linear", "fefm", "dnn"}),       # ablation 4
    (dict(dnn_hidden_units=()), {"linear", "fefm"}),                      # shallow FEFM
    (dict(dnn_hidden_units=(), use_linear=False), {"fefm"}),
    (dict(dnn_hidden_units=(), use_fefm=False), {"linear"}),
    (dict(use_fefm=False, use_linear=False), {"dnn"}),
])
def test_deepfefm_ablations(kwargs, parts):
    reset()
    lin, dnn = feature_columns()
    kwargs = {"dnn_hidden_units": (8,), **kwargs}
    model = quick_check(DeepFEFM(lin, dnn, **kwargs), dnn)
    names = layer_names(model)
    assert ("DNN" in names) == ("dnn" in parts)
    assert ("Linear" in names) == ("linear" in parts)
    # FEFM is built for its logit, or for the DNN input
    fefm_used = "fefm" in parts or ("dnn" in parts and kwargs.get("use_fefm_embed_in_dnn", True))
    assert ("FEFMLayer" in names) == fefm_used
    if kwargs.get("exclude_feature_embed_in_dnn"):
        dnn_layer = next(l for l in model.layers if l.__class__.__name__ == "DNN")
        assert dnn_layer.input_shape == (None, 6)  # the FEFM pair vector alone (4 fields)


def test_deepfefm_uses_default_group_only():
    reset()
    lin, dnn = feature_columns(group_names=["default_group", "default_group", "other"])
    model = quick_check(DeepFEFM(lin, dnn, dnn_hidden_units=(8,)), dnn)
    fefm = next(l for l in model.layers if l.__class__.__name__ == "FEFMLayer")
    assert fefm.output_shape == (None, 3)  # s0, s1 and the varlen field: 3 pairs


def test_fwfm_groups_and_no_dnn():
    reset()
    lin, dnn = feature_columns(sparse=4, group_names=["a", "a", "b", "b"], varlen=0)
    model = quick_check(FwFM(lin, dnn, fm_group=["a", "b"], dnn_hidden_units=()), dnn)
    assert layer_names(model).count("FwFMLayer") == 2 and "DNN" not in layer_names(model)
    reset()
    lin, dnn = feature_columns(sparse=2, group_names=["ab", "a"], varlen=0)
    model = FwFM(lin, dnn, fm_group="a", dnn_hidden_units=(4,))  # exact name, not substring
    assert [l.num_fields for l in model.layers if l.__class__.__name__ == "FwFMLayer"] == [1]


def test_fgcnn_two_stages():
    reset()
    lin, dnn = feature_columns()
    model = quick_check(FGCNN(lin, dnn, dnn_hidden_units=(8,), **SMALL_FGCNN), dnn)
    generator = next(l for l in model.layers if l.__class__.__name__ == "FGCNNLayer")
    assert generator.output_shape == (None, 2 * 2 + 1 * 1, 4)  # 4 fields -> 2 rows -> 1 row


def test_fgcnn_without_feature_generation_and_dnn():
    reset()
    lin, dnn = feature_columns()
    model = quick_check(FGCNN(lin, dnn, conv_kernel_width=(), conv_filters=(), new_maps=(),
                              pooling_width=(), dnn_hidden_units=()), dnn)
    assert "FGCNNLayer" not in layer_names(model) and "DNN" not in layer_names(model)


def test_onn_without_bn_and_dnn():
    reset()
    lin, dnn = feature_columns()
    model = quick_check(ONN(lin, dnn, dnn_hidden_units=(), use_bn=False), dnn)
    assert "BatchNormalization" not in layer_names(model)


def _check_linear_weights_scaled_by_own_field(model, lin, dnn):
    """The model's linear logit equals sum_j w_j[id_j] * m[field of j] + dense @ kernel, with m
    the input-aware factor [B, F] in dnn_feature_columns' field order (the Reshape to [B, F, 1])
    and w_j set here to distinct random weights."""
    rng = np.random.default_rng(3)
    table = next(layer for layer in model.layers
                 if type(layer).__name__ == "FusedEmbedding" and layer.embedding_dim == 1)
    weights = rng.normal(size=table.get_weights()[0].shape).astype("float32")
    table.set_weights([weights])
    linear = next(layer for layer in model.layers if type(layer).__name__ == "Linear")
    kernel = np.array([[0.7]], dtype="float32")  # one dense value, d0
    linear.set_weights([kernel])
    dnn_fields = [fc.name for fc in dnn if not isinstance(fc, DenseFeat)]
    factor = next(layer for layer in model.layers if isinstance(layer, keras.layers.Reshape)
                  and tuple(layer.target_shape) == (len(dnn_fields), 1))
    x, _ = planted_data(dnn, n=32)
    x = {k: x[k] for k in get_feature_names(dnn)}
    m, linear_logit = keras.Model(model.inputs, [factor.output, linear.output]).predict(
        x, verbose=0)
    config = table.get_config()
    offsets = np.cumsum([0] + list(config["table_sizes"]))
    expected = 0.7 * x["d0"][:, 0]
    for fc in lin:
        if isinstance(fc, SparseFeat):
            row = offsets[config["table_names"].index("linear_" + fc.embedding_name)]
            expected = expected + (weights[row + x[fc.name][:, 0], 0]
                                   * m[:, dnn_fields.index(fc.name), 0])
    assert np.ptp(m[:, 0, 0]) > 1e-3 or np.ptp(m[0, :, 0]) > 1e-3  # the factor is not flat
    np.testing.assert_allclose(linear_logit[:, 0], expected, rtol=1e-5, atol=1e-6)


def test_ifm_linear_fields_subset_in_other_order():
    """Each linear weight is scaled by the factor of its own field, whatever the order."""
    reset()
    _, dnn = feature_columns()
    lin = [dnn[2], dnn[0], dnn[4]]  # s2, s0, d0
    _check_linear_weights_scaled_by_own_field(IFM(lin, dnn, dnn_hidden_units=(8,)), lin, dnn)
    reset()
    _check_linear_weights_scaled_by_own_field(
        DIFM(lin, dnn, att_embedding_size=2, att_head_num=2, dnn_hidden_units=(8,)), lin, dnn)


def test_input_aware_factor_rescales_linear_weights():
    """IFM: with the FM part silenced (zero embeddings), the output is the linear part with
    each field's weight scaled by m_x,i = F * softmax(...)_i (which sums to F)."""
    reset()
    cols = [SparseFeat(f"s{i}", 20, embedding_dim=4) for i in range(3)]
    model = IFM(cols, cols, dnn_hidden_units=(4,))
    for layer in model.layers:
        if layer.__class__.__name__ == "FusedEmbedding" and layer.embedding_dim == 1:
            layer.set_weights([np.ones_like(layer.get_weights()[0])])  # every weight 1
    x = {f"s{i}": np.arange(6, dtype="int32").reshape(-1, 1) for i in range(3)}
    logit = np.log(model.predict(x, verbose=0) / (1 - model.predict(x, verbose=0)))
    # FM over near-zero embeddings ~ 0; linear = sum_i m_i * 1 = F
    np.testing.assert_allclose(logit, 3.0, atol=1e-3)


# ---------------------------------------------------------------- impossible configurations

UNEQUAL = [SparseFeat("a", 10, embedding_dim=4), SparseFeat("b", 10, embedding_dim=8,
                                                            group_name="g2")]


@pytest.mark.parametrize("build", [
    lambda c: AutoInt(c, c), lambda c: FGCNN(c, c, **SMALL_FGCNN), lambda c: FiBiNET(c, c),
    lambda c: FLEN(c, c), lambda c: FwFM(c, c, fm_group=["default_group", "g2"]),
    lambda c: EDCN(c, c), lambda c: IFM(c, c), lambda c: DIFM(c, c), lambda c: ONN(c, c),
], ids=["AutoInt", "FGCNN", "FiBiNET", "FLEN", "FwFM", "EDCN", "IFM", "DIFM", "ONN"])
def test_unequal_dims_raise(build):
    with pytest.raises(ValueError, match="dim 4.*dim 8"):
        build(UNEQUAL)


def test_deepfefm_unequal_dims_in_default_group_raise():
    cols = [SparseFeat("a", 10, embedding_dim=4), SparseFeat("b", 10, embedding_dim=8)]
    with pytest.raises(ValueError, match="dim 4.*dim 8"):
        DeepFEFM(cols, cols)


def test_flen_needs_two_groups():
    lin, dnn = feature_columns(varlen=0)
    with pytest.raises(ValueError, match="2 distinct group_names"):
        FLEN(lin, dnn)


def test_autoint_needs_attention_or_dnn():
    lin, dnn = feature_columns()
    with pytest.raises(ValueError, match="att_layer_num"):
        AutoInt(lin, dnn, att_layer_num=0, dnn_hidden_units=())


@pytest.mark.parametrize("model", [IFM, DIFM])
def test_input_aware_models_need_dnn_and_matching_linear_fields(model):
    lin, dnn = feature_columns()
    with pytest.raises(ValueError, match="dnn_hidden_units"):
        model(lin, dnn, dnn_hidden_units=())
    with pytest.raises(ValueError, match="missing: \\['extra'\\]"):
        model(lin + [SparseFeat("extra", 5)], dnn)
    with pytest.raises(ValueError, match="at least one SparseFeat"):
        model(lin, [DenseFeat("d0", 1)])


def test_invalid_enum_values_raise():
    lin, dnn = feature_columns()
    with pytest.raises(ValueError, match="bilinear_type"):
        FiBiNET(lin, dnn, bilinear_type="outer")
    with pytest.raises(ValueError, match="bridge_type"):
        EDCN(lin, sparse_only(dnn), bridge_type="gated")
    with pytest.raises(ValueError, match="cross_parameterization"):
        EDCN(lin, sparse_only(dnn), cross_parameterization="tensor")
    with pytest.raises(ValueError, match="task"):
        ONN(lin, dnn, task="multiclass")


def test_other_impossible_configurations_raise():
    lin, dnn = feature_columns()
    with pytest.raises(ValueError, match="cross_num"):
        EDCN(lin, sparse_only(dnn), cross_num=0)
    with pytest.raises(ValueError, match="tau"):
        EDCN(lin, sparse_only(dnn), tau=0)
    with pytest.raises(ValueError, match="DenseFeat"):
        EDCN(lin, dnn)
    with pytest.raises(ValueError, match="region_num"):
        MLR(lin, region_num=1)
    with pytest.raises(ValueError, match="use_linear, use_fefm"):
        DeepFEFM(lin, dnn, dnn_hidden_units=(), use_fefm=False, use_linear=False)
    with pytest.raises(ValueError, match="same length"):
        FGCNN(lin, dnn, conv_kernel_width=(3,), conv_filters=(2, 2))
    with pytest.raises(ValueError, match="no rows"):  # 4 fields cannot be pooled 4 times
        FGCNN(lin, dnn)
    one = [SparseFeat("a", 10)]
    for build in (FiBiNET, ONN):
        with pytest.raises(ValueError, match="at least 2 sparse fields"):
            build(one, one)
    with pytest.raises(ValueError, match="at least 2 sparse fields in group"):
        DeepFEFM(one, one)
