"""Numeric tests of the field-interaction layers (AutoInt, FGCNN, FiBiNET, FLEN, FwFM, FEFM,
EDCN) against NumPy references written with explicit loops, plus output shapes, config round
trips and argument validation."""

import numpy as np
import pytest
import tensorflow as tf

from ctr_models.layers import custom_objects
from ctr_models.layers.field_interaction import (BilinearInteraction, BridgeModule, FEFMLayer,
                                                 FGCNNLayer, FieldWiseBiInteraction, FwFMLayer,
                                                 InteractingLayer, RegulationModule, SENETLayer)
from layer_testing import as_list, pairs, rand, randomize_weights

B, F, K = 5, 4, 3
TOL = dict(rtol=1e-5, atol=1e-5)


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def relu(x):
    return np.maximum(x, 0)


def build_random(layer, inputs, seed=1):
    """Calls `layer` once (building it), then gives it random weights; returns the output."""
    layer(inputs)
    randomize_weights(layer, seed)
    out = layer(inputs)
    return [o.numpy() for o in out] if isinstance(out, list) else out.numpy()


def check_config_round_trip(layer, inputs):
    """A layer rebuilt from its config (by class name, as load_model does) with the same
    weights gives the same output; compute_output_shape matches the real output."""
    out = layer(inputs)
    config = layer.get_config()
    clone = custom_objects[type(layer).__name__].from_config(config)
    clone(inputs)
    clone.set_weights(layer.get_weights())
    clone_out = clone(inputs)
    if isinstance(out, list):
        for a, b in zip(clone_out, out):
            np.testing.assert_allclose(a.numpy(), b.numpy(), **TOL)
    else:
        np.testing.assert_allclose(clone_out.numpy(), out.numpy(), **TOL)
    in_shape = ([tuple(x.shape) for x in inputs] if isinstance(inputs, list)
                else tuple(inputs.shape))
    expected = layer.compute_output_shape(in_shape)
    if isinstance(out, list):
        assert [tuple(s)[1:] for s in expected] == [tuple(o.shape)[1:] for o in out]
    else:
        assert tuple(expected)[1:] == tuple(out.shape)[1:]
    assert clone.get_config() == config
    return clone


def test_layers_are_exported_as_custom_objects():
    for name in ["InteractingLayer", "FGCNNLayer", "SENETLayer", "BilinearInteraction",
                 "FieldWiseBiInteraction", "FwFMLayer", "FEFMLayer", "BridgeModule",
                 "RegulationModule"]:
        assert name in custom_objects


# ---------------------------------------------------------------- InteractingLayer (AutoInt)

def interacting_reference(x, layer, head_num, d, use_res, scaling):
    wq, wk, wv = (w.numpy() for w in (layer.W_Query, layer.W_key, layer.W_Value))
    heads, scores = [], []
    for h in range(head_num):
        cols = slice(h * d, (h + 1) * d)
        q, k, v = x @ wq[:, cols], x @ wk[:, cols], x @ wv[:, cols]  # [B, F, d]
        logits = np.einsum("bfd,bgd->bfg", q, k)
        if scaling:
            logits = logits / np.sqrt(d)
        a = softmax(logits, axis=-1)
        scores.append(a)
        out = np.zeros_like(q)
        for b in range(x.shape[0]):
            for f in range(x.shape[1]):
                for g in range(x.shape[1]):  # brute-force weighted sum over attended fields
                    out[b, f] += a[b, f, g] * v[b, g]
        heads.append(out)
    result = np.concatenate(heads, axis=-1)
    if use_res:
        result = result + x @ layer.W_Res.numpy()
    return relu(result), np.stack(scores, axis=1)


@pytest.mark.parametrize("head_num,use_res,scaling", [(1, False, False), (2, True, False),
                                                      (3, True, True)])
def test_interacting_layer_matches_reference(head_num, use_res, scaling):
    x = rand(B, F, K)
    d = 2
    layer = InteractingLayer(att_embedding_size=d, head_num=head_num, use_res=use_res,
                             scaling=scaling)
    out = build_random(layer, tf.constant(x))
    assert out.shape == (B, F, d * head_num)
    expected, expected_scores = interacting_reference(x, layer, head_num, d, use_res, scaling)
    np.testing.assert_allclose(out, expected, **TOL)
    scores = layer.attention_scores(tf.constant(x)).numpy()
    assert scores.shape == (B, head_num, F, F)
    np.testing.assert_allclose(scores.sum(axis=-1), 1.0, **TOL)
    np.testing.assert_allclose(scores, expected_scores, **TOL)
    clone = check_config_round_trip(layer, tf.constant(x))
    assert clone.scaling == scaling and clone.use_res == use_res


def test_interacting_layer_validation():
    with pytest.raises(ValueError, match="head_num"):
        InteractingLayer(head_num=0)
    with pytest.raises(ValueError, match="fields, embedding_size"):
        InteractingLayer()(tf.zeros((2, 3)))


# ---------------------------------------------------------------- FGCNNLayer

def fgcnn_reference(x, layer):
    maps = x[..., None]  # [B, rows, k, channels]
    new = []
    for i, rows_out in enumerate(layer.pooled_rows):
        conv, dense = layer.conv_layers[i], layer.dense_layers[i]
        kernel, bias = conv.kernel.numpy(), conv.bias.numpy()  # [w, 1, c, filters]
        width = kernel.shape[0]
        before = (width - 1) // 2  # 'same' padding: TF pads the extra row at the end
        rows = maps.shape[1]
        conv_out = np.zeros(maps.shape[:3] + (kernel.shape[-1],), "float32")
        for r in range(rows):
            for t in range(width):
                src = r + t - before
                if 0 <= src < rows:
                    conv_out[:, r] += np.einsum("bkc,cf->bkf", maps[:, src], kernel[t, 0])
        conv_out = np.tanh(conv_out + bias)
        pw = layer.pooling_width[i]
        pooled = np.stack([conv_out[:, r * pw:(r + 1) * pw].max(axis=1)
                           for r in range(rows_out)], axis=1)
        flat = pooled.reshape(pooled.shape[0], -1)
        generated = np.tanh(flat @ dense.kernel.numpy() + dense.bias.numpy())
        new.append(generated.reshape(x.shape[0], rows_out * layer.new_maps[i], x.shape[2]))
        maps = pooled
    return np.concatenate(new, axis=1)


def test_fgcnn_layer_matches_reference():
    x = rand(B, 7, K)
    layer = FGCNNLayer(filters=(2, 3), kernel_width=(3, 2), new_maps=(2, 1),
                       pooling_width=(2, 2))
    out = build_random(layer, tf.constant(x))
    # 7 fields -> 3 rows (x2 maps) -> 1 row (x1 map): 7 new fields
    assert out.shape == (B, 3 * 2 + 1 * 1, K)
    np.testing.assert_allclose(out, fgcnn_reference(x, layer), **TOL)
    check_config_round_trip(layer, tf.constant(x))


def test_fgcnn_layer_validation():
    with pytest.raises(ValueError, match="same length"):
        FGCNNLayer(filters=(2,), kernel_width=(3, 3), new_maps=(1,), pooling_width=(2,))
    with pytest.raises(ValueError, match="no rows"):
        FGCNNLayer(filters=(2, 2), kernel_width=(3, 3), new_maps=(1, 1),
                   pooling_width=(2, 2))(tf.zeros((2, 3, K)))


# ---------------------------------------------------------------- SENETLayer

@pytest.mark.parametrize("reduction_ratio", [1, 2, 3])
def test_senet_layer_matches_reference(reduction_ratio):
    x = rand(B, F, K)
    layer = SENETLayer(reduction_ratio=reduction_ratio)
    out = build_random(layer, as_list(x))
    assert isinstance(out, list) and len(out) == F and out[0].shape == (B, 1, K)
    assert layer.W_1.shape == (F, max(1, F // reduction_ratio))
    w1, w2 = layer.W_1.numpy(), layer.W_2.numpy()
    expected = np.zeros_like(x)
    for b in range(B):
        z = np.array([x[b, i].mean() for i in range(F)])  # squeeze
        a = relu(relu(z @ w1) @ w2)                        # excitation
        for i in range(F):
            expected[b, i] = a[i] * x[b, i]                # reweight
    np.testing.assert_allclose(np.concatenate(out, axis=1), expected, **TOL)
    # the stacked [B, F, k] form gives the same numbers
    np.testing.assert_allclose(layer(tf.constant(x)).numpy(), expected, **TOL)
    check_config_round_trip(layer, as_list(x))


# ---------------------------------------------------------------- BilinearInteraction

@pytest.mark.parametrize("bilinear_type", ["all", "each", "interaction"])
def test_bilinear_interaction_matches_reference(bilinear_type):
    x = rand(B, F, K)
    layer = BilinearInteraction(bilinear_type=bilinear_type)
    out = build_random(layer, as_list(x))
    assert out.shape == (B, F * (F - 1) // 2, K)
    W = layer.W.numpy()
    expected = np.zeros(out.shape, "float32")
    for p, (i, j) in enumerate(pairs(F)):
        matrix = {"all": W, "each": W[i] if bilinear_type == "each" else None,
                  "interaction": W[p] if bilinear_type == "interaction" else None}[bilinear_type]
        for b in range(B):
            expected[b, p] = (x[b, i] @ matrix) * x[b, j]
    np.testing.assert_allclose(out, expected, **TOL)
    expected_weights = {"all": (K, K), "each": (F - 1, K, K),
                        "interaction": (F * (F - 1) // 2, K, K)}[bilinear_type]
    assert W.shape == expected_weights
    np.testing.assert_allclose(layer(tf.constant(x)).numpy(), expected, **TOL)
    check_config_round_trip(layer, as_list(x))


def test_bilinear_initial_weights_have_glorot_spread():
    layer = BilinearInteraction("interaction")
    layer(tf.zeros((1, 6, 16)))
    std = layer.W.numpy().std()
    assert 0.7 * np.sqrt(1 / 16) < std < 1.3 * np.sqrt(1 / 16)  # glorot: 2 / (k + k)


def test_bilinear_interaction_validation():
    with pytest.raises(ValueError, match="bilinear_type"):
        BilinearInteraction("outer")
    with pytest.raises(ValueError, match="at least 2 fields"):
        BilinearInteraction()(as_list(rand(B, 1, K)))


# ---------------------------------------------------------------- FieldWiseBiInteraction

@pytest.mark.parametrize("use_bias", [True, False])
def test_field_wise_bi_interaction_matches_reference(use_bias):
    groups = [rand(B, 2, K, seed=1), rand(B, 3, K, seed=2), rand(B, 1, K, seed=3)]
    layer = FieldWiseBiInteraction(use_bias=use_bias)
    inputs = [tf.constant(g) for g in groups]
    out = build_random(layer, inputs)
    assert out.shape == (B, K)
    r, w = layer.kernel_mf.numpy()[:, 0], layer.kernel_fm.numpy()[:, 0]
    expected = np.zeros((B, K), "float32")
    for b in range(B):
        sums = [g[b].sum(axis=0) for g in groups]
        for p, (g, h) in enumerate(pairs(len(groups))):  # MF between groups
            expected[b] += r[p] * sums[g] * sums[h]
        for g, group in enumerate(groups):  # FM within each group: 2 * sum_{i<j} v_i * v_j
            within = sum((group[b, i] * group[b, j] for i, j in pairs(group.shape[1])),
                         np.zeros(K, "float32"))
            expected[b] += w[g] * 2 * within
    if use_bias:
        expected += layer.bias_mf.numpy() + layer.bias_fm.numpy()
    np.testing.assert_allclose(out, expected, **TOL)
    check_config_round_trip(layer, inputs)


def test_field_wise_bi_interaction_initial_fm_half():
    """kernel_fm starts at 0.5, so the FM part starts as the plain within-group FM."""
    layer = FieldWiseBiInteraction(use_bias=False)
    g = rand(B, 3, K)
    layer([tf.constant(g), tf.zeros((B, 1, K))])
    np.testing.assert_allclose(layer.kernel_fm.numpy(), 0.5)
    np.testing.assert_allclose(layer.kernel_mf.numpy(), 1.0)


def test_field_wise_bi_interaction_needs_two_groups():
    with pytest.raises(ValueError, match="at least 2"):
        FieldWiseBiInteraction()([tf.zeros((B, 3, K))])


# ---------------------------------------------------------------- FwFMLayer

def test_fwfm_layer_matches_reference():
    x = rand(B, F, K)
    layer = FwFMLayer(num_fields=F, regularizer=1e-3)
    out = build_random(layer, tf.constant(x))
    assert out.shape == (B, 1)
    r = layer.field_strengths.numpy()
    expected = np.zeros((B, 1), "float32")
    for b in range(B):
        for i, j in pairs(F):
            expected[b, 0] += r[i, j] * np.dot(x[b, i], x[b, j])
    np.testing.assert_allclose(out, expected, **TOL)
    assert len(layer.losses) == 1  # the field strengths are L2-regularised
    check_config_round_trip(layer, tf.constant(x))


def test_fwfm_layer_field_count_mismatch():
    with pytest.raises(ValueError, match="num_fields=4.*3 fields"):
        FwFMLayer(num_fields=4)(tf.zeros((B, 3, K)))


# ---------------------------------------------------------------- FEFMLayer

def test_fefm_layer_matches_reference():
    x = rand(B, F, K)
    layer = FEFMLayer(regularizer=1e-4)
    out = build_random(layer, tf.constant(x))
    assert out.shape == (B, F * (F - 1) // 2)
    W = layer.field_embeddings.numpy()
    expected = np.zeros(out.shape, "float32")
    for b in range(B):
        for p, (i, j) in enumerate(pairs(F)):
            expected[b, p] = x[b, i] @ (W[p] + W[p].T) @ x[b, j]
    np.testing.assert_allclose(out, expected, **TOL)
    assert layer.compute_output_shape((None, F, K)) == (None, 6)  # an int, not 6.0
    check_config_round_trip(layer, tf.constant(x))


# ---------------------------------------------------------------- BridgeModule

@pytest.mark.parametrize("bridge_type", BridgeModule.BRIDGE_TYPES)
def test_bridge_module_matches_reference(bridge_type):
    d = 6
    x, h = rand(B, d, seed=1), rand(B, d, seed=2)
    layer = BridgeModule(bridge_type)
    inputs = [tf.constant(x), tf.constant(h)]
    out = build_random(layer, inputs)
    assert out.shape == (B, d)
    if bridge_type == "pointwise_addition":
        expected = x + h
    elif bridge_type == "hadamard_product":
        expected = x * h
    elif bridge_type == "concatenation":
        expected = relu(np.concatenate([x, h], -1) @ layer.dense.kernel.numpy()
                        + layer.dense.bias.numpy())
    else:
        def attention(dnns, v):
            first, second = (dnn.dense_layers[0] for dnn in dnns)
            hidden = relu(v @ first.kernel.numpy() + first.bias.numpy())
            return softmax(hidden @ second.kernel.numpy() + second.bias.numpy(), axis=-1)
        expected = attention(layer.dense_x, x) * x + attention(layer.dense_h, h) * h
    np.testing.assert_allclose(out, expected, **TOL)
    check_config_round_trip(layer, inputs)


def test_bridge_module_validation():
    with pytest.raises(ValueError, match="bridge_type"):
        BridgeModule("gated")
    with pytest.raises(ValueError, match="same width"):
        BridgeModule("pointwise_addition")([tf.zeros((2, 3)), tf.zeros((2, 4))])


# ---------------------------------------------------------------- RegulationModule

@pytest.mark.parametrize("tau", [1.0, 0.5, 3.0])
def test_regulation_module_softmax_gating(tau):
    x = rand(B, F, K)
    layer = RegulationModule(tau=tau)
    out = layer(tf.constant(x)).numpy()
    assert out.shape == (B, F * K)
    # gates start at 1: a uniform softmax
    np.testing.assert_allclose(out, (x / F).reshape(B, F * K), **TOL)
    g = rand(1, F, 1, seed=4)
    layer.set_weights([g])
    gate = softmax(g[0, :, 0] / tau)
    expected = np.stack([x[:, i] * gate[i] for i in range(F)], axis=1).reshape(B, F * K)
    np.testing.assert_allclose(layer(tf.constant(x)).numpy(), expected, **TOL)
    clone = check_config_round_trip(layer, tf.constant(x))
    assert layer.get_config()["tau"] == tau and clone.tau == tau  # tau itself, not 1 / tau


def test_regulation_module_rejects_non_positive_tau():
    for tau in (0, -1.0):
        with pytest.raises(ValueError, match="tau"):
            RegulationModule(tau=tau)
