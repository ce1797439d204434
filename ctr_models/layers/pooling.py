"""Pooling layers: KMaxPooling (CCPM)."""
import tensorflow as tf
import tf_keras as keras

__all__ = ["KMaxPooling"]


class KMaxPooling(keras.layers.Layer):
    """Keeps the `k` largest values along `axis`, in descending order (as DeepCTR's CCPM does).

    `axis` may be negative (the default -1 is the last axis; DeepCTR's layer rejected its own
    default) but not the batch axis.
    Input: nD tensor [B, ..., n_axis, ...]. Output: the same shape with n_axis replaced by k.
    """

    def __init__(self, k=1, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.k = k
        self.axis = axis

    def _axis(self, rank):
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            raise ValueError(f"KMaxPooling axis must name a non-batch axis of a rank-{rank} "
                             f"input, got {self.axis}")
        return axis

    def build(self, input_shape):
        axis = self._axis(len(input_shape))
        size = input_shape[axis]
        if not isinstance(self.k, int) or self.k < 1 or (size is not None and self.k > size):
            raise ValueError(f"KMaxPooling k must be in 1..{size} (the size of axis {self.axis}),"
                             f" got {self.k!r}")
        super().build(input_shape)

    def call(self, inputs):
        rank = inputs.shape.rank
        axis = self._axis(rank)
        perm = list(range(rank))
        perm[axis], perm[-1] = perm[-1], perm[axis]
        top = tf.math.top_k(tf.transpose(inputs, perm), k=self.k, sorted=True).values
        return tf.transpose(top, perm)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[self._axis(len(shape))] = self.k
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "k": self.k, "axis": self.axis}
