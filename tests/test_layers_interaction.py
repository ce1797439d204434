"""Numeric tests of the interaction and pooling layers against NumPy references, plus output
shapes, config round trips and argument validation."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from ctr_models.layers import custom_objects
from ctr_models.layers.interaction import (CIN, FM, AFMLayer, BiInteractionPooling, CrossNet,
                                           CrossNetMix, InnerProductLayer, OutterProductLayer)
from ctr_models.layers.pooling import KMaxPooling
from layer_testing import as_list, pairs, rand, randomize_weights

B, F, K = 5, 4, 3
TOL = dict(rtol=1e-5, atol=1e-5)


def check_config_round_trip(layer, inputs):
    """A layer rebuilt from its config (by class name, as load_model does) with the same
    weights gives the same output; compute_output_shape matches the real output."""
    out = layer(inputs)
    clone = custom_objects[type(layer).__name__].from_config(layer.get_config())
    clone(inputs)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(inputs).numpy(), out.numpy(), **TOL)
    in_shape = ([tuple(x.shape) for x in inputs] if isinstance(inputs, list)
                else tuple(inputs.shape))
    expected = tuple(layer.compute_output_shape(in_shape))
    assert expected[1:] == tuple(out.shape)[1:]
    return out


def test_layers_are_exported_as_custom_objects():
    for name in ["FM", "BiInteractionPooling", "AFMLayer", "CrossNet", "CrossNetMix", "CIN",
                 "InnerProductLayer", "OutterProductLayer", "KMaxPooling"]:
        assert name in custom_objects


def test_fm_equals_pairwise_inner_products():
    x = rand(B, F, K)
    expected = sum((x[:, i] * x[:, j]).sum(-1) for i, j in pairs(F)).reshape(B, 1)
    out = check_config_round_trip(FM(), tf.constant(x))
    np.testing.assert_allclose(out.numpy(), expected, **TOL)


def test_bi_interaction_pooling_equals_sum_of_pairwise_products():
    x = rand(B, F, K)
    expected = sum(x[:, i] * x[:, j] for i, j in pairs(F))[:, None, :]
    out = check_config_round_trip(BiInteractionPooling(), tf.constant(x))
    assert out.shape == (B, 1, K)
    np.testing.assert_allclose(out.numpy(), expected, **TOL)


@pytest.mark.parametrize("parameterization", ["vector", "matrix"])
def test_crossnet(parameterization):
    d, layers = 6, 3
    x0 = rand(B, d)
    layer = CrossNet(layers, parameterization, l2_reg=1e-4, seed=3)
    layer(tf.constant(x0))
    weights = randomize_weights(layer)
    kernels, biases = weights[:layers], weights[layers:]
    xl = x0
    for w, b in zip(kernels, biases):
        if parameterization == "vector":   # x0 * (xl . w) + b + xl
            xl = x0 * (xl @ w) + b + xl
        else:                              # x0 * (W xl + b) + xl
            xl = x0 * (np.einsum("ij,bj->bi", w, xl) + b) + xl
    out = check_config_round_trip(layer, tf.constant(x0))
    np.testing.assert_allclose(out.numpy(), xl, rtol=1e-4, atol=1e-4)
    assert len(layer.losses) == layers  # one l2 penalty per kernel


def test_crossnet_rejects_unknown_parameterization():
    with pytest.raises(ValueError, match="parameterization"):
        CrossNet(2, "diagonal")


def test_crossnetmix_one_layer():
    d, rank, experts = 5, 3, 2
    x0 = rand(B, d)
    layer = CrossNetMix(low_rank=rank, num_experts=experts, layer_num=1, seed=7)
    layer(tf.constant(x0))
    randomize_weights(layer)
    U, V, C = (layer.U_list[0].numpy(), layer.V_list[0].numpy(), layer.C_list[0].numpy())
    G, bias = layer.gating.numpy(), layer.bias[0].numpy()
    expected = np.zeros((B, d), "float32")
    for b in range(B):
        logits = x0[b] @ G
        gates = np.exp(logits - logits.max())
        gates /= gates.sum()
        for e in range(experts):
            low = np.tanh(C[e] @ np.tanh(V[e].T @ x0[b]))
            expected[b] += gates[e] * x0[b] * (U[e] @ low + bias)
    expected += x0
    out = check_config_round_trip(layer, tf.constant(x0))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_crossnetmix_rejects_bad_sizes():
    with pytest.raises(ValueError, match="num_experts"):
        CrossNetMix(num_experts=0)
    with pytest.raises(ValueError, match="low_rank"):
        CrossNetMix(low_rank=0)


def cin_reference(x0, filters, biases, split_half, act=lambda z: np.maximum(z, 0)):
    """Direct loops over the CIN definition: Z[b, m, h, d] = x0[b, m, d] * X[b, h, d]."""
    hidden, outputs = x0, []
    m = x0.shape[1]
    for idx, (w, bias) in enumerate(zip(filters, biases)):
        h = hidden.shape[1]
        maps = np.zeros((x0.shape[0], w.shape[1], x0.shape[2]), "float32")
        for c in range(w.shape[1]):
            for i in range(m):
                for j in range(h):
                    maps[:, c] += w[i * h + j, c] * x0[:, i] * hidden[:, j]
            maps[:, c] += bias[c]
        maps = act(maps)
        if split_half and idx != len(filters) - 1:
            half = maps.shape[1] // 2
            hidden, direct = maps[:, :half], maps[:, half:]
        else:
            hidden = direct = maps
        outputs.append(direct)
    return np.concatenate(outputs, axis=1).sum(-1)


@pytest.mark.parametrize("layer_size,split_half,out_dim", [
    ((3,), True, 3),          # one CIN step
    ((4, 3), True, 2 + 3),    # half of layer 0 goes on, half to the output
    ((4, 3), False, 4 + 3),
])
def test_cin(layer_size, split_half, out_dim):
    x0 = rand(B, F, K)
    layer = CIN(layer_size, activation="relu", split_half=split_half, l2_reg=1e-5, seed=5)
    layer(tf.constant(x0))
    weights = randomize_weights(layer)
    n = len(layer_size)
    expected = cin_reference(x0, weights[0:2 * n:2], weights[1:2 * n:2], split_half)
    out = check_config_round_trip(layer, tf.constant(x0))
    assert out.shape == (B, out_dim)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_cin_rejects_odd_hidden_sizes_and_empty():
    with pytest.raises(ValueError, match="even"):
        CIN((3, 2), split_half=True)
    CIN((3, 2), split_half=False)
    with pytest.raises(ValueError, match="layer_size"):
        CIN(())


@pytest.mark.parametrize("reduce_sum", [True, False])
@pytest.mark.parametrize("stacked", [False, True])
def test_inner_product(reduce_sum, stacked):
    x = rand(B, F, K)
    products = np.stack([x[:, i] * x[:, j] for i, j in pairs(F)], axis=1)
    expected = products.sum(-1, keepdims=True) if reduce_sum else products
    inputs = tf.constant(x) if stacked else as_list(x)
    out = check_config_round_trip(InnerProductLayer(reduce_sum), inputs)
    np.testing.assert_allclose(out.numpy(), expected, **TOL)


@pytest.mark.parametrize("kernel_type", ["mat", "vec", "num"])
def test_outer_product(kernel_type):
    x = rand(B, F, K)
    layer = OutterProductLayer(kernel_type, seed=2)
    layer(as_list(x))
    (kernel,) = randomize_weights(layer)
    expected = np.zeros((B, len(pairs(F))), "float32")
    for p, (i, j) in enumerate(pairs(F)):
        for a in range(K):
            for c in range(K):
                if kernel_type == "mat":
                    w = kernel[c, p, a]
                elif kernel_type == "vec":
                    w = kernel[p, a] if a == c else 0.0
                else:
                    w = kernel[p, 0] if a == c else 0.0
                expected[:, p] += x[:, i, a] * w * x[:, j, c]
    out = check_config_round_trip(layer, as_list(x))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer(tf.constant(x)).numpy(), expected, rtol=1e-4, atol=1e-4)


def test_product_layers_validate_inputs():
    with pytest.raises(ValueError, match="kernel_type"):
        OutterProductLayer("tensor")
    with pytest.raises(ValueError, match="at least 2 fields"):
        InnerProductLayer()([tf.zeros((2, 1, 3))])
    with pytest.raises(ValueError, match="one embedding size"):
        OutterProductLayer()([tf.zeros((2, 1, 3)), tf.zeros((2, 1, 4))])


def test_afm_layer_matches_reference_and_attention_sums_to_one():
    x = rand(B, F, K)
    layer = AFMLayer(attention_factor=5, l2_reg_w=1e-4, dropout_rate=0.5, seed=4)
    layer(as_list(x))
    W, b, h, p = randomize_weights(layer)
    scores = layer.attention_scores(as_list(x)).numpy()
    assert scores.shape == (B, len(pairs(F)), 1)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, **TOL)
    interactions = np.stack([x[:, i] * x[:, j] for i, j in pairs(F)], axis=1)
    logits = np.maximum(interactions @ W + b, 0) @ h
    weights = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(scores, weights, **TOL)
    expected = (weights * interactions).sum(axis=1) @ p
    out = check_config_round_trip(layer, as_list(x))  # inference: dropout off
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-4)
    assert not np.allclose(layer(as_list(x), training=True).numpy(), expected)


def test_afm_layer_needs_two_fields():
    with pytest.raises(ValueError, match="at least 2 fields"):
        AFMLayer()([tf.zeros((2, 1, 3))])


@pytest.mark.parametrize("k,axis", [(2, 1), (2, -1), (1, 2), (3, -2)])
def test_kmax_pooling(k, axis):
    x = rand(B, 4, 5, 2)
    expected = -np.sort(-x, axis=axis)  # descending along axis
    expected = np.take(expected, np.arange(k), axis=axis)
    out = check_config_round_trip(KMaxPooling(k=k, axis=axis), tf.constant(x))
    np.testing.assert_allclose(out.numpy(), expected, **TOL)


def test_kmax_pooling_validates():
    with pytest.raises(ValueError, match="k must be"):
        KMaxPooling(k=5, axis=1)(tf.zeros((2, 4, 3)))
    with pytest.raises(ValueError, match="axis"):
        KMaxPooling(k=1, axis=0)(tf.zeros((2, 4, 3)))
    with pytest.raises(ValueError, match="axis"):
        KMaxPooling(k=1, axis=3)(tf.zeros((2, 4, 3)))


def test_layers_inside_a_functional_model():
    """The layers serialise inside a functional model (to_json / model_from_json)."""
    fields = [keras.Input((1, K)) for _ in range(F)]
    inp = keras.layers.Concatenate(axis=1)(fields)
    flat = keras.layers.Flatten()(inp)
    parts = [FM()(inp), keras.layers.Flatten()(BiInteractionPooling()(inp)),
             AFMLayer(3)(fields), CrossNet(2, "matrix")(flat), CrossNetMix(2, 2, 1)(flat),
             CIN((4, 2))(inp), keras.layers.Flatten()(InnerProductLayer()(fields)),
             OutterProductLayer("vec")(fields),
             keras.layers.Flatten()(KMaxPooling(2, axis=1)(inp))]
    model = keras.Model(fields, keras.layers.Concatenate()(parts))
    clone = keras.models.model_from_json(model.to_json(), custom_objects)
    clone.set_weights(model.get_weights())
    x = [rand(B, 1, K, seed=i) for i in range(F)]
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), **TOL)
