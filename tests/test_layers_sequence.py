"""Sequence layers against NumPy references: pooling, weighting and DIN's attention pooling."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from ctr_models.layers import (AttentionSequencePoolingLayer, LocalActivationUnit,
                               SequencePoolingLayer, WeightedSequenceLayer, custom_objects)
from layer_testing import assert_config_round_trip, sigmoid

RNG = np.random.default_rng(11)
B, T, D = 5, 4, 3
LENGTHS = np.array([[4], [2], [0], [1], [3]], "int32")  # row 2 is all padding
MASK = np.arange(T)[None, :] < LENGTHS


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")






def pool_reference(seq, mask, mode):
    out = np.zeros((seq.shape[0], 1, seq.shape[2]), "float32")
    for b in range(seq.shape[0]):
        valid = seq[b][mask[b]]
        if len(valid) == 0:
            continue  # all padding pools to zeros
        out[b, 0] = {"sum": valid.sum(0), "mean": valid.mean(0), "max": valid.max(0)}[mode]
    return out


# ------------------------------------------------------------------------ SequencePoolingLayer

@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_sequence_pooling_with_lengths(mode):
    seq = rand(B, T, D) - 3.0  # negative values: max must not pick up a padded 0
    layer = SequencePoolingLayer(mode)
    out = layer([seq, LENGTHS]).numpy()
    assert out.shape == (B, 1, D)
    np.testing.assert_allclose(out, pool_reference(seq, MASK, mode), rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape([(None, T, D), (None, 1)]) == (None, 1, D)
    assert_config_round_trip(layer, [seq, LENGTHS])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_sequence_pooling_with_mask(mode):
    seq = rand(B, T, D) - 3.0
    layer = SequencePoolingLayer(mode, supports_masking=True)
    out = layer(seq, mask=tf.constant(MASK)).numpy()
    np.testing.assert_allclose(out, pool_reference(seq, MASK, mode), rtol=1e-5, atol=1e-6)
    # padded steps do not matter
    noisy = np.where(MASK[..., None], seq, 100.0).astype("float32")
    np.testing.assert_allclose(layer(noisy, mask=tf.constant(MASK)).numpy(), out, rtol=1e-6)


def test_sequence_pooling_mask_from_embedding_in_a_model():
    ids = keras.Input((T,), dtype="int32")
    emb = keras.layers.Embedding(10, D, mask_zero=True)
    model = keras.Model(ids, SequencePoolingLayer("mean", supports_masking=True)(emb(ids)))
    x = np.array([[1, 2, 0, 0], [0, 0, 0, 0]], "int32")
    table = emb.get_weights()[0]
    out = model.predict(x, verbose=0)
    np.testing.assert_allclose(out[0, 0], table[[1, 2]].mean(0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out[1, 0], 0.0)


def test_sequence_pooling_errors():
    with pytest.raises(ValueError, match="mode"):
        SequencePoolingLayer("median")
    with pytest.raises(ValueError, match="no mask"):
        SequencePoolingLayer("sum", supports_masking=True)(rand(B, T, D))


# ----------------------------------------------------------------------- WeightedSequenceLayer

def weighted_reference(seq, weight, mask, normalize):
    w = weight[..., 0].copy()
    out = np.zeros_like(seq)
    for b in range(seq.shape[0]):
        valid = mask[b]
        if normalize:
            row = np.zeros(seq.shape[1], "float32")
            if valid.any():
                e = np.exp(w[b][valid] - w[b][valid].max())
                row[valid] = e / e.sum()
        else:
            row = np.where(valid, w[b], 0.0)
        out[b] = seq[b] * row[:, None]
    return out


@pytest.mark.parametrize("normalize", [True, False])
def test_weighted_sequence_with_lengths(normalize):
    seq, weight = rand(B, T, D), rand(B, T, 1)
    layer = WeightedSequenceLayer(weight_normalization=normalize)
    out = layer([seq, LENGTHS, weight]).numpy()
    np.testing.assert_allclose(out, weighted_reference(seq, weight, MASK, normalize), rtol=1e-5,
                               atol=1e-6)
    assert_config_round_trip(layer, [seq, LENGTHS, weight])


@pytest.mark.parametrize("normalize", [True, False])
def test_weighted_sequence_with_mask(normalize):
    seq, weight = rand(B, T, D), rand(B, T, 1)
    layer = WeightedSequenceLayer(weight_normalization=normalize, supports_masking=True)
    mask = tf.constant(MASK)
    out = layer([seq, weight], mask=[mask, None])
    np.testing.assert_allclose(out.numpy(), weighted_reference(seq, weight, MASK, normalize),
                               rtol=1e-5, atol=1e-6)
    # the sequence mask is passed on for the pooling that follows
    np.testing.assert_array_equal(layer.compute_mask([seq, weight], [mask, None]).numpy(), MASK)
    if normalize:  # weights sum to one over valid steps (a row of padding gets none)
        w = layer([np.ones((B, T, 1), "float32"), weight], mask=[mask, None]).numpy()[..., 0]
        np.testing.assert_allclose(w.sum(1), MASK.any(1).astype("float32"), rtol=1e-5)


def test_weighted_sequence_needs_mask():
    with pytest.raises(ValueError, match="no mask"):
        WeightedSequenceLayer(supports_masking=True)([rand(B, T, D), rand(B, T, 1)])


# ------------------------------------------------------------------------ LocalActivationUnit

def local_activation_reference(layer, query, keys):
    """[q, k, q-k, q*k] -> DNN(sigmoid) -> Dense(1), in NumPy from the layer's weights."""
    q = np.repeat(query, keys.shape[1], axis=1)
    x = np.concatenate([q, keys, q - keys, q * keys], axis=-1)
    for dense in layer.dnn.dense_layers:
        kernel, bias = [w.numpy() for w in dense.weights]
        x = sigmoid(x @ kernel + bias)
    kernel, bias = [w.numpy() for w in layer.score.weights]
    return x @ kernel + bias


def test_local_activation_unit_shape_and_values():
    query, keys = rand(B, 1, D), rand(B, T, D)
    layer = LocalActivationUnit(hidden_units=(6, 5))
    out = layer([query, keys]).numpy()
    assert out.shape == (B, T, 1)
    assert layer.compute_output_shape([(None, 1, D), (None, T, D)]) == (None, T, 1)
    layer.score.bias.assign([0.3])
    np.testing.assert_allclose(layer([query, keys]).numpy(),
                               local_activation_reference(layer, query, keys), rtol=1e-5,
                               atol=1e-5)
    assert_config_round_trip(layer, [query, keys])


def test_local_activation_unit_options():
    query, keys = rand(B, 1, D), rand(B, T, D)
    layer = LocalActivationUnit((4,), activation="dice", use_bn=True, dropout_rate=0.2)
    assert layer([query, keys], training=True).shape == (B, T, 1)
    assert_config_round_trip(layer, [query, keys], training=False)
    with pytest.raises(ValueError, match="same embedding dim"):
        LocalActivationUnit()([rand(B, 1, D), rand(B, T, D + 1)])


# -------------------------------------------------------------- AttentionSequencePoolingLayer

def attention_reference(scores, keys, mask, normalize):
    """scores [B, T, 1] from the unit -> weights [B, 1, T] and pooled [B, 1, d]."""
    s = scores[..., 0]
    w = np.zeros_like(s)
    for b in range(s.shape[0]):
        valid = mask[b]
        if not valid.any():
            continue
        if normalize:
            e = np.exp(s[b][valid] - s[b][valid].max())
            w[b][valid] = e / e.sum()
        else:
            w[b][valid] = s[b][valid]
    return w[:, None, :], np.einsum("bt,btd->bd", w, keys)[:, None, :]


@pytest.mark.parametrize("normalize", [True, False])
def test_attention_pooling_with_lengths(normalize):
    query, keys = rand(B, 1, D), rand(B, T, D)
    layer = AttentionSequencePoolingLayer((6, 5), weight_normalization=normalize)
    out = layer([query, keys, LENGTHS]).numpy()
    assert out.shape == (B, 1, D)
    assert layer.compute_output_shape([(None, 1, D), (None, T, D), (None, 1)]) == (None, 1, D)
    scores = layer.local_att([query, keys]).numpy()
    weights, pooled = attention_reference(scores, keys, MASK, normalize)
    np.testing.assert_allclose(out, pooled, rtol=1e-5, atol=1e-5)
    scorer = AttentionSequencePoolingLayer((6, 5), weight_normalization=normalize,
                                           return_score=True)
    scorer([query, keys, LENGTHS])
    scorer.set_weights(layer.get_weights())
    got = scorer([query, keys, LENGTHS]).numpy()
    assert got.shape == (B, 1, T)
    np.testing.assert_allclose(got, weights, rtol=1e-5, atol=1e-6)
    assert scorer.compute_output_shape([(None, 1, D), (None, T, D), (None, 1)]) == (None, 1, T)
    assert_config_round_trip(layer, [query, keys, LENGTHS])


def test_attention_weights_sum_to_one_and_ignore_masked_steps():
    query, keys = rand(B, 1, D), rand(B, T, D)
    layer = AttentionSequencePoolingLayer((4,), weight_normalization=True, return_score=True,
                                          supports_masking=True)
    mask = tf.constant(MASK)
    weights = layer([query, keys], mask=[None, mask]).numpy()[:, 0, :]
    np.testing.assert_allclose(weights.sum(1), MASK.any(1).astype("float32"), rtol=1e-5)
    assert np.all(weights[~MASK] == 0) and np.all(weights[MASK] > 0)
    # changing the keys at masked steps changes nothing
    pooling = AttentionSequencePoolingLayer((4,), weight_normalization=True,
                                            supports_masking=True)
    pooling([query, keys], mask=[None, mask])
    pooling.set_weights(layer.get_weights())
    noisy = np.where(MASK[..., None], keys, 50 * rand(B, T, D)).astype("float32")
    np.testing.assert_allclose(pooling([query, noisy], mask=[None, mask]).numpy(),
                               pooling([query, keys], mask=[None, mask]).numpy(), rtol=1e-5,
                               atol=1e-6)
    # the mask path and the length path agree
    by_length = AttentionSequencePoolingLayer((4,), weight_normalization=True)
    by_length([query, keys, LENGTHS])
    by_length.set_weights(layer.get_weights())
    np.testing.assert_allclose(by_length([query, keys, LENGTHS]).numpy(),
                               pooling([query, keys], mask=[None, mask]).numpy(), rtol=1e-5,
                               atol=1e-6)


def test_attention_pooling_errors():
    query, keys = rand(B, 1, D), rand(B, T, D)
    with pytest.raises(ValueError, match="no mask"):
        AttentionSequencePoolingLayer(supports_masking=True)([query, keys])
    with pytest.raises(ValueError, match="keys_length"):
        AttentionSequencePoolingLayer()([query, keys])


def test_attention_pooling_in_a_saved_model(tmp_path):
    """DIN-style use: masked history embeddings, Dice attention, SavedModel round trip."""
    item = keras.Input((1,), dtype="int32")
    hist = keras.Input((T,), dtype="int32")
    emb = keras.layers.Embedding(10, D, mask_zero=True)
    att = AttentionSequencePoolingLayer((4,), att_activation="dice", weight_normalization=True,
                                        supports_masking=True)([emb(item), emb(hist)])
    model = keras.Model([item, hist], keras.layers.Flatten()(att))
    model.compile("adam", "mse")
    x = [RNG.integers(1, 10, (32, 1)).astype("int32"),
         np.where(np.arange(T)[None] < RNG.integers(0, T + 1, (32, 1)),
                  RNG.integers(1, 10, (32, T)), 0).astype("int32")]
    model.fit(x, rand(32, D), epochs=1, verbose=0)
    pred = model.predict(x, verbose=0)
    assert np.all(pred[(x[1] == 0).all(1)] == 0)  # no history -> zero vector
    model.save(str(tmp_path / "m"))
    reloaded = keras.models.load_model(str(tmp_path / "m"), custom_objects)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), pred, rtol=1e-5, atol=1e-6)


def test_sequence_layers_are_custom_objects():
    for cls in (SequencePoolingLayer, WeightedSequenceLayer, LocalActivationUnit,
                AttentionSequencePoolingLayer):
        assert custom_objects[cls.__name__] is cls
