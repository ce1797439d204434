"""BST (Chen et al., 2019, "Behavior Sequence Transformer for E-commerce Recommendation in
Alibaba"): self-attention over the behaviour sequence, then DIN-style attention pooling against
the candidate.

    hist_X (behaviours) ─ keys [B, T, D] ─ Transformer × transformer_num ─┐
    candidate X ──────────────────────── query [B, 1, D] ─────────────────┴─ AttentionSequence-
                                                                             PoolingLayer ─ interest
    sparse + pooled varlen embeddings, interest, dense ── DNN ── Dense(1) ── PredictionLayer
"""
from ...layers.sequence import AttentionSequencePoolingLayer, Transformer
from ..base import check_task
from ._common import (dnn_embedding_list, history_inputs, history_name, sequence_model_output,
                      split_sequence_columns)


def BST(dnn_feature_columns, history_feature_list, transformer_num=1, att_head_num=8,
        use_bn=False, dnn_hidden_units=(256, 128, 64), dnn_activation="relu", l2_reg_dnn=0,
        l2_reg_embedding=1e-6, dnn_dropout=0.0, seed=1024, task="binary"):
    """BST.

    Inputs: for each X in `history_feature_list` a SparseFeat ``X`` and a VarLenSparseFeat
    ``hist_X`` of the same embedding_dim (share the table with ``embedding_name=X``'s), all
    hist_X of one maxlen. The concatenated history dim D must be divisible by `att_head_num`
    (each Transformer has att_head_num heads of D / att_head_num units; position encoding,
    residuals, feed-forward and layer norm on, no blinding, dropout `dnn_dropout` as DeepCTR).
    The Transformer output is pooled by an AttentionSequencePoolingLayer((64, 16), softmax
    weights) against the candidates. `transformer_num=0` pools the raw behaviour embeddings.
    Sequence length: the ``length_name`` input of the hist_X columns when they declare one
    (e.g. "seq_length"); otherwise the padding mask (id 0 = padding). Other VarLenSparseFeats
    are pooled into the DNN input; DenseFeats go to the DNN. `use_bn` is the DNN's batch norm.

    Differences from DeepCTR 0.9.4: no hidden requirement of an input named "seq_length"
    (DeepCTR reads it whatever the columns declare); the Transformer differences listed in
    ctr_models.layers.sequence.Transformer; an empty `dnn_hidden_units` gives Dense(1) over the
    DNN input; bad configurations raise a ValueError naming the feature at build time.
    tests/test_deepctr_parity.py checks that, with the hist_X columns' length_name
    "seq_length", the predictions are DeepCTR's (copied weights) except on rows with an empty
    history, where the difference is measured.
    """
    check_task(task, "BST")
    if not isinstance(transformer_num, int) or transformer_num < 0:
        raise ValueError(f"BST: transformer_num must be an int >= 0, got {transformer_num!r}")
    columns = split_sequence_columns(dnn_feature_columns, history_feature_list,
                                     [[history_name(x) for x in history_feature_list]], "BST")
    history = columns.sequences[0]
    history_dim = sum(fc.embedding_dim for fc in history)
    if not isinstance(att_head_num, int) or att_head_num <= 0 or history_dim % att_head_num:
        dims = {fc.name: fc.embedding_dim for fc in history}
        raise ValueError(f"BST: the history embedding dims {dims} sum to {history_dim}, which "
                         f"must be divisible by att_head_num={att_head_num!r}")
    features, embeddings, _, query, sequence, length_name = history_inputs(
        dnn_feature_columns, columns, l2_reg_embedding, seed, "BST")
    lengths = [] if length_name is None else [features[length_name]]
    for i in range(transformer_num):
        transformer = Transformer(history_dim // att_head_num, att_head_num,
                                  dropout_rate=dnn_dropout, use_positional_encoding=True,
                                  use_res=True, use_feed_forward=True, use_layer_norm=True,
                                  blinding=False, seed=seed, supports_masking=not lengths,
                                  output_type=None, name=f"bst_transformer_{i}")
        sequence = transformer([sequence, sequence] + lengths * 2)
    interest = AttentionSequencePoolingLayer((64, 16), weight_normalization=True,
                                             supports_masking=not lengths,
                                             name="bst_attention")([query, sequence] + lengths)
    return sequence_model_output(
        features, dnn_embedding_list(embeddings, features, columns) + [interest], columns,
        dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, use_bn, seed, task, "BST")
