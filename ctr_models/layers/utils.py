"""Small building blocks: hashing, the linear (wide) part, concatenation helpers."""
import tensorflow as tf
import tf_keras as keras

from ..hashing import hash_bucket_ids

__all__ = ["NoMask", "Hash", "Linear", "concat_func", "reduce_sum", "combined_dnn_input"]


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

    Input: [B, L] string or int tensor. Output: [B, L] int32.
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
        if x.dtype != tf.string:
            x = tf.strings.as_string(x)
        if self.vocabulary_path:
            return tf.cast(self.hash_table.lookup(x), tf.int32)
        ids = hash_bucket_ids(x, self.num_buckets, self.mask_zero)
        return tf.cast(ids, tf.int32)

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


def concat_func(inputs, axis=-1, mask=False):
    """Concatenates a list of tensors (a single tensor is returned as is)."""
    if not mask:
        inputs = [NoMask()(x) for x in inputs]
    if len(inputs) == 1:
        return inputs[0]
    return keras.layers.Concatenate(axis=axis)(inputs)


def reduce_sum(x, axis=None, keep_dims=False):
    return tf.reduce_sum(x, axis=axis, keepdims=keep_dims)


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
