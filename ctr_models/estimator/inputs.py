"""DeepCTR's estimator input functions, on tf.data.

Each returns an input_fn: a callable that returns a tf.data.Dataset of (features, labels) batches
(or features only when `label` is None), which ctr_models' estimators (and Keras) consume.
"""
import numpy as np
import tensorflow as tf

__all__ = ["input_fn_pandas", "input_fn_tfrecord"]


def _column_values(series):
    values = series.to_numpy()
    if values.dtype == object:
        return values.astype(str)
    if np.issubdtype(values.dtype, np.floating):
        return values.astype(np.float32)
    return values


def input_fn_pandas(df, features, label=None, batch_size=256, num_epochs=1, shuffle=False,
                    queue_capacity_factor=10, num_threads=1):
    """Batches of the DataFrame columns `features` (and `label`), `num_epochs` passes (None:
    forever), shuffled within `queue_capacity_factor * batch_size` rows when `shuffle`.
    `num_threads` is accepted for compatibility (tf.data parallelises on its own)."""
    missing = [name for name in list(features) + ([label] if label else []) if name not in df]
    if missing:
        raise KeyError(f"input_fn_pandas: columns {missing} are not in the DataFrame")
    x = {name: _column_values(df[name]) for name in features}
    y = None if label is None else df[label].to_numpy().astype(np.float32)

    def input_fn():
        data = tf.data.Dataset.from_tensor_slices((x, y) if y is not None else x)
        if shuffle:
            data = data.shuffle(max(1, queue_capacity_factor * batch_size))
        return data.repeat(num_epochs).batch(batch_size).prefetch(tf.data.AUTOTUNE)

    return input_fn


def input_fn_tfrecord(filenames, feature_description, label=None, batch_size=256, num_epochs=1,
                      num_parallel_calls=8, shuffle_factor=10, prefetch_factor=1):
    """Batches of tf.Examples from TFRecord `filenames` parsed with `feature_description`
    (name -> tf.io.FixedLenFeature ...); `label` is split off as the labels. Shuffled within
    `shuffle_factor * batch_size` examples when `shuffle_factor` > 0; `prefetch_factor` batches
    are prefetched."""
    if label is not None and label not in feature_description:
        raise KeyError(f"input_fn_tfrecord: label {label!r} is not in feature_description")

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, feature_description)
        if label is None:
            return parsed
        labels = parsed.pop(label)
        return parsed, labels

    def input_fn():
        data = tf.data.TFRecordDataset(filenames)
        if shuffle_factor > 0:
            data = data.shuffle(buffer_size=batch_size * shuffle_factor)
        data = data.repeat(num_epochs).batch(batch_size)
        data = data.map(parse, num_parallel_calls=num_parallel_calls)
        return data.prefetch(buffer_size=max(1, prefetch_factor))

    return input_fn
