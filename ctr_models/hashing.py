"""The one hashing rule for raw keys -> ids, shared by the Hash layer and the pipeline's Transform
so that a key gets the same id on every path."""
import tensorflow as tf


def hash_bucket_ids(keys, num_buckets, mask_zero=False, zero_is_padding=True):
    """FarmHash fingerprint buckets of string keys (non-strings are formatted first).

    mask_zero=False: ids in [0, num_buckets). mask_zero=True: '' and '0' (padding / missing; for
    numeric keys their 0) -> 0, every other key -> [1, num_buckets). Works on Tensor and
    RaggedTensor; returns int64. zero_is_padding=False (with mask_zero): only '' (missing) -> 0,
    and '0' is hashed like any other key: the pipeline's Transform, where 0 is a value and a
    missing cell must keep its own id (DeepCTR's Hash layer pads '0', so the layer keeps True).
    """
    if isinstance(keys, tf.RaggedTensor):
        return tf.ragged.map_flat_values(hash_bucket_ids, keys, num_buckets, mask_zero,
                                         zero_is_padding)
    zero = "0"
    if keys.dtype != tf.string:
        # a numeric 0 is padding in its own string form ("0", or "0.000000" for floats)
        zero = tf.strings.as_string(tf.zeros([], keys.dtype))
        keys = tf.strings.as_string(keys)
    if not mask_zero:
        return tf.strings.to_hash_bucket_fast(keys, num_buckets)
    ids = tf.strings.to_hash_bucket_fast(keys, num_buckets - 1) + 1
    is_pad = tf.equal(keys, "")
    if zero_is_padding:
        is_pad = tf.logical_or(is_pad, tf.equal(keys, zero))
    return tf.where(is_pad, tf.zeros_like(ids), ids)
