"""Sequence layers: pooling of variable-length id lists and behaviour sequences."""
import tensorflow as tf
import tf_keras as keras

from .core import DNN
from .recurrent import DynamicGRU  # noqa: F401  (DeepCTR exports it from layers.sequence)

__all__ = ["SequencePoolingLayer", "WeightedSequenceLayer", "LocalActivationUnit",
           "AttentionSequencePoolingLayer"]


def _sequence_mask(lengths, maxlen):
    """[B, 1] int lengths -> [B, maxlen] bool mask."""
    return tf.sequence_mask(tf.reshape(lengths, (-1,)), maxlen)


class SequencePoolingLayer(keras.layers.Layer):
    """Pools a padded sequence of embeddings with 'sum', 'mean' or 'max', ignoring padding.

    supports_masking=True: input [B, L, d] carrying a Keras mask [B, L].
    supports_masking=False: input [seq [B, L, d], lengths [B, 1]].
    Output: [B, 1, d]. An all-padding row pools to zeros.
    """

    def __init__(self, mode="mean", supports_masking=False, **kwargs):
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"SequencePoolingLayer mode must be sum, mean or max, got {mode!r}")
        super().__init__(**kwargs)
        self.mode = mode
        self.supports_masking = supports_masking

    def call(self, inputs, mask=None):
        if self.supports_masking:
            if mask is None:
                raise ValueError("SequencePoolingLayer(supports_masking=True) got no mask: feed "
                                 "an embedding with mask_zero or use supports_masking=False")
            seq = inputs
            valid = tf.cast(mask, tf.bool)
        else:
            seq, lengths = inputs
            valid = _sequence_mask(lengths, tf.shape(seq)[1])
        valid = tf.expand_dims(valid, -1)  # [B, L, 1]
        weights = tf.cast(valid, seq.dtype)
        if self.mode == "max":
            masked = tf.where(valid, seq, tf.fill(tf.shape(seq), seq.dtype.min))
            pooled = tf.reduce_max(masked, axis=1, keepdims=True)
            any_valid = tf.reduce_any(valid, axis=1, keepdims=True)
            return tf.where(any_valid, pooled, tf.zeros_like(pooled))
        total = tf.reduce_sum(seq * weights, axis=1, keepdims=True)
        if self.mode == "sum":
            return total
        count = tf.reduce_sum(weights, axis=1, keepdims=True)
        return tf.math.divide_no_nan(total, count)

    def compute_output_shape(self, input_shape):
        shape = input_shape if self.supports_masking else input_shape[0]
        return (None, 1, shape[-1])

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "mode": self.mode,
                "supports_masking": self.supports_masking}


class WeightedSequenceLayer(keras.layers.Layer):
    """Multiplies each sequence step by its weight (softmax-normalised over valid steps when
    `weight_normalization`); padded steps get weight 0.

    supports_masking=True: input [seq [B, L, d], weight [B, L, 1]] with the mask of seq.
    supports_masking=False: input [seq [B, L, d], lengths [B, 1], weight [B, L, 1]].
    Output: [B, L, d] (the mask of seq is passed on).
    """

    def __init__(self, weight_normalization=True, supports_masking=False, **kwargs):
        super().__init__(**kwargs)
        self.weight_normalization = weight_normalization
        self.supports_masking = supports_masking

    def call(self, inputs, mask=None):
        if self.supports_masking:
            seq, weight = inputs
            if mask is None or mask[0] is None:
                raise ValueError("WeightedSequenceLayer(supports_masking=True) got no mask")
            valid = tf.cast(mask[0], tf.bool)
        else:
            seq, lengths, weight = inputs
            valid = _sequence_mask(lengths, tf.shape(seq)[1])
        valid = tf.expand_dims(valid, -1)
        weight = tf.cast(weight, seq.dtype)
        if self.weight_normalization:
            weight = tf.where(valid, weight, tf.fill(tf.shape(weight), seq.dtype.min))
            weight = tf.nn.softmax(weight, axis=1)
            weight = tf.where(valid, weight, tf.zeros_like(weight))
        else:
            weight = weight * tf.cast(valid, seq.dtype)
        return seq * weight

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def compute_mask(self, inputs, mask=None):
        if self.supports_masking and mask is not None:
            return mask[0]
        return None

    def get_config(self):
        return {**super().get_config(), "weight_normalization": self.weight_normalization,
                "supports_masking": self.supports_masking}


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


class AttentionSequencePoolingLayer(keras.layers.Layer):
    """DIN's attention pooling: a weighted sum of the behaviour embeddings (keys), the weights
    coming from LocalActivationUnit(query, key). Padded steps get weight 0; with
    `weight_normalization` the weights are a softmax over the valid steps (so they sum to 1,
    and an all-padding row gets all zeros).

    supports_masking=False: input [query [B, 1, d], keys [B, T, d], keys_length [B, 1]].
    supports_masking=True: input [query [B, 1, d], keys [B, T, d]] with the Keras mask of keys.
    Output: [B, 1, d]; with `return_score` the weights [B, 1, T] instead.
    """

    def __init__(self, att_hidden_units=(80, 40), att_activation="sigmoid",
                 weight_normalization=False, return_score=False, supports_masking=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.att_hidden_units = tuple(att_hidden_units)
        self.att_activation = att_activation
        self.weight_normalization = weight_normalization
        self.return_score = return_score
        self.supports_masking = supports_masking

    def build(self, input_shape):
        expected = 2 if self.supports_masking else 3
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != expected:
            names = "[query, keys]" if self.supports_masking else "[query, keys, keys_length]"
            raise ValueError(f"AttentionSequencePoolingLayer(supports_masking="
                             f"{self.supports_masking}) expects inputs {names}, got {input_shape}")
        self.local_att = LocalActivationUnit(self.att_hidden_units, self.att_activation,
                                             l2_reg=0, dropout_rate=0, use_bn=False, seed=1024,
                                             name="local_activation_unit")
        super().build(input_shape)

    def call(self, inputs, mask=None, training=None):
        if self.supports_masking:
            query, keys = inputs
            if mask is None or mask[1] is None:
                raise ValueError("AttentionSequencePoolingLayer(supports_masking=True) got no mask "
                                 "for keys: embed them with mask_zero or pass keys_length")
            valid = tf.cast(mask[1], tf.bool)
        else:
            query, keys, keys_length = inputs
            valid = _sequence_mask(keys_length, tf.shape(keys)[1])
        valid = tf.expand_dims(valid, 1)  # [B, 1, T]
        scores = self.local_att([query, keys], training=training)  # [B, T, 1]
        scores = tf.transpose(scores, (0, 2, 1))  # [B, 1, T]
        if self.weight_normalization:
            scores = tf.where(valid, scores, tf.fill(tf.shape(scores), scores.dtype.min))
            scores = tf.nn.softmax(scores, axis=-1)
        scores = tf.where(valid, scores, tf.zeros_like(scores))
        if self.return_score:
            return scores
        return tf.matmul(scores, keys)  # [B, 1, d]

    def compute_output_shape(self, input_shape):
        keys_shape = input_shape[1]
        if self.return_score:
            return (keys_shape[0], 1, keys_shape[1])
        return (keys_shape[0], 1, keys_shape[-1])

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "att_hidden_units": self.att_hidden_units,
                "att_activation": self.att_activation,
                "weight_normalization": self.weight_normalization,
                "return_score": self.return_score, "supports_masking": self.supports_masking}
