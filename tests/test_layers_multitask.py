"""ExpertGate (the MMoE / PLE gate) against a NumPy reference with the layer's own weights."""
import numpy as np
import pytest
import tensorflow as tf

from ctr_models.layers import ExpertGate, custom_objects
from layer_testing import assert_config_round_trip, rand, randomize_weights


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def gate_reference(layer, gate_input, experts):
    """softmax(relu-DNN(gate_input) @ W) weighted sum of the experts, from the layer's weights."""
    hidden = gate_input
    if layer.gate_dnn is not None:
        for dense in layer.gate_dnn.dense_layers:
            hidden = np.maximum(hidden @ dense.kernel.numpy() + dense.bias.numpy(), 0)
    gate = softmax(hidden @ layer.gate_kernel.kernel.numpy())
    return gate, np.einsum("be,bed->bd", gate, np.stack(experts, axis=1))


@pytest.mark.parametrize("gate_dnn_hidden_units", [(), (6, 5)])
def test_expert_gate_equals_numpy(gate_dnn_hidden_units):
    batch, n, d, num_experts = 7, 9, 4, 3
    gate_input = rand(batch, n, seed=1)
    experts = [rand(batch, d, seed=10 + e) for e in range(num_experts)]
    layer = ExpertGate(gate_dnn_hidden_units)
    layer([gate_input] + experts)
    randomize_weights(layer)   # non-trivial gate and biases
    out = layer([gate_input] + experts).numpy()
    gate, expected = gate_reference(layer, gate_input, experts)

    assert out.shape == (batch, d)
    assert layer.compute_output_shape([(None, n)] + [(None, d)] * num_experts) == (None, d)
    assert layer.gate_kernel.kernel.shape == ((gate_dnn_hidden_units or (n,))[-1], num_experts)
    assert layer.gate_kernel.bias is None
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.gate_weights(gate_input).numpy(), gate, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gate.sum(axis=1), 1, rtol=1e-6)
    # the gate really mixes: not one expert everywhere, and not the plain mean
    assert not np.allclose(out, experts[0]) and not np.allclose(out, np.mean(experts, axis=0))
    assert_config_round_trip(layer, [gate_input] + experts)
    assert custom_objects["ExpertGate"] is ExpertGate


def test_expert_gate_dropout_only_when_training():
    gate_input, experts = rand(8, 5, seed=2), [rand(8, 3, seed=3), rand(8, 3, seed=4)]
    layer = ExpertGate((16,), dropout_rate=0.5)
    inference = layer([gate_input] + experts, training=False).numpy()
    np.testing.assert_allclose(layer([gate_input] + experts).numpy(), inference)
    assert not np.allclose(layer([gate_input] + experts, training=True).numpy(), inference)


def test_expert_gate_rejects_bad_inputs():
    with pytest.raises(ValueError, match="one output width.*\\[3, 4\\]"):
        ExpertGate()([tf.zeros((2, 5)), tf.zeros((2, 3)), tf.zeros((2, 4))])
    with pytest.raises(ValueError, match="at least one expert"):
        ExpertGate()([tf.zeros((2, 5))])
