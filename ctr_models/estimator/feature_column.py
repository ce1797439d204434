"""tf.feature_column columns -> ctr_models feature columns, and DeepCTR's estimator input helpers.

TensorFlow 2.16 still ships ``tf.feature_column``; the estimator models accept these kinds:

- ``numeric_column(key, shape, default_value, dtype, normalizer_fn)`` -> ``DenseFeat`` of
  prod(shape) values, `normalizer_fn` applied in-graph;
- ``categorical_column_with_identity(key, num_buckets)`` -> ``SparseFeat`` (int64 ids, read as
  they are; ids must lie in [0, num_buckets));
- ``categorical_column_with_hash_bucket(key, hash_bucket_size, dtype)`` -> ``SparseFeat`` with
  ``use_hash=True``: the same FarmHash buckets TensorFlow's column computes;
- ``embedding_column(<one of the two above>, dimension, initializer=..., trainable=...)`` ->
  that ``SparseFeat`` with ``embedding_dim=dimension`` (in the dnn columns).

A categorical column among the linear columns gets one weight per id; an embedding column there
is an error, as it was for DeepCTR's linear part. Not supported (a ``NotImplementedError`` names
the column): vocabulary-list/file, bucketized, crossed, indicator, weighted and shared-embedding
columns, ``sequence_*`` columns, an identity column's ``default_value``, a multi-dimensional
categorical input, and an embedding column's ``combiner``/``max_norm``/checkpoint warm start. An
embedding column keeps its initializer (TensorFlow's default: truncated normal with stddev
1/sqrt(dimension)), so each such table is its own variable (DeepCTR's layout, no fused lookup).
"""
import math
from collections import OrderedDict

import tensorflow as tf
from tensorflow.python.feature_column import feature_column_v2 as fc_v2

from .. import inputs as ctr_inputs
from ..columns import DenseFeat, SparseFeat, build_input_features
from .utils import LINEAR_SCOPE_NAME

__all__ = ["to_ctr_columns", "is_embedding", "linear_model", "get_linear_logit",
           "input_from_feature_columns", "parse_example_spec"]

_UNSUPPORTED = "ctr_models.estimator does not support"


def is_embedding(feature_column):
    """True for an embedding column (DeepCTR's test for the columns that go to the embeddings)."""
    return isinstance(feature_column, fc_v2.EmbeddingColumn)


def _categorical(column, embedding_dim, initializer=None, trainable=True):
    if isinstance(column, fc_v2.IdentityCategoricalColumn):
        if column.default_value is not None:
            raise NotImplementedError(f"{_UNSUPPORTED} default_value of identity column "
                                      f"{column.key!r}; map out-of-range ids before the model")
        return SparseFeat(column.key, int(column.number_buckets), embedding_dim, dtype="int64",
                          embeddings_initializer=initializer, trainable=trainable)
    if isinstance(column, fc_v2.HashedCategoricalColumn):
        dtype = "string" if column.dtype == tf.string else "int64"
        return SparseFeat(column.key, int(column.hash_bucket_size), embedding_dim, use_hash=True,
                          dtype=dtype, embeddings_initializer=initializer, trainable=trainable)
    raise NotImplementedError(f"{_UNSUPPORTED} {type(column).__name__} "
                              f"{getattr(column, 'name', column)!r}")


def to_ctr_columns(feature_columns, linear=False):
    """The ctr_models columns (SparseFeat / DenseFeat) describing `feature_columns`."""
    out = []
    for column in feature_columns or []:
        if isinstance(column, fc_v2.NumericColumn):
            out.append(DenseFeat(column.key, int(math.prod(column.shape)),
                                 transform_fn=column.normalizer_fn))
        elif is_embedding(column):
            if linear:
                raise ValueError(f"Embedding column {column.name!r} given as a linear feature "
                                 f"column; give its categorical column instead")
            if column.combiner != "mean" or column.max_norm is not None or column.ckpt_to_load_from:
                raise NotImplementedError(f"{_UNSUPPORTED} combiner/max_norm/ckpt_to_load_from of "
                                          f"embedding column {column.name!r}")
            out.append(_categorical(column.categorical_column, int(column.dimension),
                                    column.initializer, bool(column.trainable)))
        else:
            out.append(_categorical(column, 1))
    return out


def parse_example_spec(feature_columns):
    """tf.io parse spec of the raw features the columns read, every feature optional: a missing
    id is 0 (identity) or "" (hashed), a missing number its column's default_value or 0."""
    spec = {}
    for column in feature_columns:
        column = column.categorical_column if is_embedding(column) else column
        if isinstance(column, fc_v2.NumericColumn):
            default = column.default_value
            if default is None:
                default = (0.0,) * int(math.prod(column.shape))
            spec[column.key] = tf.io.FixedLenFeature(column.shape, column.dtype, default)
        elif isinstance(column, fc_v2.HashedCategoricalColumn) and column.dtype == tf.string:
            spec[column.key] = tf.io.FixedLenFeature([1], tf.string, "")
        else:
            spec[column.key] = tf.io.FixedLenFeature([1], tf.int64, 0)
    return spec


def model_inputs(features, columns):
    """Features reshaped to [B, width] and cast to the dtypes the ctr_models inputs declare."""
    out = OrderedDict()
    for name, spec in build_input_features(columns).items():
        x = features[name]
        if isinstance(x, tf.SparseTensor):  # e.g. parsed with tf.io.VarLenFeature
            x = tf.sparse.to_dense(x)
        x = tf.convert_to_tensor(x)
        x = tf.reshape(x, [-1, int(spec.shape[-1])])
        if x.dtype != spec.dtype:
            x = tf.strings.as_string(x) if spec.dtype == tf.string else tf.cast(x, spec.dtype)
        out[name] = x
    return out


def input_from_feature_columns(features, feature_columns, l2_reg_embedding=0.0):
    """(list of [B, 1, dim] embeddings, list of [B, d] dense values) of tf.feature_column
    columns (embedding and numeric), built with ctr_models' layers."""
    columns = to_ctr_columns(feature_columns)
    return ctr_inputs.input_from_feature_columns(model_inputs(features, columns), columns,
                                                 l2_reg_embedding, seed=1024)


def get_linear_logit(features, linear_feature_columns, l2_reg_linear=0):
    """[B, 1]: the linear part over tf.feature_column columns (categorical and numeric)."""
    columns = to_ctr_columns(linear_feature_columns, linear=True)
    return ctr_inputs.get_linear_logit(model_inputs(features, columns), columns,
                                       prefix=LINEAR_SCOPE_NAME, l2_reg=l2_reg_linear)


def linear_model(features, linear_feature_columns):
    """The linear part without regularisation (DeepCTR wrapped tf's linear_model here)."""
    return get_linear_logit(features, linear_feature_columns)
