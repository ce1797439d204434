"""From feature columns to embeddings: table creation, (fused) lookup, pooling, linear logit.

Speed: DeepCTR keeps one table and one gather per field. Here every table of the same
embedding dim (default initializer, same trainability) lives in one variable with per-table
row offsets, and all fields -- single ids and id lists alike -- are looked up with ONE gather.
Tables are logical: columns sharing ``embedding_name`` read the same rows; ``fuse=False`` keeps
one variable per table (same maths, the layout DeepCTR uses).
"""
import contextlib
import contextvars
from collections import OrderedDict, defaultdict
from itertools import chain

import tensorflow as tf
import tf_keras as keras

from .columns import DenseFeat, SparseFeat, VarLenSparseFeat
from .layers.embedding import (DEFAULT_EMBEDDINGS_INITIALIZER, LINEAR_EMBEDDINGS_INITIALIZER,
                               FusedEmbedding)
from .layers.sequence import SequencePoolingLayer, WeightedSequenceLayer
from .layers.utils import Hash, Linear, concat_func



_FUSION = contextvars.ContextVar("ctr_models_embedding_fusion", default=True)


@contextlib.contextmanager
def embedding_fusion(enabled):
    """Within the block, models are built with fused tables (True, the default) or with one
    variable and one gather per table (False, DeepCTR's layout) -- for benchmarks and checks."""
    token = _FUSION.set(bool(enabled))
    try:
        yield
    finally:
        _FUSION.reset(token)


def _fusion_enabled(fuse):
    """`fuse` if given, else the embedding_fusion() setting (True by default)."""
    return _FUSION.get() if fuse is None else bool(fuse)


def check_shared_tables(columns):
    """Columns sharing an embedding_name read one table, so they must agree on its
    vocabulary_size, embedding_dim and trainable (as DeepCTR since #551); raises a ValueError
    naming both columns otherwise. Returns embedding_name -> the first column naming it."""
    tables = OrderedDict()
    for fc in columns:
        first = tables.setdefault(fc.embedding_name, fc)
        for attribute in ("vocabulary_size", "embedding_dim", "trainable"):
            if getattr(first, attribute) != getattr(fc, attribute):
                raise ValueError(
                    f"Feature columns with the same embedding_name must share the same "
                    f"{attribute}: {first.name!r} and {fc.name!r} both read embedding_name "
                    f"{fc.embedding_name!r} with {attribute} {getattr(first, attribute)!r} and "
                    f"{getattr(fc, attribute)!r}")
    return tables


def _ids_for(fc, features, seq_mask_zero, prefix=""):
    """The int id tensor of a column, hashing raw keys in-graph when the column asks for it."""
    x = features[fc.name]
    if fc.use_hash or fc.vocabulary_path:
        mask_zero = isinstance(fc, VarLenSparseFeat) and seq_mask_zero
        x = Hash(fc.vocabulary_size, mask_zero=mask_zero, vocabulary_path=fc.vocabulary_path,
                 name=f"{prefix}hash_{fc.name}")(x)
    return x


def lookup_embeddings(features, feature_columns, l2_reg=1e-5, seed=1024, prefix="",
                      seq_mask_zero=True, fuse=None,
                      default_initializer=DEFAULT_EMBEDDINGS_INITIALIZER):
    """Embeds every SparseFeat / VarLenSparseFeat in `feature_columns`.

    Returns OrderedDict name -> [B, 1, dim] (SparseFeat) or [B, maxlen, dim] (VarLenSparseFeat,
    masked where id == 0 when `seq_mask_zero`). Call once per model and prefix: each call owns
    its tables. `seed` seeds the default initializer so models built with different seeds differ.
    """
    columns = [fc for fc in feature_columns if isinstance(fc, (SparseFeat, VarLenSparseFeat))]
    if not columns:
        return OrderedDict()
    check_shared_tables(columns)
    # A table's initializer: the first one given by any column that reads it (so a pretrained
    # "item" table shared with a "hist_item" column that names no initializer stays one table).
    table_initializer = {}
    for fc in columns:
        if table_initializer.get(fc.embedding_name) is None:
            table_initializer[fc.embedding_name] = fc.embeddings_initializer
    # Group tables into physical variables: tables with the default initializer fuse by
    # (dim, trainable); a custom initializer (e.g. pretrained weights) keeps its own variable.
    groups = OrderedDict()
    for fc in columns:
        if _fusion_enabled(fuse) and table_initializer[fc.embedding_name] is None:
            key = ("fused", fc.embedding_dim, bool(fc.trainable))
        else:
            key = ("table", fc.embedding_name)
        group = groups.setdefault(key, {"tables": OrderedDict(), "inputs": [], "columns": []})
        group["tables"].setdefault(fc.embedding_name, fc)
        group["columns"].append(fc)
    out = {}
    for key, group in groups.items():
        table_names = list(group["tables"])
        first = group["tables"][table_names[0]]
        initializer = table_initializer[first.embedding_name]
        if initializer is None:
            initializer = dict(default_initializer)
            if "seed" in initializer.get("config", {}):
                initializer = {**initializer, "config": {**initializer["config"], "seed": seed}}
        name = (f"{prefix}emb_dim{first.embedding_dim}" + ("" if first.trainable else "_frozen")
                if key[0] == "fused" else f"{prefix}emb_{first.embedding_name}")
        layer = FusedEmbedding(
            table_sizes=[group["tables"][t].vocabulary_size for t in table_names],
            embedding_dim=first.embedding_dim,
            input_tables=[table_names.index(fc.embedding_name) for fc in group["columns"]],
            input_mask_zero=[isinstance(fc, VarLenSparseFeat) and seq_mask_zero
                             for fc in group["columns"]],
            embeddings_initializer=initializer, l2_reg=l2_reg, table_names=table_names,
            trainable=bool(first.trainable), name=name)
        embedded = layer([_ids_for(fc, features, seq_mask_zero, prefix)
                          for fc in group["columns"]])
        out.update(zip([fc.name for fc in group["columns"]], embedded))
    return OrderedDict((fc.name, out[fc.name]) for fc in columns)


def get_dense_input(features, feature_columns, prefix=""):
    """[B, dimension] tensors of the DenseFeats, with their transform_fn applied."""
    values = []
    for fc in feature_columns:
        if isinstance(fc, DenseFeat):
            x = features[fc.name]
            if fc.transform_fn is not None:
                x = keras.layers.Lambda(fc.transform_fn, name=f"{prefix}transform_{fc.name}")(x)
            values.append(x)
    return values


def pool_varlen(embedding_dict, features, varlen_columns):
    """Pools each VarLenSparseFeat's [B, maxlen, dim] embedding to [B, 1, dim]."""
    pooled = OrderedDict()
    for fc in varlen_columns:
        seq = embedding_dict[fc.name]
        if fc.weight_name is not None:
            if fc.length_name is not None:
                seq = WeightedSequenceLayer(fc.weight_norm)(
                    [seq, features[fc.length_name], features[fc.weight_name]])
            else:
                seq = WeightedSequenceLayer(fc.weight_norm, supports_masking=True)(
                    [seq, features[fc.weight_name]])
        if fc.length_name is not None:
            pooled[fc.name] = SequencePoolingLayer(fc.combiner)([seq, features[fc.length_name]])
        else:
            pooled[fc.name] = SequencePoolingLayer(fc.combiner, supports_masking=True)(seq)
    return pooled


def group_embedding_columns(feature_columns):
    """group_name -> the group's SparseFeat/VarLenSparseFeat columns, in the order DeepCTR returns
    their embeddings: groups in order of first appearance (groups holding a SparseFeat first),
    and within a group the SparseFeats before the VarLenSparseFeats, each kind as listed."""
    grouped = OrderedDict()
    for kind in (SparseFeat, VarLenSparseFeat):
        for fc in feature_columns or []:
            if isinstance(fc, kind):
                grouped.setdefault(fc.group_name, []).append(fc)
    return grouped


def embedding_columns_in_order(feature_columns):
    """The SparseFeat/VarLenSparseFeat columns in the order of input_from_feature_columns'
    flat embedding list (see group_embedding_columns)."""
    return [fc for group in group_embedding_columns(feature_columns).values() for fc in group]


def embed_in_column_order(features, columns, l2_reg, seed, prefix="",
                          default_initializer=DEFAULT_EMBEDDINGS_INITIALIZER):
    """[B, 1, dim] per SparseFeat/VarLenSparseFeat of `columns` (VarLenSparseFeats pooled),
    exactly in the order of `columns`: for models whose layers pair or weight fields by position
    (input_from_feature_columns reorders them by group and kind)."""
    embedded = lookup_embeddings(features, columns, l2_reg, seed, prefix,
                                 default_initializer=default_initializer)
    pooled = pool_varlen(embedded, features,
                         [fc for fc in columns if isinstance(fc, VarLenSparseFeat)])
    return [pooled.get(fc.name, embedded[fc.name]) for fc in columns
            if isinstance(fc, (SparseFeat, VarLenSparseFeat))]


def input_from_feature_columns(features, feature_columns, l2_reg, seed, prefix="",
                               seq_mask_zero=True, support_dense=True, support_group=False,
                               fuse=None, default_initializer=DEFAULT_EMBEDDINGS_INITIALIZER):
    """DeepCTR's entry point: (sparse embeddings, dense values).

    sparse embeddings: list of [B, 1, dim] (pooled for VarLenSparseFeat), or with
    `support_group` an OrderedDict group_name -> list, in DeepCTR's order
    (group_embedding_columns). dense values: list of [B, dimension].
    """
    dense_columns = [fc for fc in feature_columns if isinstance(fc, DenseFeat)]
    if dense_columns and not support_dense:
        raise ValueError(f"DenseFeat is not supported in dnn_feature_columns of this model: "
                         f"{[fc.name for fc in dense_columns]}")
    embedded = lookup_embeddings(features, feature_columns, l2_reg, seed, prefix, seq_mask_zero,
                                 fuse, default_initializer)
    varlen = [fc for fc in feature_columns if isinstance(fc, VarLenSparseFeat)]
    pooled = pool_varlen(embedded, features, varlen)
    grouped = OrderedDict((group, [pooled.get(fc.name, embedded[fc.name]) for fc in columns])
                          for group, columns in group_embedding_columns(feature_columns).items())
    dense_values = get_dense_input(features, feature_columns, prefix)
    if support_group:
        return grouped, dense_values
    return [e for group in grouped.values() for e in group], dense_values


def get_linear_logit(features, feature_columns, units=1, use_bias=False, seed=1024,
                     prefix="linear", l2_reg=0, fuse=None):
    """The wide part: [B, units] = sum of per-id weights + dense @ kernel (+ bias).

    Each sparse column gets a zero-initialised weight table of width `units` (so MLR's regions
    share one gather instead of one table per unit).
    """
    linear_columns = []
    for fc in feature_columns:
        if isinstance(fc, SparseFeat):
            linear_columns.append(fc._replace(embedding_dim=units, embeddings_initializer=None,
                                              embedding_name=prefix + "_" + fc.embedding_name))
        elif isinstance(fc, VarLenSparseFeat):
            linear_columns.append(fc._replace(sparsefeat=fc.sparsefeat._replace(
                embedding_dim=units, embeddings_initializer=None,
                embedding_name=prefix + "_" + fc.embedding_name)))
        else:
            linear_columns.append(fc)
    sparse, dense = input_from_feature_columns(features, linear_columns, l2_reg, seed,
                                               prefix=prefix + "_", fuse=fuse,
                                               default_initializer=LINEAR_EMBEDDINGS_INITIALIZER)
    sparse_input = concat_func(sparse, axis=1) if sparse else None
    dense_input = concat_func(dense) if dense else None
    linear = lambda mode: Linear(l2_reg, mode=mode, use_bias=use_bias, seed=seed, units=units)
    if sparse_input is not None and dense_input is not None:
        return linear(2)([sparse_input, dense_input])
    if sparse_input is not None:
        return linear(0)(sparse_input)
    if dense_input is not None:
        return linear(1)(dense_input)
    return keras.layers.Lambda(lambda x: tf.zeros((tf.shape(x)[0], units)))(
        list(features.values())[0])


# --------------------------------------------------------------------------------------------
# DeepCTR's inputs.py helpers, for code written against them (e.g. a custom model that builds
# its own embeddings). They keep DeepCTR's layout: one keras Embedding per table, one lookup per
# field. The models above use the fused lookup instead.

def get_inputs_list(inputs):
    """The values of every non-None dict in `inputs`, chained into one list."""
    return list(chain.from_iterable(d.values() for d in inputs if d is not None))


def _embedding_initializer(fc, seed):
    if fc.embeddings_initializer is not None:
        return fc.embeddings_initializer
    initializer = dict(DEFAULT_EMBEDDINGS_INITIALIZER)
    return {**initializer, "config": {**initializer["config"], "seed": seed}}


def create_embedding_dict(sparse_feature_columns, varlen_sparse_feature_columns, seed, l2_reg,
                          prefix="sparse_", seq_mask_zero=True):
    """embedding_name -> keras Embedding(vocabulary_size, embedding_dim): one table per
    embedding_name, shared by every column naming it, as DeepCTR since #551. The layer is named
    ``<prefix>_emb_<embedding_name>`` (``<prefix>_seq_emb_<embedding_name>`` when only
    VarLenSparseFeats read it) and masks id 0 when a VarLenSparseFeat reads it and
    `seq_mask_zero`. Columns of one embedding_name that disagree on vocabulary_size,
    embedding_dim or trainable raise a ValueError (check_shared_tables).

    DeepCTR 0.9.4 instead made one table per VarLenSparseFeat, named after the column, which
    replaced a SparseFeat's table of the same embedding_name in the dict (leaving that one
    unused), and failed on two SparseFeats sharing a name. Nothing here is kept of that: these
    helpers build no model of ctr_models, and a saved model reloads its layers from its config.
    """
    sparse = list(sparse_feature_columns or [])
    varlen = list(varlen_sparse_feature_columns or [])
    read_as_sequence = {fc.embedding_name for fc in varlen}
    tables = {}
    for name, fc in check_shared_tables(sparse + varlen).items():
        layer = keras.layers.Embedding(
            fc.vocabulary_size, fc.embedding_dim,
            embeddings_initializer=_embedding_initializer(fc, seed),
            embeddings_regularizer=keras.regularizers.l2(l2_reg),
            mask_zero=seq_mask_zero and name in read_as_sequence,
            name=prefix + ("_seq_emb_" if isinstance(fc, VarLenSparseFeat) else "_emb_") + name)
        layer.trainable = fc.trainable
        tables[name] = layer
    return tables


def create_embedding_matrix(feature_columns, l2_reg, seed, prefix="", seq_mask_zero=True):
    """create_embedding_dict for the SparseFeats and VarLenSparseFeats of `feature_columns`."""
    feature_columns = feature_columns or []
    return create_embedding_dict([fc for fc in feature_columns if isinstance(fc, SparseFeat)],
                                 [fc for fc in feature_columns
                                  if isinstance(fc, VarLenSparseFeat)],
                                 seed, l2_reg, prefix=prefix + "sparse",
                                 seq_mask_zero=seq_mask_zero)


def _lookup_ids(fc, input_dict, mask_zero):
    if fc.use_hash:
        return Hash(fc.vocabulary_size, mask_zero=mask_zero,
                    vocabulary_path=fc.vocabulary_path)(input_dict[fc.name])
    return input_dict[fc.name]


def get_embedding_vec_list(embedding_dict, input_dict, sparse_feature_columns,
                           return_feat_list=(), mask_feat_list=()):
    """[embedding of each column] (all, or those named in `return_feat_list`); note that, as in
    DeepCTR, `embedding_dict` is indexed by the column's name here."""
    return [embedding_dict[fc.name](_lookup_ids(fc, input_dict, fc.name in mask_feat_list))
            for fc in sparse_feature_columns
            if not return_feat_list or fc.name in return_feat_list]


def embedding_lookup(sparse_embedding_dict, sparse_input_dict, sparse_feature_columns,
                     return_feat_list=(), mask_feat_list=(), to_list=False):
    """group_name -> [[B, 1, dim] embedding per column] (or one flat list with `to_list`)."""
    grouped = defaultdict(list)
    for fc in sparse_feature_columns:
        if not return_feat_list or fc.name in return_feat_list:
            ids = _lookup_ids(fc, sparse_input_dict, fc.name in mask_feat_list)
            grouped[fc.group_name].append(sparse_embedding_dict[fc.embedding_name](ids))
    if to_list:
        return list(chain.from_iterable(grouped.values()))
    return grouped


def varlen_embedding_lookup(embedding_dict, sequence_input_dict, varlen_sparse_feature_columns):
    """name -> [B, maxlen, dim] embedding of each VarLenSparseFeat (hashed ids keep 0 = padding)."""
    return {fc.name: embedding_dict[fc.embedding_name](_lookup_ids(fc, sequence_input_dict, True))
            for fc in varlen_sparse_feature_columns}


def get_varlen_pooling_list(embedding_dict, features, varlen_sparse_feature_columns,
                            to_list=False):
    """group_name -> [[B, 1, dim] pooled sequence per VarLenSparseFeat] (weighted by
    `weight_name`, over `length_name` steps or the embedding mask), or a flat iterator with
    `to_list` (as DeepCTR)."""
    pooled = pool_varlen(embedding_dict, features, varlen_sparse_feature_columns)
    grouped = defaultdict(list)
    for fc in varlen_sparse_feature_columns:
        grouped[fc.group_name].append(pooled[fc.name])
    if to_list:
        return chain.from_iterable(grouped.values())
    return grouped


def mergeDict(a, b):
    """group_name -> list: b's lists appended to a's."""
    merged = defaultdict(list)
    for d in (a, b):
        for key, values in d.items():
            merged[key].extend(values)
    return merged
