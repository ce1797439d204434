"""DSIN (Feng et al., 2019, "Deep Session Interest Network for Click-Through Rate Prediction"):
behaviours split into sessions; a shared self-attention extracts one interest per session, a
BiLSTM relates the session interests, and both are pooled by attention against the candidate.

    sess_0_X … sess_{S-1}_X ─ (BiasEncoding) ─ Transformer per session ─ interests [B, S, D] ─┐
                                                            ┌──────────────────────────────┤
    candidate X ─ query [B, 1, D] ─┬─ AttentionSequencePoolingLayer(interests) ────────────┤
                                   └─ AttentionSequencePoolingLayer(BiLSTM(interests)) ────┤
    sparse + pooled varlen embeddings, both pooled interests, dense ── DNN ── Dense(1) ── Prediction
"""
from ...columns import DenseFeat, build_input_features
from ...layers.sequence import AttentionSequencePoolingLayer, BiasEncoding, BiLSTM, Transformer
from ...layers.utils import concat_func
from ..base import check_task
from ._common import (behaviour_keys, candidate_query, dnn_embedding_list, embed_columns,
                      sequence_length_name, sequence_model_output, session_name,
                      split_sequence_columns)

SESSION_COUNT_INPUT = "sess_length"


def _session_count_input(dnn_feature_columns):
    """The declared DenseFeat 'sess_length' (int) or None."""
    for fc in dnn_feature_columns:
        if fc.name == SESSION_COUNT_INPUT:
            if not isinstance(fc, DenseFeat) or fc.dimension != 1 or \
                    not str(fc.dtype).startswith(("int", "uint")):
                raise ValueError(f"DSIN: {SESSION_COUNT_INPUT!r} is the number of valid sessions; "
                                 f"declare it as DenseFeat({SESSION_COUNT_INPUT!r}, 1, "
                                 f"dtype='int32'), got {fc!r}")
            return fc
    return None


def DSIN(dnn_feature_columns, sess_feature_list, sess_max_count=5, bias_encoding=False,
         att_embedding_size=1, att_head_num=8, dnn_hidden_units=(256, 128, 64),
         dnn_activation="relu", dnn_dropout=0, dnn_use_bn=False, l2_reg_dnn=0,
         l2_reg_embedding=1e-6, seed=1024, task="binary"):
    """DSIN.

    Inputs: for each X in `sess_feature_list` a SparseFeat ``X`` (the candidate) and, for every
    session i < `sess_max_count`, a VarLenSparseFeat ``sess_<i>_X``, all of one maxlen. As in
    DeepCTR, session columns are always looked up in X's table (their own vocabulary_size,
    embedding_dim and embedding_name are ignored). The sum of the dims of `sess_feature_list`
    must equal att_embedding_size * att_head_num. Sessions fill from index 0.

    Session interest extraction: one Transformer(att_embedding_size, att_head_num, blinding,
    residual + feed-forward, no layer norm) shared by all sessions, with BiasEncoding before it
    when `bias_encoding` and position encoding inside it otherwise; each session is averaged
    over its valid steps. Steps of session i are valid by the ``length_name`` input of its
    columns when they declare one (then every session must), else by the padding mask (id 0).
    Session count: when the columns contain ``DenseFeat('sess_length', 1, dtype='int32')`` it
    gives the number of valid sessions for both interest attentions (and it never feeds the DNN
    as a value); otherwise a session is valid when it has at least one valid step. The BiLSTM
    (2 layers, units = the sessions' dim, dropout 0.2, directions averaged) always skips
    sessions without a valid step.
    Other VarLenSparseFeats are pooled into the DNN input; DenseFeats go to the DNN.

    Differences from DeepCTR 0.9.4: DeepCTR creates a hidden Input 'sess_length' that
    get_feature_names does not return (here it is read only when declared); DeepCTR drops other
    VarLenSparseFeats silently (here they are pooled into the DNN); the BiLSTM skips empty
    sessions (DeepCTR runs it over them); the Transformer differences listed in
    ctr_models.layers.sequence.Transformer (notably session means over valid steps only); an
    empty `dnn_hidden_units` gives Dense(1) over the DNN input; bad configurations raise a
    ValueError naming the feature at build time. tests/test_deepctr_parity.py checks that with
    full sessions of full length (and 'sess_length' declared) the predictions are DeepCTR's
    (copied weights), and measures the effect of padded steps and empty sessions.
    """
    check_task(task, "DSIN")
    if not isinstance(sess_max_count, int) or sess_max_count <= 0:
        raise ValueError(f"DSIN: sess_max_count must be a positive int, got {sess_max_count!r}")
    count_column = _session_count_input(dnn_feature_columns)
    columns = split_sequence_columns(
        dnn_feature_columns, sess_feature_list,
        [[session_name(i, x) for x in sess_feature_list] for i in range(sess_max_count)],
        "DSIN", list_name="sess_feature_list", share_candidate_table=True,
        length_inputs=(SESSION_COUNT_INPUT,))
    session_dim = sum(fc.embedding_dim for fc in columns.candidates)
    if att_embedding_size * att_head_num != session_dim:
        dims = {fc.name: fc.embedding_dim for fc in columns.candidates}
        raise ValueError(f"DSIN: the embedding dims of sess_feature_list {dims} sum to "
                         f"{session_dim}, but att_embedding_size * att_head_num = "
                         f"{att_embedding_size} * {att_head_num}; they must be equal")
    maxlens = {seq[0].name: seq[0].maxlen for seq in columns.sequences}
    if len(set(maxlens.values())) > 1:
        raise ValueError(f"DSIN: every session needs the same maxlen, got {maxlens}")
    length_names = [sequence_length_name(seq, "DSIN") for seq in columns.sequences]
    if len({name is None for name in length_names}) > 1:
        raise ValueError(f"DSIN: either every session declares a length_name or none does, got "
                         f"{dict(zip(maxlens, length_names))}")

    features = build_input_features(dnn_feature_columns)
    embeddings = embed_columns(features, columns, l2_reg_embedding, seed)
    query = candidate_query(embeddings, columns)
    sessions = [behaviour_keys(embeddings, seq) for seq in columns.sequences]
    if bias_encoding:
        encoded = BiasEncoding(sess_max_count, seed, name="bias_encoding")(
            sessions if sess_max_count > 1 else sessions[0])
        sessions = encoded if sess_max_count > 1 else [encoded]
    by_mask = length_names[0] is None
    extractor = Transformer(att_embedding_size, att_head_num, dropout_rate=0,
                            use_layer_norm=False, use_positional_encoding=not bias_encoding,
                            seed=seed, supports_masking=by_mask, blinding=True,
                            name="session_interest_extractor")
    interests = concat_func(
        [extractor([s, s] if by_mask else [s, s] + [features[name]] * 2)
         for s, name in zip(sessions, length_names)], axis=1, mask=True)  # mask: valid sessions
    interest_lstm = BiLSTM(session_dim, layers=2, res_layers=0, dropout_rate=0.2,
                           name="session_interest_bilstm")(interests)

    def pool(values, name):
        if count_column is None:
            return AttentionSequencePoolingLayer((64, 16), weight_normalization=True,
                                                 supports_masking=True, name=name)([query, values])
        return AttentionSequencePoolingLayer((64, 16), weight_normalization=True, name=name)(
            [query, values, features[count_column.name]])

    pooled = [pool(interests, "interest_attention"), pool(interest_lstm, "lstm_attention")]
    return sequence_model_output(
        features, dnn_embedding_list(embeddings, features, columns) + pooled, columns,
        dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn, seed, task, "DSIN")
