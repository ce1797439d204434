"""Multi-task building blocks: the softmax gate that mixes expert outputs (MMoE, PLE's CGC)."""
import tensorflow as tf
import tf_keras as keras

from .core import DNN

__all__ = ["ExpertGate"]


class ExpertGate(keras.layers.Layer):
    """One gate of a mixture of experts: a softmax over E experts, computed from a gate input
    (optionally through a gate DNN), weights the experts' outputs.

        g      = softmax(DNN(gate_input) @ W)      [B, E]   W: [n', E], no bias; no DNN when
                                                            gate_dnn_hidden_units is empty
        output = sum_e g[:, e] * expert_e          [B, d]

    MMoE uses one gate per task over shared experts; PLE's CGC uses one per task over that
    task's experts plus the shared ones (and one more over all experts between levels).

    Input: list [gate_input [B, n], expert_1 [B, d], ..., expert_E [B, d]], E >= 1 (all experts
    of one width d). Output: [B, d]. `gate_weights(gate_input)` returns g, [B, E].
    """

    def __init__(self, gate_dnn_hidden_units=(), activation="relu", l2_reg=0, dropout_rate=0,
                 use_bn=False, seed=1024, **kwargs):
        super().__init__(**kwargs)
        self.gate_dnn_hidden_units = tuple(gate_dnn_hidden_units or ())
        self.activation = activation
        self.l2_reg = l2_reg
        self.dropout_rate = dropout_rate
        self.use_bn = use_bn
        self.seed = seed

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2:
            raise ValueError("ExpertGate takes a list [gate_input, expert_1, ..., expert_E] with "
                             f"at least one expert, got input shape {input_shape}")
        expert_widths = {int(tf.TensorShape(s)[-1]) for s in input_shape[1:]}
        if len(expert_widths) != 1:
            raise ValueError(f"ExpertGate experts must share one output width, got widths "
                             f"{[int(tf.TensorShape(s)[-1]) for s in input_shape[1:]]}")
        self.num_experts = len(input_shape) - 1
        self.gate_dnn = (DNN(self.gate_dnn_hidden_units, self.activation, self.l2_reg,
                             self.dropout_rate, self.use_bn, seed=self.seed, name="gate_dnn")
                         if self.gate_dnn_hidden_units else None)
        self.gate_kernel = keras.layers.Dense(
            self.num_experts, use_bias=False, activation="softmax",
            kernel_initializer=keras.initializers.GlorotUniform(seed=self.seed),
            name="gate_softmax")
        super().build(input_shape)

    def gate_weights(self, gate_input, training=None):
        """[B, n] -> softmax gate [B, E]."""
        hidden = (self.gate_dnn(gate_input, training=training) if self.gate_dnn is not None
                  else gate_input)
        return self.gate_kernel(hidden)

    def call(self, inputs, training=None):
        gate = self.gate_weights(inputs[0], training=training)   # [B, E]
        experts = tf.stack(inputs[1:], axis=1)                    # [B, E, d]
        return tf.reduce_sum(experts * tf.expand_dims(gate, -1), axis=1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1])

    def get_config(self):
        return {**super().get_config(), "gate_dnn_hidden_units": self.gate_dnn_hidden_units,
                "activation": self.activation, "l2_reg": self.l2_reg,
                "dropout_rate": self.dropout_rate, "use_bn": self.use_bn, "seed": self.seed}
