"""Feature-interaction layers (FM family, cross networks, CIN, product layers)."""
import tensorflow as tf
import tf_keras as keras

__all__ = ["FM"]


class FM(keras.layers.Layer):
    """Factorization Machine pairwise term without the linear part.

    0.5 * sum_k[(sum_i v_ik)^2 - sum_i v_ik^2] = sum_{i<j} <v_i, v_j>.
    Input: [B, F, k] (F field embeddings). Output: [B, 1].
    """

    def call(self, inputs):
        if inputs.shape.rank != 3:
            raise ValueError(f"FM expects [batch, fields, dim] input, got shape {inputs.shape}")
        square_of_sum = tf.square(tf.reduce_sum(inputs, axis=1))
        sum_of_square = tf.reduce_sum(inputs * inputs, axis=1)
        return 0.5 * tf.reduce_sum(square_of_sum - sum_of_square, axis=1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (None, 1)
