"""The one hashing rule for raw keys -> ids, shared by the Hash layer and the pipeline's Transform
so that a key gets the same id on every path."""
import tensorflow as tf


def hash_bucket_ids(keys, num_buckets, mask_zero=False):
    """FarmHash fingerprint buckets of string keys (non-strings are formatted first).

    mask_zero=False: ids in [0, num_buckets). mask_zero=True: '' and '0' (padding / missing; for
    numeric keys their 0) -> 0, every other key -> [1, num_buckets). Works on Tensor and RaggedTensor; returns int64.
    """
    if isinstance(keys, tf.RaggedTensor):
        return tf.ragged.map_flat_values(hash_bucket_ids, keys, num_buckets, mask_zero)
    zero = "0"
    if keys.dtype != tf.string:
        # a numeric 0 is padding in its own string form ("0", or "0.000000" for floats)
        zero = tf.strings.as_string(tf.zeros([], keys.dtype))
        keys = tf.strings.as_string(keys)
    if not mask_zero:
        return tf.strings.to_hash_bucket_fast(keys, num_buckets)
    ids = tf.strings.to_hash_bucket_fast(keys, num_buckets - 1) + 1
    is_pad = tf.logical_or(tf.equal(keys, ""), tf.equal(keys, zero))
    return tf.where(is_pad, tf.zeros_like(ids), ids)
