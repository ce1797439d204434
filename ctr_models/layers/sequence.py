"""Sequence layers: pooling of variable-length id lists and behaviour sequences."""
import tensorflow as tf
import tf_keras as keras

__all__ = ["SequencePoolingLayer", "WeightedSequenceLayer"]


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
