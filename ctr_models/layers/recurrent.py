"""Recurrent layers of DIEN: GRU cells with attention (AGRU, AUGRU), DynamicGRU over padded
behaviour sequences, and the auxiliary loss that supervises the interest extractor.

Built on keras.layers.RNN (a tf.while_loop in graph mode), so the layers run eagerly, inside
tf.function and in an exported SavedModel alike (DeepCTR's versions need TF1's dynamic_rnn).

The cells follow the DIEN paper (Zhou et al., 2019, eqs. 1-4, 15-16), with u the update gate,
r the reset gate and a the attention score of the step:

    u  = sigmoid(W_u x + U_u h + b_u)            r = sigmoid(W_r x + U_r h + b_r)
    h~ = tanh(W_h x + r * (U_h h) + b_h)
    GRU:   h' = (1 - u) * h + u * h~
    AGRU:  h' = (1 - a) * h + a * h~             (attention replaces the update gate)
    AUGRU: h' = (1 - a u) * h + a u * h~         (attention scales the update gate)

Difference from DeepCTR (and the authors' code): their AUGRU scales the *keep* gate by (1 - a)
instead, so a step with attention 0 becomes a plain GRU step rather than leaving the interest
unchanged as the paper intends; their GRU cell also applies the reset gate before the recurrent
matmul (TF1 GRUCell) where the paper applies it after, as here.
"""
import tensorflow as tf
import tf_keras as keras

from .core import DNN

__all__ = ["InterestGRUCell", "AGRUCell", "AUGRUCell", "DynamicGRU", "AuxiliaryLoss", "StepMask"]

GRU_TYPES = ("GRU", "AIGRU", "AGRU", "AUGRU")


def step_mask(lengths_or_mask, maxlen):
    """[B, 1] (or [B]) int lengths -> [B, maxlen] bool mask; a [B, maxlen] bool mask is returned
    as is (it may mark any steps, e.g. ids != 0 of a sequence padded at the front)."""
    if lengths_or_mask.dtype == tf.bool:
        return lengths_or_mask
    return tf.sequence_mask(tf.reshape(lengths_or_mask, (-1,)), maxlen)


class StepMask(keras.layers.Layer):
    """The Keras mask of a sequence as a tensor, to feed DynamicGRU / AuxiliaryLoss the padding
    of behaviour embeddings (mask_zero) when no length input exists.

    Input: [B, T, ...] carrying a Keras mask [B, T]. Output: that mask, bool [B, T] (all True
    when the input carries none).
    """

    def call(self, inputs, mask=None):
        if mask is None:
            return tf.ones(tf.shape(inputs)[:2], tf.bool)
        return tf.cast(mask, tf.bool)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:2]


class InterestGRUCell(keras.layers.Layer):
    """One step of the paper's GRU (eqs. 1-4), for keras.layers.RNN.

    Input: x_t [B, input_dim]. State: h [B, units]. Output: the new h [B, units].
    Weights: kernel [input_dim, G*units], recurrent_kernel [units, G*units], bias [G*units],
    with G gate blocks in the order of `gates` (update, reset, candidate).
    """
    gates = ("update", "reset", "candidate")
    takes_attention = False

    def __init__(self, units, seed=1024, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"{type(self).__name__}: units must be a positive int, got {units!r}")
        self.units = units
        self.seed = seed
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        input_dim = int(input_shape[-1]) - (1 if self.takes_attention else 0)
        if input_dim < 1:
            raise ValueError(f"{type(self).__name__}: inputs need at least one feature besides "
                             f"the attention score, got shape {input_shape}")
        width = len(self.gates) * self.units
        self.kernel = self.add_weight(
            name="kernel", shape=(input_dim, width),
            initializer=keras.initializers.GlorotUniform(seed=self.seed))
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(self.units, width),
            initializer=keras.initializers.Orthogonal(seed=self.seed))
        self.bias = self.add_weight(name="bias", shape=(width,),
                                    initializer=keras.initializers.Zeros())
        super().build(input_shape)

    def _update_gate(self, x_part, h_part, attention):
        """Share of the candidate in the new state, [B, units]."""
        return tf.sigmoid(x_part["update"] + h_part["update"])

    def call(self, inputs, states):
        h = states[0]
        attention = None
        if self.takes_attention:
            inputs, attention = inputs[:, :-1], inputs[:, -1:]
        x_part = dict(zip(self.gates, tf.split(tf.matmul(inputs, self.kernel) + self.bias,
                                               len(self.gates), axis=-1)))
        h_part = dict(zip(self.gates, tf.split(tf.matmul(h, self.recurrent_kernel),
                                               len(self.gates), axis=-1)))
        reset = tf.sigmoid(x_part["reset"] + h_part["reset"])
        candidate = tf.tanh(x_part["candidate"] + reset * h_part["candidate"])
        update = self._update_gate(x_part, h_part, attention)
        new_h = (1.0 - update) * h + update * candidate
        return new_h, [new_h]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "seed": self.seed}


class AGRUCell(InterestGRUCell):
    """GRU with attentional update gate (paper eq. 15): h' = (1 - a) * h + a * h~.

    Input: [B, input_dim + 1], the last column being the step's attention score a.
    The update-gate weights do not exist (the attention replaces them).
    """
    gates = ("reset", "candidate")
    takes_attention = True

    def _update_gate(self, x_part, h_part, attention):
        return attention


class AUGRUCell(InterestGRUCell):
    """GRU with attentional update gate (paper eq. 16): u' = a * u; h' = (1 - u') h + u' h~.

    Input: [B, input_dim + 1], the last column being the step's attention score a.
    """
    takes_attention = True

    def _update_gate(self, x_part, h_part, attention):
        return attention * super()._update_gate(x_part, h_part, attention)


_CELLS = {"GRU": InterestGRUCell, "AIGRU": InterestGRUCell, "AGRU": AGRUCell,
          "AUGRU": AUGRUCell}


class DynamicGRU(keras.layers.Layer):
    """A GRU over padded sequences (DeepCTR's DynamicGRU): padded steps keep the previous state.

    gru_type 'GRU' and 'AIGRU' run the plain GRU cell (AIGRU scales its inputs by attention
    before this layer); 'AGRU' and 'AUGRU' run the attentional cells and take the scores.

    Inputs: [inputs [B, T, d], steps] for GRU/AIGRU, [inputs, steps, att_score [B, T, 1] (or
    [B, T])] for AGRU/AUGRU, where `steps` is either the sequence lengths [B, 1] (int; steps
    t >= length are padding) or a step mask [B, T] (bool; False = padding, anywhere in the
    sequence).
    Output: return_sequence=True: the state after every step [B, T, units] (zeros at padded
    steps; the Keras mask of the output marks the valid steps); otherwise the state after the
    last valid step [B, 1, units] (zeros for an empty sequence).
    num_units=None uses units = d.
    """

    def __init__(self, num_units=None, gru_type="GRU", return_sequence=True, **kwargs):
        if gru_type not in GRU_TYPES:
            raise ValueError(f"DynamicGRU gru_type must be one of {GRU_TYPES}, got {gru_type!r}")
        if num_units is not None and (not isinstance(num_units, int) or num_units < 1):
            raise ValueError(f"DynamicGRU num_units must be None or a positive int, "
                             f"got {num_units!r}")
        super().__init__(**kwargs)
        self.num_units = num_units
        self.gru_type = gru_type
        self.return_sequence = return_sequence

    @property
    def _needs_attention(self):
        return _CELLS[self.gru_type].takes_attention

    def build(self, input_shape):
        expected = 3 if self._needs_attention else 2
        names = "[inputs, lengths_or_mask" + (", att_score]" if expected == 3 else "]")
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != expected:
            raise ValueError(f"DynamicGRU(gru_type={self.gru_type!r}) expects inputs {names}, "
                             f"got {input_shape}")
        seq_shape = tf.TensorShape(input_shape[0])
        if seq_shape.rank != 3 or seq_shape[-1] is None:
            raise ValueError(f"DynamicGRU inputs must be [B, T, d] with a known d, "
                             f"got {seq_shape}")
        self.units = self.num_units or int(seq_shape[-1])
        self.rnn = keras.layers.RNN(_CELLS[self.gru_type](self.units, name="cell"),
                                    return_sequences=self.return_sequence, name="rnn")
        super().build(input_shape)

    def call(self, inputs, mask=None):
        seq, steps = inputs[0], inputs[1]
        valid = step_mask(steps, tf.shape(seq)[1])
        if self._needs_attention:
            att_score = tf.cast(inputs[2], seq.dtype)
            if att_score.shape.rank == 2:
                att_score = att_score[..., None]
            seq = tf.concat([seq, att_score], axis=-1)
        out = self.rnn(seq, mask=valid)
        if self.return_sequence:
            return out * tf.cast(valid, out.dtype)[..., None]
        return out[:, None, :]

    def compute_mask(self, inputs, mask=None):
        if not self.return_sequence:
            return None
        return step_mask(inputs[1], tf.shape(inputs[0])[1])

    def compute_output_shape(self, input_shape):
        seq_shape = tf.TensorShape(input_shape[0])
        units = self.num_units or seq_shape[-1]
        steps = seq_shape[1] if self.return_sequence else 1
        return tf.TensorShape([seq_shape[0], steps, units])

    def get_config(self):
        return {**super().get_config(), "num_units": self.num_units, "gru_type": self.gru_type,
                "return_sequence": self.return_sequence}


class AuxiliaryLoss(keras.layers.Layer):
    """DIEN's auxiliary loss: the interest extractor's state h_t must tell the behaviour clicked
    at t + 1 from a sampled non-clicked item (paper eq. 5):

        p(h, e) = sigmoid(MLP([h, e]))
        loss = mean over valid pairs (t, t+1) of -log p(h_t, e_{t+1}) - log(1 - p(h_t, e^-_{t+1}))

    A pair is valid when steps t and t + 1 are both valid. The MLP has `hidden_units` layers with
    `activation` and a 1-unit linear output.

    Inputs: [hidden_states [B, T, H], clicked [B, T, D], non_clicked [B, T, D], steps] with
    `steps` the lengths [B, 1] (int) or a step mask [B, T] (bool), as for DynamicGRU.
    Output: the scalar loss [] (0 when no pair is valid).

    Difference from DeepCTR: DeepCTR averages over all B * (T - 1) positions, padded ones
    included, so the loss shrinks with the amount of padding; here the mean is over valid pairs.
    """

    def __init__(self, hidden_units=(100, 50), activation="sigmoid", seed=1024, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.seed = seed

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 4:
            raise ValueError("AuxiliaryLoss expects inputs [hidden_states, clicked, non_clicked, "
                             f"lengths_or_mask], got {input_shape}")
        clicked_shape, non_clicked_shape = (tf.TensorShape(s) for s in input_shape[1:3])
        if clicked_shape[-1] != non_clicked_shape[-1]:
            raise ValueError("AuxiliaryLoss clicked and non_clicked embeddings need the same dim, "
                             f"got {clicked_shape} and {non_clicked_shape}")
        self.mlp = (DNN(self.hidden_units, self.activation, seed=self.seed, name="aux_dnn")
                    if self.hidden_units else None)
        self.logit = keras.layers.Dense(
            1, kernel_initializer=keras.initializers.GlorotNormal(seed=self.seed),
            name="aux_logit")
        super().build(input_shape)

    def _logits(self, states, items, training):
        hidden = tf.concat([states, items], axis=-1)
        if self.mlp is not None:
            hidden = self.mlp(hidden, training=training)
        return self.logit(hidden)[..., 0]  # [B, T - 1]

    def call(self, inputs, training=None, mask=None):
        states, clicked, non_clicked, steps = inputs
        valid = step_mask(steps, tf.shape(states)[1])
        pair_valid = tf.cast(tf.logical_and(valid[:, :-1], valid[:, 1:]), states.dtype)
        states = states[:, :-1]
        click_logits = self._logits(states, clicked[:, 1:], training)
        non_click_logits = self._logits(states, non_clicked[:, 1:], training)
        # -log sigmoid(z) and -log(1 - sigmoid(z)), computed stably from the logits
        per_pair = (tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(click_logits),
                                                            click_logits)
                    + tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(non_click_logits),
                                                              non_click_logits))
        return tf.math.divide_no_nan(tf.reduce_sum(per_pair * pair_valid),
                                     tf.reduce_sum(pair_valid))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([])

    def get_config(self):
        return {**super().get_config(), "hidden_units": self.hidden_units,
                "activation": self.activation, "seed": self.seed}
