"""Core layers against small NumPy references: DNN, PredictionLayer, Dice, LayerNormalization,
Linear and FusedEmbedding."""
import re

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from ctr_models.layers import (DNN, Dice, FusedEmbedding, LayerNormalization, Linear,
                               PredictionLayer, custom_objects)
from layer_testing import assert_config_round_trip, sigmoid

RNG = np.random.default_rng(7)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")






# ----------------------------------------------------------------------------------------- DNN

def dnn_reference(layer, x, activation, output_activation=None, use_bn=False, eps=1e-3):
    acts = {"relu": lambda z: np.maximum(z, 0), "sigmoid": sigmoid, "linear": lambda z: z}
    n = len(layer.hidden_units)
    for i, dense in enumerate(layer.dense_layers):
        kernel, bias = [w.numpy() for w in dense.weights]
        x = x @ kernel + bias
        if use_bn:
            bn = layer.bn_layers[i]
            x = ((x - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + eps)
                 * bn.gamma.numpy() + bn.beta.numpy())
        name = output_activation if (i == n - 1 and output_activation) else activation
        x = acts[name](x)
    return x


@pytest.mark.parametrize("shape", [(5, 6), (5, 3, 6)])
def test_dnn_shapes_and_values(shape):
    x = rand(*shape)
    layer = DNN((8, 4), activation="relu")
    out = layer(x).numpy()
    assert out.shape == shape[:-1] + (4,)
    assert layer.compute_output_shape(shape) == shape[:-1] + (4,)
    np.testing.assert_allclose(out, dnn_reference(layer, x, "relu"), rtol=1e-5, atol=1e-5)
    assert_config_round_trip(layer, x)


def test_dnn_output_activation_on_last_layer_only():
    x = rand(6, 5)
    layer = DNN((7, 3), activation="relu", output_activation="sigmoid")
    out = layer(x).numpy()
    np.testing.assert_allclose(out, dnn_reference(layer, x, "relu", "sigmoid"), rtol=1e-5,
                               atol=1e-6)
    assert np.all((out > 0) & (out < 1))
    assert layer.get_config()["output_activation"] == "sigmoid"


def test_dnn_use_bn_inference_uses_moving_statistics():
    x = rand(8, 5)
    layer = DNN((6, 4), activation="relu", use_bn=True)
    layer(x)
    assert len(layer.bn_layers) == 2
    for bn in layer.bn_layers:  # non-trivial statistics so that the check means something
        bn.moving_mean.assign(rand(*bn.moving_mean.shape))
        bn.moving_variance.assign(np.abs(rand(*bn.moving_variance.shape)) + 0.5)
        bn.gamma.assign(rand(*bn.gamma.shape))
        bn.beta.assign(rand(*bn.beta.shape))
    out = layer(x, training=False).numpy()
    np.testing.assert_allclose(out, dnn_reference(layer, x, "relu", use_bn=True), rtol=1e-4,
                               atol=1e-5)
    assert_config_round_trip(layer, x, training=False)


def test_dnn_dropout_only_when_training():
    x = np.abs(rand(64, 16)) + 1.0
    layer = DNN((32,), activation="linear", dropout_rate=0.5)
    inference = layer(x, training=False).numpy()
    np.testing.assert_allclose(inference, layer(x, training=False).numpy())
    np.testing.assert_allclose(inference, dnn_reference(layer, x, "linear"), rtol=1e-5, atol=1e-5)
    trained = layer(x, training=True).numpy()
    dropped = trained == 0
    assert 0.3 < dropped.mean() < 0.7
    # kept units are scaled by 1 / (1 - rate)
    np.testing.assert_allclose(trained[~dropped], 2 * inference[~dropped], rtol=1e-5, atol=1e-5)


def test_dnn_with_dice_activation_is_dense_then_dice():
    x = rand(3, 2, 5)
    layer = DNN((4,), activation="dice")
    assert layer(x, training=True).shape == (3, 2, 4)  # also moves Dice's moving statistics
    dice = layer.activation_layers[0]
    alpha = rand(4)
    dice.alphas.assign(alpha)
    kernel, bias = [w.numpy() for w in layer.dense_layers[0].weights]
    expected = dice_reference(x @ kernel + bias, alpha, dice.bn.moving_mean.numpy(),
                              dice.bn.moving_variance.numpy(), dice.epsilon)
    np.testing.assert_allclose(layer(x, training=False).numpy(), expected, rtol=1e-5,
                               atol=1e-6)


def test_dnn_empty_hidden_units_is_identity():
    x = rand(3, 5)
    np.testing.assert_array_equal(DNN(())(x).numpy(), x)  # DeepCTR's models rely on it


# ----------------------------------------------------------------------------- PredictionLayer

def test_prediction_layer_binary_and_regression():
    logit = rand(6, 1)
    for task, fn in [("binary", sigmoid), ("regression", lambda z: z)]:
        layer = PredictionLayer(task)
        layer(logit)
        layer.global_bias.assign([0.7])
        np.testing.assert_allclose(layer(logit).numpy(), fn(logit + 0.7), rtol=1e-5, atol=1e-6)
        assert_config_round_trip(layer, logit)
    no_bias = PredictionLayer("regression", use_bias=False)
    np.testing.assert_allclose(no_bias(logit).numpy(), logit)
    assert no_bias.weights == []


def test_prediction_layer_invalid_task():
    with pytest.raises(ValueError, match="multiclass"):
        PredictionLayer("multiclass")


# ---------------------------------------------------------------------------------------- Dice

def dice_reference(x, alpha, mean, var, eps):
    p = sigmoid((x - mean) / np.sqrt(var + eps))
    return alpha * (1 - p) * x + p * x


def test_dice_inference_matches_numpy():
    x = rand(7, 3, 5)
    layer = Dice(epsilon=1e-9)
    layer(x)
    alpha, mean, var = rand(5), rand(5), np.abs(rand(5)) + 0.3
    layer.alphas.assign(alpha)
    layer.bn.moving_mean.assign(mean)
    layer.bn.moving_variance.assign(var)
    out = layer(x, training=False).numpy()
    np.testing.assert_allclose(out, dice_reference(x, alpha, mean, var, 1e-9), rtol=1e-5,
                               atol=1e-6)
    assert_config_round_trip(layer, x, training=False)


def test_dice_training_uses_batch_statistics():
    x = rand(32, 4)
    layer = Dice()
    layer(x)
    alpha = rand(4)
    layer.alphas.assign(alpha)
    out = layer(x, training=True).numpy()
    expected = dice_reference(x, alpha, x.mean(0), x.var(0), 1e-9)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_dice_non_last_axis():
    x = rand(6, 3, 4)
    layer = Dice(axis=1)
    layer(x)
    assert tuple(layer.alphas.shape) == (3, 1)
    alpha = rand(3, 1)
    layer.alphas.assign(alpha)
    out = layer(x, training=False).numpy()
    # fresh moving statistics: mean 0, variance 1
    np.testing.assert_allclose(out, dice_reference(x, alpha, 0.0, 1.0, 1e-9), rtol=1e-5,
                               atol=1e-6)


# -------------------------------------------------------------------------- LayerNormalization

def layer_norm_reference(x, gamma, beta, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def test_layer_normalization_matches_numpy():
    x = rand(4, 3, 6) * 3 + 1
    layer = LayerNormalization()
    layer(x)
    assert tuple(layer.gamma.shape) == (6,) and tuple(layer.beta.shape) == (6,)
    gamma, beta = rand(6), rand(6)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    np.testing.assert_allclose(layer(x).numpy(), layer_norm_reference(x, gamma, beta, -1, 1e-9),
                               rtol=1e-4, atol=1e-5)
    assert layer.compute_output_shape((None, 3, 6)) == (None, 3, 6)
    assert_config_round_trip(layer, x)


def test_layer_normalization_options():
    x = rand(4, 3, 6)
    plain = LayerNormalization(center=False, scale=False, eps=1e-6)
    np.testing.assert_allclose(plain(x).numpy(), layer_norm_reference(x, 1, 0, -1, 1e-6),
                               rtol=1e-4, atol=1e-5)
    assert plain.weights == []
    both_axes = LayerNormalization(axis=(1, 2))
    out = both_axes(x).numpy()
    assert tuple(both_axes.gamma.shape) == (3, 6)
    np.testing.assert_allclose(out, layer_norm_reference(x, 1, 0, (1, 2), 1e-9), rtol=1e-4,
                               atol=1e-5)
    assert_config_round_trip(both_axes, x)


# -------------------------------------------------------------------------------------- Linear

@pytest.mark.parametrize("units", [1, 3])
@pytest.mark.parametrize("use_bias", [False, True])
def test_linear_modes_match_numpy(units, use_bias):
    sparse, dense = rand(5, 4, units), rand(5, 3)
    for mode, inputs in [(0, sparse), (1, dense), (2, [sparse, dense])]:
        layer = Linear(mode=mode, use_bias=use_bias, units=units)
        layer(inputs)
        expected = np.zeros((5, units), "float32")
        if mode in (0, 2):
            expected += sparse.sum(axis=1)
        if mode in (1, 2):
            kernel = rand(3, units)
            layer.kernel.assign(kernel)
            expected += dense @ kernel
        if use_bias:
            bias = rand(units)
            layer.bias.assign(bias)
            expected += bias
        out = layer(inputs).numpy()
        assert out.shape == (5, units)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
        assert_config_round_trip(layer, inputs)


def test_linear_invalid_mode():
    with pytest.raises(ValueError, match="mode"):
        Linear(mode=3)


# ------------------------------------------------------------------------------ FusedEmbedding

def make_fused():
    layer = FusedEmbedding(table_sizes=[5, 7, 3], embedding_dim=4, input_tables=[0, 1, 0, 2],
                           input_mask_zero=[False, True, True, False],
                           table_names=["user", "item", "city"])
    ids = [np.array([[0], [4], [2]], "int32"),
           np.array([[1, 6, 0, 0], [0, 0, 0, 0], [3, 2, 5, 6]], "int32"),
           np.array([[4, 0], [1, 3], [0, 0]], "int32"),
           np.array([[2], [0], [1]], "int32")]
    return layer, ids


def test_fused_embedding_reproduces_per_table_lookup():
    layer, ids = make_fused()
    layer(ids)
    table = rand(15, 4)
    layer.embeddings.assign(table)
    offsets = [0, 5, 12]
    outs = layer(ids)
    assert [tuple(o.shape) for o in outs] == [(3, 1, 4), (3, 4, 4), (3, 2, 4), (3, 1, 4)]
    for out, x, t in zip(outs, ids, layer.input_tables):
        per_table = table[offsets[t]:offsets[t] + layer.table_sizes[t]]
        np.testing.assert_allclose(out.numpy(), per_table[x])
    assert layer.compute_output_shape([(None, 1), (None, 4), (None, 2), (None, 1)]) == [
        (None, 1, 4), (None, 4, 4), (None, 2, 4), (None, 1, 4)]
    assert_config_round_trip(layer, ids)


def test_fused_embedding_uses_one_gather():
    layer, ids = make_fused()
    layer(ids)
    graph = tf.function(layer.call).get_concrete_function(
        [tf.TensorSpec((None, x.shape[1]), tf.int32) for x in ids]).graph
    gathers = [op for op in graph.get_operations() if "Gather" in op.type]
    assert len(gathers) == 1, [op.type for op in gathers]


def test_fused_embedding_masks_for_mask_zero_inputs():
    layer, ids = make_fused()
    masks = layer.compute_mask(ids)
    assert masks[0] is None and masks[3] is None
    np.testing.assert_array_equal(masks[1].numpy(), ids[1] != 0)
    np.testing.assert_array_equal(masks[2].numpy(), ids[2] != 0)
    # the masks travel with the outputs
    outs = layer(ids)
    assert getattr(outs[0], "_keras_mask", None) is None
    np.testing.assert_array_equal(outs[1]._keras_mask.numpy(), ids[1] != 0)


@pytest.mark.parametrize("bad, table", [(5, "user"), (-1, "user")])
def test_fused_embedding_out_of_range_id_names_the_table(bad, table):
    layer, ids = make_fused()
    layer(ids)
    ids[0] = np.array([[0], [bad], [1]], "int32")
    with pytest.raises(tf.errors.InvalidArgumentError, match=table):
        layer(ids)


def test_fused_embedding_out_of_range_inside_a_model():
    layer, ids = make_fused()
    inputs = [keras.Input((x.shape[1],), dtype="int32") for x in ids]
    model = keras.Model(inputs, layer(inputs))
    ids[1] = ids[1].copy()
    ids[1][2, 1] = 7  # table "item" has 7 rows: ids 0..6
    with pytest.raises(tf.errors.InvalidArgumentError, match="item"):
        model.predict(ids, verbose=0)


def fused_call(layer, ids, mode):
    """The layer on `ids` eagerly, or traced with every input's length unknown (the
    variable-length path: per-column table sizes built from the run-time lengths)."""
    if mode == "eager":
        return layer(ids)
    call = tf.function(layer.call).get_concrete_function(
        [tf.TensorSpec((None, None), tf.int32) for _ in ids])
    return call([tf.constant(x) for x in ids])


@pytest.mark.parametrize("mode", ["eager", "unknown_length"])
@pytest.mark.parametrize("which, row, position, bad, expected", [
    (1, 2, 3, 7, "id out of range for table item of size 7"),
    (2, 1, 1, -3, "negative id for table user of size 5"),
    (3, 2, 0, 3, "id out of range for table city of size 3"),
    (3, 0, 0, -1, "negative id for table city of size 3"),
])
def test_fused_embedding_bad_id_in_a_later_input_names_layer_table_and_size(
        mode, which, row, position, bad, expected):
    layer, ids = make_fused()
    layer(ids)
    ids[which] = ids[which].copy()
    ids[which][row, position] = bad
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        fused_call(layer, ids, mode)
    message = str(raised.value)
    assert f"{layer.name}: {expected}" in message
    # the offending value, the input it came from and where in that input
    for label, value in [("id", bad), ("in input", which), ("at batch row", row),
                         ("position", position)]:
        assert re.search(rf"{label}\W+{value}\b", message), (label, value, message)


@pytest.mark.parametrize("mode", ["eager", "unknown_length"])
def test_fused_embedding_valid_ids_match_numpy_gather(mode):
    layer, ids = make_fused()
    layer(ids)
    table = rand(15, 4)
    layer.embeddings.assign(table)
    ids[1] = np.array([[6, 6, 0, 1], [0, 0, 0, 0], [3, 2, 5, 6]], "int32")  # each table's edges
    ids[2] = np.array([[4, 0], [1, 3], [0, 4]], "int32")
    ids[3] = np.array([[2], [0], [2]], "int32")
    outs = fused_call(layer, ids, mode)
    offsets = [0, 5, 12]
    for out, x, t in zip(outs, ids, layer.input_tables):
        np.testing.assert_array_equal(out.numpy(), table[offsets[t] + x])


def test_fused_embedding_checks_all_inputs_with_one_assert():
    layer, ids = make_fused()
    layer(ids)
    graph = tf.function(layer.call).get_concrete_function(
        [tf.TensorSpec((None, None), tf.int32) for _ in ids]).graph.as_graph_def()
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    assert sum(n.op == "Assert" for n in nodes) == 1, [n.op for n in nodes]


def test_core_layers_are_custom_objects():
    for cls in (DNN, Dice, FusedEmbedding, LayerNormalization, Linear, PredictionLayer):
        assert custom_objects[cls.__name__] is cls


def test_dnn_with_output_activation_survives_savedmodel(tmp_path):
    import tf_keras as keras
    from ctr_models.layers import DNN, custom_objects
    inputs = keras.Input((3,))
    model = keras.Model(inputs, DNN([4, 2], output_activation="sigmoid")(inputs))
    x = np.random.default_rng(0).random((5, 3)).astype("float32")
    model.save(str(tmp_path / "m"))
    reloaded = keras.models.load_model(str(tmp_path / "m"), custom_objects)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
