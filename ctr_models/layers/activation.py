"""Activation layers: Dice (DIN) and a name -> layer factory used by DNN."""
import tensorflow as tf
import tf_keras as keras

__all__ = ["Dice", "activation_layer"]


class Dice(keras.layers.Layer):
    """Data-adaptive activation from DIN.

    f(s) = p(s) * s + (1 - p(s)) * alpha * s, with p(s) = sigmoid(batch-normalised s).
    The batch normalisation (no centre/scale parameters) runs over every axis except `axis`,
    using batch statistics when training and its moving averages at inference; `alpha` (zeros
    at first) has one value per position along `axis`.

    Input: tensor of any rank >= 2. Output: same shape.
    """

    def __init__(self, axis=-1, epsilon=1e-9, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = epsilon
        self.supports_masking = True

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        rank = input_shape.rank
        axis = self.axis % rank
        if axis == 0:
            raise ValueError("Dice axis must not be the batch axis 0")
        self.bn = keras.layers.BatchNormalization(axis=self.axis, epsilon=self.epsilon,
                                                  center=False, scale=False)
        # One alpha per position along `axis`, shaped to broadcast against the input.
        shape = [int(input_shape[axis])] + [1] * (rank - 1 - axis)
        self.alphas = self.add_weight(name="dice_alpha", shape=shape,
                                      initializer=keras.initializers.Zeros(), dtype=self.dtype)
        super().build(input_shape)

    def call(self, inputs, training=None):
        p = tf.sigmoid(self.bn(inputs, training=training))
        return self.alphas * (1.0 - p) * inputs + p * inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


def activation_layer(activation):
    """Returns a layer for `activation`: a name ('relu', 'dice', ...), a Layer class or a callable."""
    if isinstance(activation, str):
        if activation.lower() == "dice":
            return Dice()
        return keras.layers.Activation(activation)
    if isinstance(activation, type) and issubclass(activation, keras.layers.Layer):
        return activation()
    if callable(activation):
        return keras.layers.Activation(activation)
    raise ValueError(f"activation must be a name, a Layer class or a callable, got {activation!r}")
