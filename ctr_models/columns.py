"""Feature columns (DeepCTR-compatible) and the Keras inputs they describe.

This is the lowest layer of the column API: inputs.py builds embeddings from these columns, and
feature_column.py (DeepCTR's module) re-exports both.

A model is described by lists of columns:
- ``SparseFeat``: one categorical id per example -> embedding [B, 1, dim]
- ``VarLenSparseFeat``: a padded list of ids (0 = padding) -> [B, maxlen, dim], pooled by `combiner`
- ``DenseFeat``: a float vector [B, dimension]
Columns sharing ``embedding_name`` share one embedding table.
"""
import numbers
from collections import OrderedDict, namedtuple

import tensorflow as tf
import tf_keras as keras

DEFAULT_GROUP_NAME = "default_group"

__all__ = ["SparseFeat", "DenseFeat", "VarLenSparseFeat", "DEFAULT_GROUP_NAME",
           "get_feature_names", "build_input_features", "auto_embedding_dim",
           "check_string_ids_are_converted"]


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def auto_embedding_dim(vocabulary_size):
    """Embedding dim used for ``embedding_dim='auto'``: 6 * vocabulary_size ** 0.25."""
    return 6 * int(pow(vocabulary_size, 0.25))


class SparseFeat(namedtuple("SparseFeat", [
        "name", "vocabulary_size", "embedding_dim", "use_hash", "vocabulary_path", "dtype",
        "embeddings_initializer", "embedding_name", "group_name", "trainable"])):
    """A single-valued categorical feature.

    ``use_hash=True`` hashes the raw (string) input into ``vocabulary_size`` buckets in-graph;
    ``vocabulary_path`` names a CSV of ``id,key`` rows (as DeepCTR: ids in [1, vocabulary_size),
    e.g. ``2,18`` maps key "18" to id 2); keys not in it map to 0.
    ``embeddings_initializer=None`` means the library default, RandomNormal(stddev=1e-4,
    seed=2020). A NumPy integer ``vocabulary_size`` / ``embedding_dim`` is accepted.
    """
    __slots__ = ()

    def __new__(cls, name, vocabulary_size, embedding_dim=4, use_hash=False, vocabulary_path=None,
                dtype="int32", embeddings_initializer=None, embedding_name=None,
                group_name=DEFAULT_GROUP_NAME, trainable=True):
        if embedding_name is None:
            embedding_name = name
        # NumPy integers (e.g. ``df[col].max() + 1``, as DeepCTR's examples write) are accepted.
        if not _is_int(vocabulary_size) or vocabulary_size < 1:
            raise ValueError(f"SparseFeat {name!r}: vocabulary_size must be a positive int, "
                             f"got {vocabulary_size!r}")
        vocabulary_size = int(vocabulary_size)
        if isinstance(embedding_dim, str) and embedding_dim == "auto":
            embedding_dim = auto_embedding_dim(vocabulary_size)
        if _is_int(embedding_dim):
            embedding_dim = int(embedding_dim)
        if not _is_int(embedding_dim) or embedding_dim < 1:
            raise ValueError(f"SparseFeat {name!r}: embedding_dim must be a positive int or 'auto', "
                             f"got {embedding_dim!r}")
        return super().__new__(cls, name, vocabulary_size, embedding_dim, use_hash, vocabulary_path,
                               dtype, embeddings_initializer, embedding_name, group_name, trainable)

    def __hash__(self):
        return self.name.__hash__()


class VarLenSparseFeat(namedtuple("VarLenSparseFeat", [
        "sparsefeat", "maxlen", "combiner", "length_name", "weight_name", "weight_norm"])):
    """A padded list of ids of length `maxlen` (id 0 is padding), pooled by `combiner`
    ('sum', 'mean' or 'max'). `length_name` names an extra int input with the true length;
    `weight_name` names a float input [B, maxlen, 1] of per-item weights."""
    __slots__ = ()

    def __new__(cls, sparsefeat, maxlen, combiner="mean", length_name=None, weight_name=None,
                weight_norm=True):
        if combiner not in ("sum", "mean", "max"):
            raise ValueError(f"VarLenSparseFeat {sparsefeat.name!r}: combiner must be sum, mean "
                             f"or max, got {combiner!r}")
        return super().__new__(cls, sparsefeat, maxlen, combiner, length_name, weight_name,
                               weight_norm)

    name = property(lambda self: self.sparsefeat.name)
    vocabulary_size = property(lambda self: self.sparsefeat.vocabulary_size)
    embedding_dim = property(lambda self: self.sparsefeat.embedding_dim)
    use_hash = property(lambda self: self.sparsefeat.use_hash)
    vocabulary_path = property(lambda self: self.sparsefeat.vocabulary_path)
    dtype = property(lambda self: self.sparsefeat.dtype)
    embeddings_initializer = property(lambda self: self.sparsefeat.embeddings_initializer)
    embedding_name = property(lambda self: self.sparsefeat.embedding_name)
    group_name = property(lambda self: self.sparsefeat.group_name)
    trainable = property(lambda self: self.sparsefeat.trainable)

    def __hash__(self):
        return self.name.__hash__()


class DenseFeat(namedtuple("DenseFeat", ["name", "dimension", "dtype", "transform_fn"])):
    """A float feature of `dimension` values. `transform_fn` (optional) is applied in-graph."""
    __slots__ = ()

    def __new__(cls, name, dimension=1, dtype="float32", transform_fn=None):
        return super().__new__(cls, name, dimension, dtype, transform_fn)

    def __hash__(self):
        return self.name.__hash__()


def _unique_columns(feature_columns):
    seen, out = set(), []
    for fc in feature_columns:
        if fc.name not in seen:
            seen.add(fc.name)
            out.append(fc)
    return out


def _is_string(dtype):
    try:
        return tf.as_dtype(dtype) == tf.string
    except TypeError:
        return dtype in ("string", "str")


def check_string_ids_are_converted(fc):
    """A string SparseFeat / VarLenSparseFeat needs its keys turned into ids in the graph, or the
    embedding lookup fails on them: refused here, as DeepCTR does since #551, unless it sets
    use_hash=True or (an extension of ctr_models) a vocabulary_path."""
    if _is_string(fc.dtype) and not fc.use_hash and not fc.vocabulary_path:
        raise ValueError(
            f"SparseFeat {fc.name!r} has dtype='string' but use_hash=False: an embedding lookup "
            f"needs integer ids, so set use_hash=True (the strings are hashed into "
            f"vocabulary_size buckets inside the model), give a vocabulary_path, or encode the "
            f"values as integer ids before they reach the model")


def build_input_features(feature_columns, prefix=""):
    """OrderedDict name -> keras.Input for every column (and its length/weight inputs).
    String SparseFeats / VarLenSparseFeats without use_hash=True (or a vocabulary_path) raise a
    ValueError (check_string_ids_are_converted), for every model, as DeepCTR since #551."""
    features = OrderedDict()
    for fc in feature_columns:
        if not isinstance(fc, (SparseFeat, DenseFeat, VarLenSparseFeat)):
            raise TypeError(f"Invalid feature column type, got {type(fc).__name__}: {fc!r}")
        if fc.name in features:
            continue
        if not isinstance(fc, DenseFeat):
            check_string_ids_are_converted(fc)
        if isinstance(fc, SparseFeat):
            features[fc.name] = keras.Input(shape=(1,), name=prefix + fc.name, dtype=fc.dtype)
        elif isinstance(fc, DenseFeat):
            features[fc.name] = keras.Input(shape=(fc.dimension,), name=prefix + fc.name,
                                            dtype=fc.dtype)
        elif isinstance(fc, VarLenSparseFeat):
            features[fc.name] = keras.Input(shape=(fc.maxlen,), name=prefix + fc.name,
                                            dtype=fc.dtype)
            if fc.weight_name is not None:
                features[fc.weight_name] = keras.Input(shape=(fc.maxlen, 1),
                                                       name=prefix + fc.weight_name,
                                                       dtype="float32")
            if fc.length_name is not None:
                features[fc.length_name] = keras.Input(shape=(1,), name=prefix + fc.length_name,
                                                       dtype="int32")
        else:
            raise TypeError(f"Invalid feature column type, got {type(fc).__name__}: {fc!r}")
    return features


def get_feature_names(feature_columns):
    """Names of the model inputs the columns need, in input order."""
    return list(build_input_features(_unique_columns(feature_columns)).keys())

