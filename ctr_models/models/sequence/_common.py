"""What every behaviour-sequence model (DIN, DIEN, BST, DSIN) needs: splitting the columns into
candidates / behaviour sequences / other features, the query and keys embeddings (sharing the
candidate's table), the sequence lengths, and the DNN + prediction tail.

Naming conventions (DeepCTR's, relied on by the pipeline):
- for each name X of the model's feature list there is a SparseFeat ``X`` (the candidate);
- a behaviour sequence is one VarLenSparseFeat per X: ``hist_X`` (DIN, DIEN, BST),
  ``neg_hist_X`` (DIEN's negative samples), ``sess_<i>_X`` (DSIN's i-th session);
- every other VarLenSparseFeat is pooled by its combiner into the DNN input.

Lengths of a behaviour sequence: when its columns declare a ``length_name`` (DeepCTR uses
"seq_length"), that int input [B, 1] gives the number of valid (leading) steps; otherwise the
padding mask (id 0 = padding) carried by the embedding decides, position by position.
"""
import logging
from collections import OrderedDict, namedtuple

from ...columns import DenseFeat, SparseFeat, VarLenSparseFeat, build_input_features
from ...inputs import get_dense_input, lookup_embeddings, pool_varlen
from ...layers.utils import combined_dnn_input, concat_func
from ..base import dnn_logit, logit_dense, output_model

__all__ = ["HISTORY_PREFIX", "history_name", "session_name", "SequenceColumns",
           "split_sequence_columns", "sequence_length_name", "embed_columns", "candidate_query",
           "behaviour_keys", "HistoryInputs", "history_inputs", "dnn_embedding_list",
           "sequence_model_output"]

_LOG = logging.getLogger(__name__)

HISTORY_PREFIX = "hist_"


def history_name(name, prefix=HISTORY_PREFIX):
    """The behaviour column read for candidate `name`: ``hist_<name>``."""
    return prefix + name


def session_name(index, name):
    """DSIN's column for candidate `name` in session `index`: ``sess_<index>_<name>``."""
    return f"sess_{index}_{name}"


SequenceColumns = namedtuple("SequenceColumns", [
    "candidates",    # [SparseFeat] for each name of the feature list, in its order
    "sequences",     # [[VarLenSparseFeat] aligned with candidates] per behaviour sequence
    "sparse",        # every SparseFeat (candidates included), in column order -> DNN
    "other_varlen",  # VarLenSparseFeats outside the behaviour sequences -> pooled into the DNN
    "dense",         # DenseFeats fed to the DNN (not those named like a length input)
])


def split_sequence_columns(dnn_feature_columns, feature_list, sequence_names, model_name,
                           list_name="history_feature_list", share_candidate_table=False,
                           length_inputs=()):
    """Splits the columns around the behaviour sequences and checks them.

    `sequence_names[s]` lists the VarLenSparseFeat names of behaviour sequence s, aligned with
    `feature_list` (e.g. ``[["hist_item", "hist_cate"]]``). With `share_candidate_table` the
    sequence columns are rewritten to read the candidate's table (DSIN: DeepCTR ignores their own
    vocabulary and dim). DenseFeats named in `length_inputs` or like a declared length_name are
    lengths, never DNN values. Raises ValueError naming the offending feature.
    """
    columns = list(dnn_feature_columns or [])
    if isinstance(feature_list, str) or not feature_list:
        raise ValueError(f"{model_name}: {list_name} must be a non-empty list of feature names, "
                         f"got {feature_list!r}")
    if len(set(feature_list)) != len(feature_list):
        raise ValueError(f"{model_name}: {list_name} names a feature twice: {list(feature_list)}")
    by_name = OrderedDict()
    for fc in columns:
        by_name.setdefault(fc.name, fc)
    candidates = []
    for name in feature_list:
        fc = by_name.get(name)
        if not isinstance(fc, SparseFeat):
            found = "missing" if fc is None else f"a {type(fc).__name__}"
            raise ValueError(f"{model_name}: {list_name} names {name!r}, which needs a SparseFeat "
                             f"{name!r} (the candidate) in dnn_feature_columns; it is {found}")
        candidates.append(fc)
    sequences = []
    for names in sequence_names:
        if len(names) != len(candidates):
            raise ValueError(f"{model_name}: sequence {list(names)} does not match {list_name} "
                             f"{list(feature_list)}")
        sequence = []
        for candidate, name in zip(candidates, names):
            fc = by_name.get(name)
            if not isinstance(fc, VarLenSparseFeat):
                found = "missing" if fc is None else f"a {type(fc).__name__}"
                raise ValueError(
                    f"{model_name}: {list_name} names {candidate.name!r}, which needs a "
                    f"VarLenSparseFeat {name!r} (its behaviour sequence, with "
                    f"embedding_name={candidate.embedding_name!r}) in dnn_feature_columns; it is "
                    f"{found}")
            if share_candidate_table:
                fc = fc._replace(sparsefeat=candidate._replace(name=fc.name, dtype=fc.dtype))
            elif fc.embedding_dim != candidate.embedding_dim:
                raise ValueError(
                    f"{model_name}: {name!r} has embedding_dim {fc.embedding_dim} but its "
                    f"candidate {candidate.name!r} has {candidate.embedding_dim}; they are "
                    f"compared by attention, so share the table: "
                    f"embedding_name={candidate.embedding_name!r}")
            elif fc.embedding_name != candidate.embedding_name:
                _LOG.warning("%s: %r reads table %r, not its candidate's %r: the two are learned "
                             "separately (pass embedding_name=%r to share them)", model_name, name,
                             fc.embedding_name, candidate.embedding_name, candidate.embedding_name)
            sequence.append(fc)
        maxlens = {fc.name: fc.maxlen for fc in sequence}
        if len(set(maxlens.values())) > 1:
            raise ValueError(f"{model_name}: the columns of one behaviour sequence need one maxlen "
                             f"(their steps are concatenated), got {maxlens}")
        sequence_length_name(sequence, model_name)  # checks consistency
        sequences.append(sequence)
    in_sequences = {fc.name for sequence in sequences for fc in sequence}
    length_names = {fc.length_name for fc in columns
                    if isinstance(fc, VarLenSparseFeat) and fc.length_name}
    length_names |= set(length_inputs)
    return SequenceColumns(
        candidates=candidates, sequences=sequences,
        sparse=[fc for fc in by_name.values() if isinstance(fc, SparseFeat)],
        other_varlen=[fc for fc in by_name.values()
                      if isinstance(fc, VarLenSparseFeat) and fc.name not in in_sequences],
        dense=[fc for fc in by_name.values()
               if isinstance(fc, DenseFeat) and fc.name not in length_names])


def sequence_length_name(sequence_columns, model_name):
    """The length input shared by one behaviour sequence's columns, or None (padding mask).
    Its columns must all declare the same length_name or none."""
    names = {fc.name: fc.length_name for fc in sequence_columns}
    if len(set(names.values())) > 1:
        raise ValueError(f"{model_name}: the columns of one behaviour sequence must declare the "
                         f"same length_name (or none), got {names}")
    return next(iter(names.values()))


def embed_columns(features, columns, l2_reg_embedding, seed):
    """One lookup for all candidate, behaviour and other columns (shared tables are read once).
    Returns name -> [B, 1, d] (SparseFeat) or [B, maxlen, d] carrying the padding mask."""
    all_columns = OrderedDict()
    for fc in columns.sparse + [fc for seq in columns.sequences for fc in seq] + \
            columns.other_varlen:
        all_columns.setdefault(fc.name, fc)
    return lookup_embeddings(features, list(all_columns.values()), l2_reg_embedding, seed)


def candidate_query(embeddings, columns):
    """The candidates' embeddings side by side: [B, 1, sum of dims] (no mask)."""
    return concat_func([embeddings[fc.name] for fc in columns.candidates], axis=-1)


def behaviour_keys(embeddings, sequence):
    """One behaviour sequence's embeddings side by side: [B, T, sum of dims], carrying the
    padding mask (a step is valid when every column's id there is non-zero)."""
    return concat_func([embeddings[fc.name] for fc in sequence], axis=-1, mask=True)


HistoryInputs = namedtuple("HistoryInputs", ["features", "embeddings", "history", "query",
                                             "keys", "length_name"])


def history_inputs(dnn_feature_columns, columns, l2_reg_embedding, seed, model_name):
    """The start of DIN, DIEN and BST: an input per column, their embeddings (embed_columns),
    the first behaviour sequence's columns (`history`), the candidate query [B, 1, D], that
    sequence's keys [B, T, D] and its length input's name (None: the padding mask decides)."""
    features = build_input_features(dnn_feature_columns)
    embeddings = embed_columns(features, columns, l2_reg_embedding, seed)
    history = columns.sequences[0]
    return HistoryInputs(features, embeddings, history, candidate_query(embeddings, columns),
                         behaviour_keys(embeddings, history),
                         sequence_length_name(history, model_name))


def dnn_embedding_list(embeddings, features, columns):
    """[B, 1, d] tensors for the DNN: every SparseFeat, then every other VarLenSparseFeat pooled
    by its combiner (weights and length_name honoured)."""
    pooled = pool_varlen(embeddings, features, columns.other_varlen)
    return [embeddings[fc.name] for fc in columns.sparse] + list(pooled.values())


def sequence_model_output(features, embedding_list, columns, dnn_hidden_units, dnn_activation,
                          l2_reg_dnn, dnn_dropout, dnn_use_bn, seed, task, name):
    """The common tail: DNN over [flattened embeddings + interest vectors, dense values] ->
    Dense(1) -> PredictionLayer; an empty `dnn_hidden_units` goes straight to Dense(1)."""
    dnn_input = combined_dnn_input(embedding_list, get_dense_input(features, columns.dense))
    if dnn_hidden_units:
        logit = dnn_logit(dnn_input, dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout,
                          dnn_use_bn, seed)
    else:
        logit = logit_dense(dnn_input, seed)
    return output_model(features, logit, task, name)
