"""DIN (Zhou et al., 2018, "Deep Interest Network for Click-Through Rate Prediction"): the user's
behaviours are pooled with weights given by a local activation unit against the candidate.

    candidate X ──────────── query [B, 1, D] ─┐
    hist_X (behaviours) ──── keys  [B, T, D] ─┴─ AttentionSequencePoolingLayer ─ interest [B, 1, D]
    sparse + pooled varlen embeddings, interest, dense ── DNN ── Dense(1) ── PredictionLayer
"""
from ...layers.sequence import AttentionSequencePoolingLayer
from ..base import check_task
from ._common import (dnn_embedding_list, history_inputs, history_name, sequence_model_output,
                      split_sequence_columns)


def DIN(dnn_feature_columns, history_feature_list, dnn_use_bn=False,
        dnn_hidden_units=(256, 128, 64), dnn_activation="relu", att_hidden_size=(80, 40),
        att_activation="dice", att_weight_normalization=False, l2_reg_dnn=0,
        l2_reg_embedding=1e-6, dnn_dropout=0, seed=1024, task="binary"):
    """DIN.

    Inputs: for each X in `history_feature_list` a SparseFeat ``X`` (the candidate) and a
    VarLenSparseFeat ``hist_X`` of the same embedding_dim, normally sharing its table
    (``embedding_name=X``'s). The hist_X of all X are concatenated per step, so they need one
    maxlen. The query is the candidates' embeddings concatenated, [B, 1, sum of dims].
    Sequence length: the ``length_name`` input of the hist_X columns when they declare one
    (all the same, e.g. "seq_length"); otherwise the padding mask (id 0 = padding, at any
    position). Every other VarLenSparseFeat is pooled by its combiner into the DNN input;
    DenseFeats go to the DNN (one named like a length_name is a length, not a value).

    Differences from DeepCTR 0.9.4: a declared length_name is used (DeepCTR ignores it and
    always masks by id); an empty `dnn_hidden_units` gives Dense(1) over the DNN input; missing
    or mismatched hist_X raise a ValueError naming the feature at build time.
    """
    check_task(task, "DIN")
    columns = split_sequence_columns(dnn_feature_columns, history_feature_list,
                                     [[history_name(x) for x in history_feature_list]], "DIN")
    features, embeddings, _, query, keys, length_name = history_inputs(
        dnn_feature_columns, columns, l2_reg_embedding, seed, "DIN")
    attention = AttentionSequencePoolingLayer(att_hidden_size, att_activation,
                                              weight_normalization=att_weight_normalization,
                                              supports_masking=length_name is None,
                                              name="din_attention")
    interest = attention([query, keys] if length_name is None
                         else [query, keys, features[length_name]])
    return sequence_model_output(
        features, dnn_embedding_list(embeddings, features, columns) + [interest], columns,
        dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn, seed, task, "DIN")
