"""Small building blocks: hashing, the linear (wide) part, concatenation helpers."""
import tensorflow as tf
import tf_keras as keras

from ..hashing import hash_bucket_ids

__all__ = ["NoMask", "Hash", "Linear", "Concat", "_Add", "concat_func", "reduce_sum", "reduce_mean",
           "reduce_max", "div", "softmax", "add_func", "combined_dnn_input"]


class NoMask(keras.layers.Layer):
    """Identity that drops the Keras mask. Input/Output: any tensor."""

    def call(self, x, mask=None):
        return x

    def compute_mask(self, inputs, mask=None):
        return None


class Hash(keras.layers.Layer):
    """Maps raw keys to ids in [0, num_buckets).

    Without `vocabulary_path`: the key's string form is hashed (FarmHash fingerprint via
    `tf.strings.to_hash_bucket_fast`), so the same key gets the same id on every path (training,
    serving, the pipeline's Transform). With ``mask_zero=True`` the keys '' and '0' map to 0 and
    all other keys to [1, num_buckets).
    With `vocabulary_path`: a CSV of ``id,key`` rows is looked up; unknown keys -> `default_value`.

    Input: [B, L] string or numeric tensor. Output: [B, L] int64 (as DeepCTR).
    """

    def __init__(self, num_buckets, mask_zero=False, vocabulary_path=None, default_value=0,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_buckets = num_buckets
        self.mask_zero = mask_zero
        self.vocabulary_path = vocabulary_path
        self.default_value = default_value
        if vocabulary_path:
            initializer = tf.lookup.TextFileInitializer(
                vocabulary_path, key_dtype=tf.string, key_index=1, value_dtype=tf.int64,
                value_index=0, delimiter=",")
            self.hash_table = tf.lookup.StaticHashTable(initializer, default_value)

    def call(self, x):
        if self.vocabulary_path:
            return self.hash_table.lookup(x if x.dtype == tf.string else tf.strings.as_string(x))
        return hash_bucket_ids(x, self.num_buckets, self.mask_zero)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "num_buckets": self.num_buckets,
                "mask_zero": self.mask_zero, "vocabulary_path": self.vocabulary_path,
                "default_value": self.default_value}


class Linear(keras.layers.Layer):
    """The wide/linear part: sum of per-id weights plus dense_input @ kernel.

    mode 0: sparse only, input [B, F, units] (dim-1 embeddings, one per field).
    mode 1: dense only, input [B, D].
    mode 2: both, input [sparse [B, F, units], dense [B, D]].
    Output: [B, units].
    """

    def __init__(self, l2_reg=0.0, mode=0, use_bias=False, seed=1024, units=1, **kwargs):
        if mode not in (0, 1, 2):
            raise ValueError(f"Linear mode must be 0, 1 or 2, got {mode!r}")
        super().__init__(**kwargs)
        self.l2_reg = l2_reg
        self.mode = mode
        self.use_bias = use_bias
        self.seed = seed
        self.units = units

    def build(self, input_shape):
        if self.use_bias:
            self.bias = self.add_weight("linear_bias", shape=(self.units,),
                                        initializer=keras.initializers.Zeros())
        if self.mode in (1, 2):
            dense_dim = int((input_shape[1] if self.mode == 2 else input_shape)[-1])
            self.kernel = self.add_weight(
                "linear_kernel", shape=(dense_dim, self.units),
                initializer=keras.initializers.GlorotNormal(seed=self.seed),
                regularizer=keras.regularizers.l2(self.l2_reg))
        super().build(input_shape)

    def call(self, inputs):
        if self.mode == 0:
            logit = tf.reduce_sum(inputs, axis=1)
        elif self.mode == 1:
            logit = tf.matmul(inputs, self.kernel)
        else:
            sparse_input, dense_input = inputs
            logit = tf.reduce_sum(sparse_input, axis=1) + tf.matmul(dense_input, self.kernel)
        if self.use_bias:
            logit += self.bias
        return logit

    def compute_output_shape(self, input_shape):
        return (None, self.units)

    def get_config(self):
        return {**super().get_config(), "l2_reg": self.l2_reg, "mode": self.mode,
                "use_bias": self.use_bias, "seed": self.seed, "units": self.units}


class Concat(keras.layers.Layer):
    """tf.concat of a list of tensors along `axis` that, with `supports_masking`, also
    concatenates their masks (an unmasked input counts as all valid) and reduces the result over
    the last axis, as DeepCTR's layer does. Input: list of tensors. Output: their concatenation."""

    def __init__(self, axis, supports_masking=True, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.supports_masking = supports_masking

    def call(self, inputs):
        return tf.concat(inputs, axis=self.axis)

    def compute_mask(self, inputs, mask=None):
        if not self.supports_masking:
            return None
        if mask is None:
            mask = [getattr(x, "_keras_mask", None) for x in inputs]
        if all(m is None for m in mask):
            return None
        masks = []
        for x, m in zip(inputs, mask):
            if m is None:
                m = tf.ones_like(x, dtype=tf.bool)
            elif m.shape.rank < x.shape.rank:
                m = tf.expand_dims(m, axis=-1)
            masks.append(m)
        return tf.reduce_all(tf.concat(masks, axis=self.axis), axis=-1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis,
                "supports_masking": self.supports_masking}


class _Add(keras.layers.Layer):
    """Sum of a list of same-shape tensors; an empty list gives the constant [[0.0]] (DeepCTR)."""

    def call(self, inputs):
        if len(inputs) == 0:
            return tf.constant([[0.0]])
        return tf.add_n(inputs)


def add_func(inputs):
    """Sum of a list of tensors (a non-list or a single tensor is returned as is)."""
    if not isinstance(inputs, list):
        return inputs
    if len(inputs) == 1:
        return inputs[0]
    return _Add()(inputs)


def concat_func(inputs, axis=-1, mask=False):
    """Concatenates a list of tensors (a single tensor is returned as is)."""
    if not mask:
        inputs = [NoMask()(x) for x in inputs]
    if len(inputs) == 1:
        return inputs[0]
    return keras.layers.Concatenate(axis=axis)(inputs)


def reduce_sum(x, axis=None, keep_dims=False, name=None, reduction_indices=None):
    """tf.reduce_sum with DeepCTR's TF1-style arguments (`reduction_indices` = old name of axis)."""
    return tf.reduce_sum(x, axis=axis if axis is not None else reduction_indices,
                         keepdims=keep_dims, name=name)


def reduce_mean(x, axis=None, keep_dims=False, name=None, reduction_indices=None):
    """tf.reduce_mean with DeepCTR's TF1-style arguments."""
    return tf.reduce_mean(x, axis=axis if axis is not None else reduction_indices,
                          keepdims=keep_dims, name=name)


def reduce_max(x, axis=None, keep_dims=False, name=None, reduction_indices=None):
    """tf.reduce_max with DeepCTR's TF1-style arguments."""
    return tf.reduce_max(x, axis=axis if axis is not None else reduction_indices,
                         keepdims=keep_dims, name=name)


def div(x, y, name=None):
    """x / y (tf.divide)."""
    return tf.divide(x, y, name=name)


def softmax(logits, dim=-1, name=None):
    """tf.nn.softmax over axis `dim` (DeepCTR's argument name)."""
    return tf.nn.softmax(logits, axis=dim, name=name)


def combined_dnn_input(sparse_embedding_list, dense_value_list):
    """Flattens [B, 1, d_i] embeddings and [B, k_j] dense values into one [B, sum] tensor."""
    parts = []
    if sparse_embedding_list:
        parts.append(keras.layers.Flatten()(concat_func(sparse_embedding_list)))
    if dense_value_list:
        parts.append(keras.layers.Flatten()(concat_func(dense_value_list)))
    if not parts:
        raise ValueError("combined_dnn_input needs at least one sparse or dense feature")
    return concat_func(parts)
