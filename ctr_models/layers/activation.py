"""Activation layers: Dice (DIN) and a name -> layer factory used by DNN."""
import tensorflow as tf
import tf_keras as keras

__all__ = ["Dice", "activation_layer"]


class Dice(keras.layers.Layer):
    """Data-adaptive activation from DIN.

    f(s) = p(s) * s + (1 - p(s)) * alpha * s, with p(s) = sigmoid(batch-normalised s).

    Input: tensor of any rank. Output: same shape.
    """

    def __init__(self, axis=-1, epsilon=1e-9, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = epsilon

    def build(self, input_shape):
        self.bn = keras.layers.BatchNormalization(axis=self.axis, epsilon=self.epsilon,
                                                  center=False, scale=False)
        self.alphas = self.add_weight(name="dice_alpha", shape=(input_shape[-1],),
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
