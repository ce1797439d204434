"""Helpers shared by the field-interaction layers (interaction.py, field_interaction.py): the
shape of a field input, stacking DeepCTR's list form [B, 1, k] x F into [B, F, k], and the
row-major pair enumeration (0,1), (0,2), ..., (1,2), ... of field pairs i < j."""
import itertools

import tensorflow as tf
import tf_keras as keras

__all__ = ["l2_or_none", "check_rank3", "field_shapes", "stack_fields", "pair_indices"]


def l2_or_none(value):
    """An L2 regularizer of `value`, or None for 0 (no regularization loss term)."""
    return keras.regularizers.l2(value) if value else None


def check_rank3(layer_name, input_shape):
    """(num_fields, embedding_size) of a [B, F, k] shape with known F and k; raises otherwise."""
    shape = tf.TensorShape(input_shape).as_list()
    if len(shape) != 3 or shape[1] is None or shape[2] is None:
        raise ValueError(f"{layer_name} needs [batch, fields, embedding_size] input, "
                         f"got shape {shape}")
    return int(shape[1]), int(shape[2])


def field_shapes(layer_name, input_shape, min_fields=2):
    """(num_fields, embedding_size) of a list of [B, 1, k] shapes or one [B, F, k] shape."""
    if isinstance(input_shape, (list, tuple)) and input_shape and not isinstance(
            input_shape[0], (int, type(None))):
        shapes = [tuple(tf.TensorShape(s).as_list()) for s in input_shape]
        if any(len(s) != 3 or s[1] != 1 for s in shapes) or len({s[1:] for s in shapes}) > 1:
            raise ValueError(f"{layer_name} needs a list of [batch, 1, embedding_size] inputs of "
                             f"one embedding size, got shapes {shapes}")
        num_fields, size = len(shapes), shapes[0][-1]
    else:
        shape = tf.TensorShape(input_shape).as_list()
        if len(shape) != 3 or shape[1] is None:
            raise ValueError(f"{layer_name} needs [batch, fields, embedding_size] input, "
                             f"got shape {shape}")
        num_fields, size = shape[1], shape[2]
    if num_fields < min_fields:
        raise ValueError(f"{layer_name} needs at least {min_fields} fields, got {num_fields}")
    return num_fields, int(size)


def stack_fields(inputs):
    """List of [B, 1, k] (or one [B, F, k]) -> [B, F, k]."""
    if isinstance(inputs, (list, tuple)):
        return inputs[0] if len(inputs) == 1 else tf.concat(list(inputs), axis=1)
    return inputs


def pair_indices(num_fields):
    """(rows, cols): the field indices i and j of every pair i < j, in row-major order."""
    pairs = list(itertools.combinations(range(num_fields), 2))
    return [i for i, _ in pairs], [j for _, j in pairs]
