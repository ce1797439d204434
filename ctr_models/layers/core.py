"""Core layers shared by most models: DNN and PredictionLayer."""
import tensorflow as tf
import tf_keras as keras

from .activation import activation_layer

__all__ = ["DNN", "PredictionLayer"]

TASKS = ("binary", "regression")


class DNN(keras.layers.Layer):
    """Multi-layer perceptron.

    Input: [B, ..., in_dim]. Output: [B, ..., hidden_units[-1]]; with empty `hidden_units` the
    layer is the identity (as in DeepCTR).
    Each hidden layer: Dense -> (BatchNorm) -> activation -> Dropout; the last layer uses
    `output_activation` when given.
    """

    def __init__(self, hidden_units, activation="relu", l2_reg=0, dropout_rate=0, use_bn=False,
                 output_activation=None, seed=1024, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.l2_reg = l2_reg
        self.dropout_rate = dropout_rate
        self.use_bn = use_bn
        self.output_activation = output_activation
        self.seed = seed

    def build(self, input_shape):
        reg = keras.regularizers.l2(self.l2_reg) if self.l2_reg else None
        self.dense_layers = [
            keras.layers.Dense(units, kernel_initializer=keras.initializers.GlorotNormal(seed=self.seed),
                               kernel_regularizer=reg, name=f"dense_{i}")
            for i, units in enumerate(self.hidden_units)]
        self.bn_layers = ([keras.layers.BatchNormalization(name=f"bn_{i}")
                           for i in range(len(self.hidden_units))] if self.use_bn else [])
        last = len(self.hidden_units) - 1
        # built in one go: replacing an item of a tracked list breaks SavedModel export
        self.activation_layers = [
            activation_layer(self.output_activation if self.output_activation and i == last
                             else self.activation) for i in range(len(self.hidden_units))]
        self.dropout_layers = [keras.layers.Dropout(self.dropout_rate, seed=self.seed + i)
                               for i in range(len(self.hidden_units))]
        super().build(input_shape)

    def call(self, inputs, training=None):
        x = inputs
        for i, dense in enumerate(self.dense_layers):
            x = dense(x)
            if self.use_bn:
                x = self.bn_layers[i](x, training=training)
            x = self.activation_layers[i](x, training=training) if isinstance(
                self.activation_layers[i], keras.layers.Layer) else self.activation_layers[i](x)
            x = self.dropout_layers[i](x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        if not self.hidden_units:
            return tuple(input_shape)
        return tuple(input_shape[:-1]) + (self.hidden_units[-1],)

    def get_config(self):
        return {**super().get_config(), "hidden_units": self.hidden_units,
                "activation": self.activation, "l2_reg": self.l2_reg,
                "dropout_rate": self.dropout_rate, "use_bn": self.use_bn,
                "output_activation": self.output_activation, "seed": self.seed}


class PredictionLayer(keras.layers.Layer):
    """Final output: logit + optional global bias, then sigmoid for task='binary'.

    Input: [B, 1] logit. Output: [B, 1] probability (binary) or value (regression).
    """

    def __init__(self, task="binary", use_bias=True, **kwargs):
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        super().__init__(**kwargs)
        self.task = task
        self.use_bias = use_bias

    def build(self, input_shape):
        if self.use_bias:
            self.global_bias = self.add_weight(shape=(1,), initializer=keras.initializers.Zeros(),
                                               name="global_bias")
        super().build(input_shape)

    def call(self, inputs):
        x = inputs + self.global_bias if self.use_bias else inputs
        if self.task == "binary":
            x = tf.sigmoid(x)
        return tf.reshape(x, (-1, 1))

    def compute_output_shape(self, input_shape):
        return (None, 1)

    def get_config(self):
        return {**super().get_config(), "task": self.task, "use_bias": self.use_bias}


# DeepCTR's layers.core also holds these two; ours live with the layers that use them. Resolved
# lazily because both modules import this one.
_DEEPCTR_NAMES = {"LocalActivationUnit": "sequence", "RegulationModule": "field_interaction"}


def __getattr__(name):
    if name in _DEEPCTR_NAMES:
        import importlib
        return getattr(importlib.import_module(f"{__package__}.{_DEEPCTR_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
