"""Normalization layers: LayerNormalization (as used by the Transformer/AutoInt family)."""
import tensorflow as tf
import tf_keras as keras

__all__ = ["LayerNormalization"]


class LayerNormalization(keras.layers.Layer):
    """Layer normalization over `axis` (Ba et al., 2016).

    y = gamma * (x - mean) / sqrt(var + eps) + beta, with mean and (biased) variance taken over
    `axis`; gamma (ones) exists when `scale`, beta (zeros) when `center`, one value per position
    along `axis`.

    Input: tensor of rank >= 2, [B, ..., d]. Output: same shape.
    """

    def __init__(self, axis=-1, eps=1e-9, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.eps = eps
        self.center = center
        self.scale = scale
        self.supports_masking = True

    def _axes(self, rank):
        axes = self.axis if isinstance(self.axis, (list, tuple)) else [self.axis]
        out = []
        for a in axes:
            a = int(a)
            if not -rank <= a < rank:
                raise ValueError(f"LayerNormalization axis {a} is out of range for an input of "
                                 f"rank {rank}")
            a = a % rank
            if a == 0:
                raise ValueError("LayerNormalization cannot normalise over the batch axis 0")
            out.append(a)
        return sorted(set(out))

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        rank = input_shape.rank
        axes = self._axes(rank)
        # Parameter shape broadcasts against the input without the batch axis; leading 1s are
        # dropped so that axis=-1 gives the familiar [d] shape.
        shape = [int(input_shape[i]) if i in axes else 1 for i in range(1, rank)]
        while len(shape) > 1 and shape[0] == 1:
            shape = shape[1:]
        if self.scale:
            self.gamma = self.add_weight(name="gamma", shape=shape,
                                         initializer=keras.initializers.Ones())
        if self.center:
            self.beta = self.add_weight(name="beta", shape=shape,
                                        initializer=keras.initializers.Zeros())
        super().build(input_shape)

    def call(self, inputs):
        axes = self._axes(inputs.shape.rank)
        mean = tf.reduce_mean(inputs, axis=axes, keepdims=True)
        variance = tf.reduce_mean(tf.square(inputs - mean), axis=axes, keepdims=True)
        outputs = (inputs - mean) / tf.sqrt(variance + self.eps)
        if self.scale:
            outputs = outputs * self.gamma
        if self.center:
            outputs = outputs + self.beta
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "eps": self.eps,
                "center": self.center, "scale": self.scale}
