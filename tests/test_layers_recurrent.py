"""DIEN's recurrent layers against NumPy references: the GRU / AGRU / AUGRU equations of the
paper step by step with the layers' own weights, padded steps keeping the state, and the
auxiliary loss."""
import numpy as np
import pytest
import tensorflow as tf

import tf_keras as keras

from ctr_models.layers import AuxiliaryLoss, DynamicGRU, StepMask, custom_objects
from ctr_models.layers.recurrent import AGRUCell, AUGRUCell, InterestGRUCell
from layer_testing import assert_config_round_trip, rand, randomize_weights, sigmoid

B, T, D = 4, 5, 3
LENGTHS = np.array([[5], [3], [0], [1]], "int32")  # row 2 is all padding
LENGTH_MASK = np.arange(T)[None, :] < LENGTHS
# a mask with holes and front padding: the GRU must skip those steps, not stop at them
HOLE_MASK = np.array([[1, 0, 1, 1, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 1, 0, 0, 0]], bool)
X = rand(B, T, D, seed=3)
ATT = np.random.default_rng(4).random((B, T, 1)).astype("float32")


def gru_reference(x, valid, kernel, recurrent_kernel, bias, gru_type, att=None):
    """The paper's equations, one step at a time; invalid steps keep the state, output 0."""
    gates = ("reset", "candidate") if gru_type == "AGRU" else ("update", "reset", "candidate")
    units = recurrent_kernel.shape[0]
    h = np.zeros((x.shape[0], units), "float64")
    outputs = np.zeros((x.shape[0], x.shape[1], units))
    for t in range(x.shape[1]):
        xw = dict(zip(gates, np.split(x[:, t] @ kernel + bias, len(gates), axis=-1)))
        hu = dict(zip(gates, np.split(h @ recurrent_kernel, len(gates), axis=-1)))
        r = sigmoid(xw["reset"] + hu["reset"])
        cand = np.tanh(xw["candidate"] + r * hu["candidate"])
        if gru_type == "AGRU":
            u = att[:, t]
        else:
            u = sigmoid(xw["update"] + hu["update"])
            if gru_type == "AUGRU":
                u = att[:, t] * u
        new_h = (1 - u) * h + u * cand
        keep = ~valid[:, t:t + 1]
        h = np.where(keep, h, new_h)
        outputs[:, t] = np.where(keep, 0.0, h)
    return outputs, h


def gru_inputs(gru_type, steps, att=ATT):
    return [X, steps] + ([att] if gru_type in ("AGRU", "AUGRU") else [])


def cell_weights(layer):
    cell = layer.rnn.cell
    return cell.kernel.numpy(), cell.recurrent_kernel.numpy(), cell.bias.numpy()


@pytest.mark.parametrize("gru_type", ["GRU", "AIGRU", "AGRU", "AUGRU"])
@pytest.mark.parametrize("steps", ["lengths", "mask"])
def test_dynamic_gru_matches_numpy(gru_type, steps):
    valid = LENGTH_MASK if steps == "lengths" else HOLE_MASK
    step_input = LENGTHS if steps == "lengths" else tf.constant(HOLE_MASK)
    seq_layer = DynamicGRU(gru_type=gru_type)
    seq_layer(gru_inputs(gru_type, step_input))
    randomize_weights(seq_layer, seed=7)
    out = seq_layer(gru_inputs(gru_type, step_input)).numpy()
    expected_seq, expected_last = gru_reference(X, valid, *cell_weights(seq_layer), gru_type,
                                                att=ATT)
    assert out.shape == (B, T, D)
    np.testing.assert_allclose(out, expected_seq, rtol=1e-5, atol=1e-6)

    last_layer = DynamicGRU(gru_type=gru_type, return_sequence=False)
    last_layer(gru_inputs(gru_type, step_input))
    last_layer.set_weights(seq_layer.get_weights())
    last = last_layer(gru_inputs(gru_type, step_input)).numpy()
    assert last.shape == (B, 1, D)
    np.testing.assert_allclose(last[:, 0], expected_last, rtol=1e-5, atol=1e-6)
    if steps == "lengths":
        np.testing.assert_array_equal(last[2, 0], 0.0)  # an empty sequence keeps the zero state


def test_gru_step_equations_with_num_units():
    """num_units != input dim; one step from a zero state written out explicitly."""
    layer = DynamicGRU(num_units=2, gru_type="GRU", return_sequence=False)
    x = X[:, :1]
    layer([x, np.ones((B, 1), "int32")])
    kernel, recurrent_kernel, bias = randomize_weights(layer, seed=2)
    assert kernel.shape == (D, 6) and recurrent_kernel.shape == (2, 6) and bias.shape == (6,)
    z = x[:, 0] @ kernel + bias  # h = 0: the recurrent part vanishes
    u, r, c = sigmoid(z[:, :2]), sigmoid(z[:, 2:4]), np.tanh(z[:, 4:])
    got = layer([x, np.ones((B, 1), "int32")]).numpy()[:, 0]
    np.testing.assert_allclose(got, u * c, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("gru_type", ["AGRU", "AUGRU"])
def test_attention_gates_the_update(gru_type):
    """Attention 0 leaves the interest unchanged; AUGRU with attention 1 is the plain GRU; AGRU
    with attention 1 takes the candidate state; the update really moves with the score."""
    att_gru = DynamicGRU(gru_type=gru_type)
    att_gru(gru_inputs(gru_type, LENGTHS))
    randomize_weights(att_gru, seed=5)
    zero_at_2 = ATT.copy()
    zero_at_2[:, 2] = 0.0
    out = att_gru(gru_inputs(gru_type, LENGTHS, zero_at_2)).numpy()
    np.testing.assert_allclose(out[0, 2], out[0, 1], rtol=1e-6)  # step 2 skipped by attention
    ones = np.ones_like(ATT)
    with_ones = att_gru(gru_inputs(gru_type, LENGTHS, ones)).numpy()
    if gru_type == "AUGRU":
        plain = DynamicGRU(gru_type="GRU")
        plain([X, LENGTHS])
        plain.set_weights(att_gru.get_weights())
        np.testing.assert_allclose(with_ones, plain([X, LENGTHS]).numpy(), rtol=1e-5, atol=1e-6)
    half = att_gru(gru_inputs(gru_type, LENGTHS, 0.5 * ones)).numpy()
    assert not np.allclose(half[0], with_ones[0], atol=1e-4)


def test_padded_step_values_do_not_matter():
    layer = DynamicGRU(gru_type="AUGRU", return_sequence=False)
    noisy_x = np.where(LENGTH_MASK[..., None], X, 50.0).astype("float32")
    noisy_att = np.where(LENGTH_MASK[..., None], ATT, 0.9).astype("float32")
    clean = layer([X, LENGTHS, ATT]).numpy()
    np.testing.assert_allclose(layer([X, LENGTHS, ATT[..., 0]]).numpy(), clean, rtol=1e-6)
    np.testing.assert_allclose(layer([noisy_x, LENGTHS, noisy_att]).numpy(), clean, rtol=1e-6)


def test_dynamic_gru_graph_mode_output_mask_and_config():
    layer = DynamicGRU(gru_type="AUGRU")
    eager = layer([X, LENGTHS, ATT]).numpy()
    graph = tf.function(lambda x, n, a: layer([x, n, a]))(X, LENGTHS, ATT).numpy()
    np.testing.assert_allclose(graph, eager, rtol=1e-6)
    np.testing.assert_array_equal(layer.compute_mask([X, LENGTHS, ATT]).numpy(), LENGTH_MASK)
    assert DynamicGRU(return_sequence=False).compute_mask([X, LENGTHS]) is None
    shape = layer.compute_output_shape([(None, T, D), (None, 1), (None, T, 1)])
    assert tuple(shape) == (None, T, D)
    assert tuple(DynamicGRU(4, return_sequence=False).compute_output_shape(
        [(None, T, D), (None, 1)])) == (None, 1, 4)
    for gru_type in ("GRU", "AGRU"):
        assert_config_round_trip(DynamicGRU(2, gru_type=gru_type),
                                 gru_inputs(gru_type, LENGTHS))
    for name in ("DynamicGRU", "AuxiliaryLoss", "InterestGRUCell", "AGRUCell", "AUGRUCell"):
        assert name in custom_objects


def test_step_mask_feeds_the_embedding_padding_to_the_gru():
    ids = keras.Input((T,), dtype="int32")
    embedded = keras.layers.Embedding(10, D, mask_zero=True)(ids)
    steps = StepMask()(embedded)
    model = keras.Model(ids, [steps, DynamicGRU(return_sequence=False)([embedded, steps])])
    x = np.where(HOLE_MASK, 1 + np.arange(B * T).reshape(B, T) % 9, 0).astype("int32")
    got_steps, _ = model(x)
    np.testing.assert_array_equal(got_steps.numpy(), HOLE_MASK)
    assert StepMask()(X).numpy().all() and StepMask()(X).shape == (B, T)


def test_cells_config_round_trip():
    for cell_class in (InterestGRUCell, AGRUCell, AUGRUCell):
        cell = cell_class(3, seed=9)
        clone = cell_class.from_config(cell.get_config())
        assert (clone.units, clone.seed) == (3, 9)


def test_dynamic_gru_errors():
    with pytest.raises(ValueError, match="gru_type"):
        DynamicGRU(gru_type="LSTM")
    with pytest.raises(ValueError, match="num_units"):
        DynamicGRU(num_units=0)
    with pytest.raises(ValueError, match="att_score"):
        DynamicGRU(gru_type="AUGRU")([X, LENGTHS])
    with pytest.raises(ValueError, match=r"\[inputs, lengths_or_mask\]"):
        DynamicGRU(gru_type="GRU")([X, LENGTHS, ATT])


# ------------------------------------------------------------------------------ AuxiliaryLoss

def aux_reference(layer, states, clicked, non_clicked, valid):
    def prob(h, e):
        z = np.concatenate([h, e], axis=-1)
        for dense in layer.mlp.dense_layers:
            z = sigmoid(z @ dense.kernel.numpy() + dense.bias.numpy())
        return sigmoid(z @ layer.logit.kernel.numpy() + layer.logit.bias.numpy())[..., 0]

    total, count = 0.0, 0
    for b in range(states.shape[0]):
        for t in range(states.shape[1] - 1):
            if valid[b, t] and valid[b, t + 1]:
                total += -np.log(prob(states[b, t], clicked[b, t + 1]))
                total += -np.log(1 - prob(states[b, t], non_clicked[b, t + 1]))
                count += 1
    return total / count


def test_auxiliary_loss_matches_numpy():
    states, clicked = rand(B, T, 2, seed=1), rand(B, T, D, seed=2)
    non_clicked = rand(B, T, D, seed=3)
    layer = AuxiliaryLoss(hidden_units=(4, 3))
    layer([states, clicked, non_clicked, LENGTHS])
    randomize_weights(layer, seed=8)
    loss = layer([states, clicked, non_clicked, LENGTHS]).numpy()
    assert loss.shape == ()
    np.testing.assert_allclose(loss, aux_reference(layer, states, clicked, non_clicked,
                                                   LENGTH_MASK), rtol=1e-5)
    # the same pairs through a bool mask; a mask with holes drops the pairs that touch a hole
    np.testing.assert_allclose(layer([states, clicked, non_clicked, tf.constant(LENGTH_MASK)]),
                               loss, rtol=1e-6)
    np.testing.assert_allclose(
        layer([states, clicked, non_clicked, tf.constant(HOLE_MASK)]).numpy(),
        aux_reference(layer, states, clicked, non_clicked, HOLE_MASK), rtol=1e-5)
    # values at padded steps do not matter
    pad = ~LENGTH_MASK[..., None]
    noisy = [np.where(pad, 9.0, a).astype("float32") for a in (states, clicked, non_clicked)]
    np.testing.assert_allclose(layer(noisy + [LENGTHS]).numpy(), loss, rtol=1e-6)
    assert_config_round_trip(layer, [states, clicked, non_clicked, LENGTHS])


def test_auxiliary_loss_without_pairs_is_zero_and_errors():
    states, items = rand(B, T, 2), rand(B, T, D)
    empty = np.ones((B, 1), "int32")  # length 1: no (t, t+1) pair
    assert AuxiliaryLoss()([states, items, items, empty]).numpy() == 0.0
    with pytest.raises(ValueError, match="lengths_or_mask"):
        AuxiliaryLoss()([states, items, items])
    with pytest.raises(ValueError, match="same dim"):
        AuxiliaryLoss()([states, items, rand(B, T, D + 1), LENGTHS])
