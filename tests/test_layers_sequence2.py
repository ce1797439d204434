"""PositionEncoding, BiasEncoding, Transformer and BiLSTM against NumPy references."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from ctr_models.layers import (BiasEncoding, BiLSTM, PositionEncoding, Transformer,
                               custom_objects)
from layer_testing import assert_config_round_trip, rand, randomize_weights

B, T, D = 4, 5, 4
LENGTHS = np.array([[5], [3], [1], [0]], "int32")  # row 3 is all padding
MASK = np.arange(T)[None, :] < LENGTHS


def sinusoid_reference(length, dim):
    table = np.zeros((length, dim))
    for pos in range(length):
        for i in range(0, dim, 2):
            angle = pos / 10000 ** (i / dim)  # i = 2k: the pair (2k, 2k+1) shares the angle
            table[pos, i] = np.sin(angle)
            if i + 1 < dim:
                table[pos, i + 1] = np.cos(angle)
    return table


# --------------------------------------------------------------------------- PositionEncoding

@pytest.mark.parametrize("dim", [4, 5])
def test_position_encoding_adds_the_paper_sinusoids_scaled(dim):
    x = rand(2, T, dim)
    layer = PositionEncoding()
    out = layer(x).numpy()
    np.testing.assert_allclose(out - x, np.broadcast_to(sinusoid_reference(T, dim) * dim ** 0.5,
                                                        out.shape), rtol=1e-5, atol=1e-5)
    assert len(layer.trainable_weights) == 1
    assert_config_round_trip(layer, x)


def test_position_encoding_options():
    x = rand(2, T, D)
    layer = PositionEncoding(pos_embedding_trainable=False, zero_pad=True, scale=False)
    out = layer(x).numpy()
    expected = sinusoid_reference(T, D)
    expected[0] = 0.0
    np.testing.assert_allclose(out - x, np.broadcast_to(expected, out.shape), atol=1e-5)
    assert not layer.trainable_weights and len(layer.non_trainable_weights) == 1
    mask = tf.constant(MASK[:2])
    np.testing.assert_array_equal(layer.compute_mask(x, mask).numpy(), MASK[:2])
    with pytest.raises(ValueError, match="T and d known"):
        PositionEncoding()(keras.Input((None, D)))


# ------------------------------------------------------------------------------- BiasEncoding

def test_bias_encoding_adds_session_position_and_unit_biases():
    sessions = [rand(B, T, D, seed=k) for k in range(3)]
    layer = BiasEncoding(3)
    layer(sessions)
    sess_bias, pos_bias, unit_bias = randomize_weights(layer)
    assert sess_bias.shape == (3, 1, 1) and pos_bias.shape == (1, T, 1)
    assert unit_bias.shape == (1, 1, D)
    out = layer(sessions)
    assert len(out) == 3
    for k in range(3):
        expected = np.empty((B, T, D), "float32")
        for t in range(T):
            for c in range(D):
                expected[:, t, c] = (sessions[k][:, t, c] + sess_bias[k, 0, 0]
                                     + pos_bias[0, t, 0] + unit_bias[0, 0, c])
        np.testing.assert_allclose(out[k].numpy(), expected, rtol=1e-6, atol=1e-6)
    masks = [tf.constant(MASK)] * 3
    assert layer.compute_mask(sessions, masks) is masks
    assert_config_round_trip(layer, sessions)


def test_bias_encoding_single_session_and_errors():
    x = rand(B, T, D)
    layer = BiasEncoding(1)
    out = layer(x)
    assert out.shape == (B, T, D)
    sess_bias, pos_bias, unit_bias = [w.numpy() for w in layer.weights]
    np.testing.assert_allclose(out.numpy(), x + sess_bias[0] + pos_bias + unit_bias, atol=1e-7)
    with pytest.raises(ValueError, match="got 2 session inputs"):
        BiasEncoding(3)([x, x])
    with pytest.raises(ValueError, match="one shape"):
        BiasEncoding(2)([x, rand(B, T + 1, D)])
    with pytest.raises(ValueError, match="positive int"):
        BiasEncoding(0)


# -------------------------------------------------------------------------------- Transformer

def layer_norm(x, gamma, beta, eps=1e-9):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def softmax_rows(scores, allowed):
    """Softmax over allowed entries of the last axis; rows with none allowed are zeros."""
    out = np.zeros_like(scores)
    for idx in np.ndindex(scores.shape[:-1]):
        ok = allowed[idx]
        if ok.any():
            e = np.exp(scores[idx][ok] - scores[idx][ok].max())
            out[idx][ok] = e / e.sum()
    return out


def transformer_reference(layer, queries, keys, query_mask, key_mask):
    """The block in NumPy from the layer's weights, returning [B, Tq, d] before pooling."""
    h, d = layer.head_num, layer.att_embedding_size
    if layer.use_positional_encoding:
        dim = queries.shape[-1]
        queries = queries + layer.query_pe.lookup_table.numpy() * dim ** 0.5
        keys = keys + layer.key_pe.lookup_table.numpy() * dim ** 0.5
    split = lambda x: x.reshape(x.shape[0], x.shape[1], h, d)
    q = split(queries @ layer.W_Query.numpy())
    k = split(keys @ layer.W_key.numpy())
    v = split(keys @ layer.W_Value.numpy())
    if layer.attention_type == "scaled_dot_product":
        scores = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(d)
    elif layer.attention_type == "cos":
        unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)
        scores = 20 * np.einsum("bqhd,bkhd->bhqk", unit(q), unit(k))
    elif layer.attention_type == "ln":
        qn = layer_norm(q, *[w.numpy() for w in layer.att_ln_q.weights])
        kn = layer_norm(k, *[w.numpy() for w in layer.att_ln_k.weights])
        scores = np.einsum("bqhd,bkhd->bhqk", qn, kn) / np.sqrt(d)
    else:
        hidden = np.tanh(q[:, :, None] + k[:, None] + layer.b.numpy())
        scores = np.transpose(hidden @ layer.v.numpy(), (0, 3, 1, 2))
    allowed = key_mask[:, None, None, :] & query_mask[:, None, :, None]
    if layer.blinding:
        allowed = allowed & ~np.eye(queries.shape[1], keys.shape[1], dtype=bool)
    allowed = np.broadcast_to(allowed, scores.shape)
    weights = softmax_rows(scores, allowed)
    result = np.einsum("bhqk,bkhd->bqhd", weights, v).reshape(queries.shape[0], -1, h * d)
    if layer.use_res:
        result = result + queries
    if layer.use_layer_norm:
        result = layer_norm(result, *[w.numpy() for w in layer.ln_attention.weights])
    if layer.use_feed_forward:
        ffn = np.maximum(result @ layer.fw1.numpy(), 0) @ layer.fw2.numpy()
        result = result + ffn if layer.use_res else ffn
        if layer.use_layer_norm:
            result = layer_norm(result, *[w.numpy() for w in layer.ln_feed_forward.weights])
    return result


def pooled(result, query_mask, mode):
    total = (result * query_mask[..., None]).sum(1, keepdims=True)
    if mode == "sum":
        return total
    count = query_mask.sum(1)[:, None, None]
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def test_transformer_single_head_is_masked_scaled_dot_product_attention():
    """One head, no FFN/encoding/residual: out = softmax(x Wq (x Wk)^T / sqrt(d)) x Wv over the
    valid keys, by hand."""
    x = rand(B, T, D)
    layer = Transformer(att_embedding_size=D, head_num=1, use_positional_encoding=False,
                        use_res=False, use_feed_forward=False, blinding=False, output_type=None)
    out = layer([x, x, LENGTHS, LENGTHS]).numpy()
    wq, wk, wv = layer.W_Query.numpy(), layer.W_key.numpy(), layer.W_Value.numpy()
    for b in range(B):
        n = LENGTHS[b, 0]
        for t in range(n):
            scores = (x[b, t] @ wq) @ (x[b, :n] @ wk).T / np.sqrt(D)
            w = np.exp(scores - scores.max())
            w /= w.sum()
            np.testing.assert_allclose(out[b, t], w @ (x[b, :n] @ wv), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(out[b, n:], 0.0, atol=1e-7)  # padded queries attend nowhere


@pytest.mark.parametrize("attention_type", ["scaled_dot_product", "cos", "ln", "additive"])
@pytest.mark.parametrize("output_type", ["mean", "sum", None])
def test_transformer_matches_reference(attention_type, output_type):
    x = rand(B, T, D)
    layer = Transformer(att_embedding_size=2, head_num=2, use_layer_norm=True,
                        attention_type=attention_type, output_type=output_type)
    layer([x, x, LENGTHS, LENGTHS])
    randomize_weights(layer)
    out = layer([x, x, LENGTHS, LENGTHS]).numpy()
    full = transformer_reference(layer, x, x, MASK, MASK)
    if output_type is None:
        assert out.shape == (B, T, D)
        np.testing.assert_allclose(out[MASK], full[MASK], rtol=1e-4, atol=1e-4)
    else:
        assert out.shape == (B, 1, D)
        np.testing.assert_allclose(out, pooled(full, MASK, output_type), rtol=1e-4, atol=1e-4)
    assert_config_round_trip(layer, [x, x, LENGTHS, LENGTHS])


@pytest.mark.parametrize("use_res", [True, False])
def test_transformer_mask_path_equals_length_path_and_ignores_padding(use_res):
    x = rand(B, T, D)
    by_length = Transformer(2, 2, use_res=use_res)
    expected = by_length([x, x, LENGTHS, LENGTHS]).numpy()
    np.testing.assert_allclose(
        expected, pooled(transformer_reference(by_length, x, x, MASK, MASK), MASK, "mean"),
        rtol=1e-4, atol=1e-5)
    by_mask = Transformer(2, 2, use_res=use_res, supports_masking=True)
    mask = tf.constant(MASK)
    by_mask([x, x], mask=[mask, mask])
    by_mask.set_weights(by_length.get_weights())
    np.testing.assert_allclose(by_mask([x, x], mask=[mask, mask]).numpy(), expected, rtol=1e-5,
                               atol=1e-6)
    noisy = np.where(MASK[..., None], x, 30 * rand(B, T, D, seed=5)).astype("float32")
    np.testing.assert_allclose(by_mask([noisy, noisy], mask=[mask, mask]).numpy(), expected,
                               rtol=1e-5, atol=1e-6)
    # pooled output's mask: whether the sequence had any valid step
    np.testing.assert_array_equal(by_mask.compute_mask([x, x], [mask, mask]).numpy(),
                                  MASK.any(1, keepdims=True))
    np.testing.assert_array_equal(
        by_length.compute_mask([x, x, LENGTHS, LENGTHS]).numpy(), MASK.any(1, keepdims=True))


def test_transformer_blinding_leaves_a_lone_step_without_attention():
    x = rand(B, T, D)
    layer = Transformer(D, 1, use_positional_encoding=False, use_res=False,
                        use_feed_forward=False, blinding=True, output_type=None)
    out = layer([x, x, LENGTHS, LENGTHS]).numpy()
    np.testing.assert_allclose(out[2], 0.0)  # length 1: its only key is itself
    np.testing.assert_allclose(out[MASK], transformer_reference(layer, x, x, MASK, MASK)[MASK],
                               rtol=1e-4, atol=1e-5)


def test_transformer_cross_attention_and_sequence_mask():
    queries, keys = rand(B, 2, D), rand(B, T, D, seed=3)
    q_len = np.array([[2], [1], [2], [0]], "int32")
    layer = Transformer(2, 2, blinding=False, output_type=None)
    out = layer([queries, keys, q_len, LENGTHS]).numpy()
    q_mask = np.arange(2)[None] < q_len
    np.testing.assert_allclose(out[q_mask],
                               transformer_reference(layer, queries, keys, q_mask, MASK)[q_mask],
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(layer.compute_mask([queries, keys, q_len, LENGTHS]).numpy(),
                                  q_mask)


def test_transformer_dropout_and_errors():
    x = rand(B, T, D)
    layer = Transformer(2, 2, dropout_rate=0.5)
    train = layer([x, x, LENGTHS, LENGTHS], training=True).numpy()
    infer = layer([x, x, LENGTHS, LENGTHS], training=False).numpy()
    assert not np.allclose(train, infer)
    with pytest.raises(ValueError, match="must equal the input dim"):
        Transformer(1, 8)([x, x, LENGTHS, LENGTHS])
    with pytest.raises(ValueError, match="attention_type"):
        Transformer(attention_type="dot")
    with pytest.raises(ValueError, match="output_type"):
        Transformer(output_type="max")
    with pytest.raises(ValueError, match="blinding needs as many queries"):
        Transformer(2, 2)([rand(B, 2, D), x, LENGTHS, LENGTHS])
    with pytest.raises(ValueError, match="query_length, key_length"):
        Transformer(2, 2)([x, x])
    with pytest.raises(ValueError, match="Keras masks"):
        Transformer(2, 2, supports_masking=True)([x, x])


def test_transformer_in_a_saved_model(tmp_path):
    ids = keras.Input((T,), dtype="int32")
    emb = keras.layers.Embedding(10, D, mask_zero=True)(ids)
    seq = Transformer(2, 2, supports_masking=True, output_type=None, use_layer_norm=True)(
        [emb, emb])
    out = Transformer(2, 2, supports_masking=True, blinding=False)([seq, seq])
    model = keras.Model(ids, keras.layers.Flatten()(out))
    x = np.where(MASK, np.random.default_rng(0).integers(1, 10, (B, T)), 0).astype("int32")
    pred = model.predict(x, verbose=0)
    np.testing.assert_allclose(pred[3], 0.0)  # no valid step pools to zeros
    model.save(str(tmp_path / "m"))
    reloaded = keras.models.load_model(str(tmp_path / "m"), custom_objects)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), pred, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------- BiLSTM

def test_bilstm_forward_direction_is_a_keras_lstm_and_merge_modes_combine_directions():
    x = rand(B, T, D)
    both = BiLSTM(3, layers=1, dropout_rate=0.0, merge_mode=None)
    fw, bw = [o.numpy() for o in both(x)]
    assert fw.shape == bw.shape == (B, T, 3)
    plain = keras.layers.LSTM(3, return_sequences=True)
    plain(x)
    plain.set_weights(both.fw_lstm[0].get_weights())
    np.testing.assert_allclose(fw, plain(x).numpy(), rtol=1e-5, atol=1e-6)
    # the backward stack reads the sequence reversed and its output is put back in order
    plain.set_weights(both.bw_lstm[0].get_weights())
    np.testing.assert_allclose(bw, plain(x[:, ::-1]).numpy()[:, ::-1], rtol=1e-5, atol=1e-6)
    expected = {"fw": fw, "bw": bw, "sum": fw + bw, "mul": fw * bw, "ave": (fw + bw) / 2,
                "concat": np.concatenate([fw, bw], -1)}
    for mode, value in expected.items():
        layer = BiLSTM(3, layers=1, dropout_rate=0.0, merge_mode=mode)
        layer(x)
        layer.set_weights(both.get_weights())
        out = layer(x).numpy()
        np.testing.assert_allclose(out, value, rtol=1e-5, atol=1e-6)
        assert tuple(layer.compute_output_shape((None, T, D))) == (None, T) + value.shape[2:]


def test_bilstm_stacks_residuals_and_mask():
    x = rand(B, T, D)
    layer = BiLSTM(D, layers=2, res_layers=1, dropout_rate=0.0, merge_mode=None)
    fw, _ = layer(x)
    first = layer.fw_lstm[0](x)
    np.testing.assert_allclose(fw.numpy(), layer.fw_lstm[1](first).numpy() + first.numpy(),
                               rtol=1e-5, atol=1e-6)
    # with a mask, valid steps equal a run on the valid prefix alone; padding outputs zeros
    masked = BiLSTM(3, layers=2, dropout_rate=0.0, merge_mode="concat")
    mask = tf.constant(MASK)
    out = masked(x, mask=mask).numpy()
    for b in range(B):
        n = LENGTHS[b, 0]
        if n:
            np.testing.assert_allclose(out[b, :n], masked(x[b:b + 1, :n]).numpy()[0], rtol=1e-5,
                                       atol=1e-6)
        np.testing.assert_allclose(out[b, n:], 0.0)
    assert masked.compute_mask(x, mask) is mask
    assert_config_round_trip(masked, x)
    with pytest.raises(ValueError, match="units == input dim"):
        BiLSTM(3, layers=1, res_layers=1)(x)
    with pytest.raises(ValueError, match="merge_mode"):
        BiLSTM(3, merge_mode="max")


def test_new_sequence_layers_are_custom_objects():
    for cls in (PositionEncoding, Transformer, BiasEncoding, BiLSTM):
        assert custom_objects[cls.__name__] is cls
