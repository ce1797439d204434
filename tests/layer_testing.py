"""Helpers shared by the layer tests."""
import itertools

import numpy as np
import tensorflow as tf


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def randomize_weights(layer, seed=1):
    """Random non-zero values for every weight (biases included) so every term is tested;
    returns them as numpy arrays."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.5
                       for w in layer.get_weights()])
    return [w.numpy() for w in layer.weights]


def assert_config_round_trip(layer, inputs, **call_kwargs):
    """from_config(get_config()) with the same weights gives the same outputs."""
    expected = layer(inputs, **call_kwargs)
    clone = layer.__class__.from_config(layer.get_config())
    clone(inputs, **call_kwargs)
    clone.set_weights(layer.get_weights())
    got = clone(inputs, **call_kwargs)
    for e, g in zip(tf.nest.flatten(expected), tf.nest.flatten(got)):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-5, atol=1e-6)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def as_list(x):
    """[B, F, k] array -> DeepCTR's list of F tensors [B, 1, k]."""
    return [tf.constant(x[:, i:i + 1]) for i in range(x.shape[1])]


def pairs(num_fields):
    """Index pairs i < j over `num_fields` fields."""
    return list(itertools.combinations(range(num_fields), 2))
