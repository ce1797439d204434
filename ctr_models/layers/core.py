"""Core layers shared by most models: DNN and PredictionLayer, and (as in DeepCTR) the DNN-based
attention unit of DIN and EDCN's regulation module."""
import tensorflow as tf
import tf_keras as keras

from .activation import activation_layer
from .fields import check_rank3

__all__ = ["DNN", "PredictionLayer", "LocalActivationUnit", "RegulationModule"]

TASKS = ("binary", "regression")


class DNN(keras.layers.Layer):
    """Multi-layer perceptron.

    Input: [B, ..., in_dim]. Output: [B, ..., hidden_units[-1]]; with empty `hidden_units` the
    layer is the identity (as in DeepCTR).
    Each hidden layer: Dense -> (BatchNorm) -> activation -> Dropout; the last layer uses
    `output_activation` when given. The activation layers are built in one list, never
    replaced in place (as DeepCTR since #555; 0.9.4 replaced the last item of a tracked list,
    which broke saving a DNN with `output_activation`).
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


class LocalActivationUnit(keras.layers.Layer):
    """DIN's attention unit: scores each behaviour (key) against the candidate (query).

    For every step t the MLP sees [q, k_t, q - k_t, q * k_t] and a final Dense(1) gives the score.
    Input: [query [B, 1, d], keys [B, T, d]]. Output: scores [B, T, 1] (unnormalised; padding is
    not masked here -- AttentionSequencePoolingLayer does that).
    """

    def __init__(self, hidden_units=(64, 32), activation="sigmoid", l2_reg=0, dropout_rate=0,
                 use_bn=False, seed=1024, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.l2_reg = l2_reg
        self.dropout_rate = dropout_rate
        self.use_bn = use_bn
        self.seed = seed

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError("LocalActivationUnit expects two inputs [query, keys], got "
                             f"{input_shape}")
        query_shape, keys_shape = (tf.TensorShape(s) for s in input_shape)
        if query_shape.rank != 3 or keys_shape.rank != 3:
            raise ValueError("LocalActivationUnit expects query [B, 1, d] and keys [B, T, d], got "
                             f"{query_shape} and {keys_shape}")
        if query_shape[1] is not None and query_shape[1] != 1:
            raise ValueError(f"LocalActivationUnit query must have length 1, got {query_shape}")
        if query_shape[-1] != keys_shape[-1]:
            raise ValueError("LocalActivationUnit query and keys need the same embedding dim, got "
                             f"{query_shape[-1]} and {keys_shape[-1]}")
        self.dnn = (DNN(self.hidden_units, self.activation, self.l2_reg, self.dropout_rate,
                        self.use_bn, seed=self.seed, name="att_dnn")
                    if self.hidden_units else None)
        self.score = keras.layers.Dense(
            1, kernel_initializer=keras.initializers.GlorotNormal(seed=self.seed),
            bias_initializer=keras.initializers.Zeros(), name="att_score")
        super().build(input_shape)

    def call(self, inputs, training=None):
        query, keys = inputs
        queries = tf.tile(query, [1, tf.shape(keys)[1], 1])  # [B, T, d]
        att_input = tf.concat([queries, keys, queries - keys, queries * keys], axis=-1)
        hidden = self.dnn(att_input, training=training) if self.dnn is not None else att_input
        return self.score(hidden)

    def compute_output_shape(self, input_shape):
        return (input_shape[1][0], input_shape[1][1], 1)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "hidden_units": self.hidden_units,
                "activation": self.activation, "l2_reg": self.l2_reg,
                "dropout_rate": self.dropout_rate, "use_bn": self.use_bn, "seed": self.seed}


class RegulationModule(keras.layers.Layer):
    """EDCN's field-wise gating: e_i' = softmax_i(g / tau) * e_i, with one learned gate g_i per
    field (initialised to 1, so the softmax starts uniform), then flattened.

    `tau` (> 0) is the temperature; get_config stores tau itself, so a reloaded layer keeps it
    (DeepCTR stored 1/tau and inverted the temperature on reload).

    Input: [B, F, k]. Output: [B, F * k].
    """

    def __init__(self, tau=1.0, **kwargs):
        if not tau > 0:
            raise ValueError(f"RegulationModule tau must be > 0, got {tau!r}")
        super().__init__(**kwargs)
        self.tau = float(tau)

    def build(self, input_shape):
        self.field_size, self.embedding_size = check_rank3("RegulationModule", input_shape)
        self.g = self.add_weight(name="field_weight", shape=(1, self.field_size, 1),
                                 initializer=keras.initializers.Ones())
        super().build(input_shape)

    def call(self, inputs):
        gate = tf.nn.softmax(self.g / self.tau, axis=1)
        return tf.reshape(inputs * gate, (-1, self.field_size * self.embedding_size))

    def compute_output_shape(self, input_shape):
        return (None, int(input_shape[1]) * int(input_shape[2]))

    def get_config(self):
        return {**super().get_config(), "tau": self.tau}
