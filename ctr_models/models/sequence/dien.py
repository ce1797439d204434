"""DIEN (Zhou et al., 2019, "Deep Interest Evolution Network for Click-Through Rate Prediction"):
an interest extractor GRU turns the behaviours into interest states, an interest evolution layer
follows how the interests relevant to the candidate evolve, and an auxiliary loss (optional)
teaches the extractor to predict the next behaviour.

    hist_X ── keys [B, T, D] ── interest extractor GRU ── interests [B, T, D] ─┐
                                    │                                         │
    neg_hist_X ─────────────────────┴─ AuxiliaryLoss (alpha *, add_loss)      │
    candidate X ── query [B, 1, D] ── interest evolution (gru_type) ──────────┴─ interest [B, 1, D]
    sparse + pooled varlen embeddings, interest, dense ── DNN ── Dense(1) ── PredictionLayer

Interest evolution, by gru_type:
    GRU:   GRU over the interests, then attention pooling of its states against the query;
    AIGRU: GRU over the interests scaled by their attention scores, last state;
    AGRU:  attention replaces the update gate, last state;
    AUGRU: attention scales the update gate, last state.
"""
import logging

import tf_keras as keras

from ...layers.recurrent import GRU_TYPES, AuxiliaryLoss, DynamicGRU, StepMask
from ...layers.sequence import AttentionSequencePoolingLayer
from ..base import check_task
from ._common import (behaviour_keys, dnn_embedding_list, history_inputs, history_name,
                      sequence_model_output,
                      split_sequence_columns)

_LOG = logging.getLogger(__name__)

NEG_HISTORY_PREFIX = "neg_hist_"


def interest_evolution(interests, query, steps, gru_type, att_hidden_units, att_activation,
                       att_weight_normalization):
    """interests [B, T, D] (masked at padded steps), query [B, 1, D] -> interest [B, 1, D]."""
    def attention(return_score, name):
        return AttentionSequencePoolingLayer(att_hidden_units, att_activation,
                                             weight_normalization=att_weight_normalization,
                                             return_score=return_score, supports_masking=True,
                                             name=name)

    if gru_type == "GRU":
        evolved = DynamicGRU(gru_type="GRU", name="interest_evolution_gru")([interests, steps])
        return attention(False, "interest_attention")([query, evolved])
    scores = attention(True, "interest_attention")([query, interests])  # [B, 1, T]
    scores = keras.layers.Permute((2, 1), name="attention_per_step")(scores)  # [B, T, 1]
    final_state = DynamicGRU(gru_type=gru_type, return_sequence=False,
                             name=f"interest_evolution_{gru_type.lower()}")
    if gru_type == "AIGRU":
        weighted = keras.layers.Multiply(name="attention_scaled_interests")([interests, scores])
        return final_state([weighted, steps])
    return final_state([interests, steps, scores])


def DIEN(dnn_feature_columns, history_feature_list, gru_type="GRU", use_negsampling=False,
         alpha=1.0, use_bn=False, dnn_hidden_units=(256, 128, 64), dnn_activation="relu",
         att_hidden_units=(64, 16), att_activation="dice", att_weight_normalization=True,
         l2_reg_dnn=0, l2_reg_embedding=1e-6, dnn_dropout=0, seed=1024, task="binary"):
    """DIEN.

    Inputs: for each X in `history_feature_list` a SparseFeat ``X`` (the candidate) and a
    VarLenSparseFeat ``hist_X`` of the same embedding_dim, normally sharing its table
    (``embedding_name=X``'s); with `use_negsampling` also a VarLenSparseFeat ``neg_hist_X``
    (a non-clicked item sampled for every step of hist_X, same table and maxlen). The columns
    of all X are concatenated per step (D = sum of their dims; the GRUs have D units).
    Sequence length: the ``length_name`` input of the hist_X columns when they declare one
    (all the same; DeepCTR's data names it "seq_length"), steps t >= length being padding;
    otherwise the padding mask (id 0 = padding, at any position: masked steps keep the GRU
    state). Every other VarLenSparseFeat is pooled by its combiner into the DNN input;
    DenseFeats go to the DNN. All inputs are those of get_feature_names(dnn_feature_columns).
    With `use_negsampling`, ``alpha * AuxiliaryLoss`` is added to the model's losses
    (model.add_loss), so `fit` minimises it together with the compiled loss.

    Differences from DeepCTR 0.9.4:
    - the auxiliary loss works for every gru_type (it supervises the interest extractor, which
      every type has); DeepCTR computes it only for AUGRU and fails for the others;
    - no input named "seq_length" is required (see above); a missing hist_X / neg_hist_X or
      mismatched dims/maxlens raise a ValueError naming the feature at build time;
    - pure Keras (keras.layers.RNN, graph and eager mode, SavedModel export); DeepCTR uses TF1
      sessions and contrib dynamic_rnn;
    - the GRU cells follow the paper's equations (see ctr_models.layers.recurrent): AUGRU scales
      the update gate by the attention score (DeepCTR scales the keep gate by 1 - score);
    - the auxiliary loss is the mean over valid (t, t+1) pairs, not over all padded positions;
    - neg_hist_X columns given with use_negsampling=False stay model inputs but are unused
      (as DeepCTR), rather than being pooled into the DNN.
    tests/test_deepctr_parity.py compares the attention with DeepCTR's layer (equal) and the
    GRU with DeepCTR's DynamicGRU run in a TF1 graph (equal at the first step; the reset gate's
    place is measured), DeepCTR's DIEN itself not building in TF 2.16's Keras.
    """
    check_task(task, "DIEN")
    if gru_type not in GRU_TYPES:
        raise ValueError(f"DIEN: gru_type must be one of {GRU_TYPES}, got {gru_type!r}")
    history_names = [history_name(x) for x in history_feature_list]
    negative_names = [history_name(x, NEG_HISTORY_PREFIX) for x in history_feature_list]
    _check_negative_columns(dnn_feature_columns, negative_names, use_negsampling)
    columns = split_sequence_columns(
        dnn_feature_columns, history_feature_list,
        [history_names] + ([negative_names] if use_negsampling else []), "DIEN")
    columns = columns._replace(other_varlen=[fc for fc in columns.other_varlen
                                             if fc.name not in negative_names])
    features, embeddings, _, query, keys, length_name = history_inputs(
        dnn_feature_columns, columns, l2_reg_embedding, seed, "DIEN")
    steps = features[length_name] if length_name else StepMask(name="history_steps")(keys)

    interests = DynamicGRU(gru_type="GRU", name="interest_extractor_gru")([keys, steps])
    interest = interest_evolution(interests, query, steps, gru_type, att_hidden_units,
                                  att_activation, att_weight_normalization)
    model = sequence_model_output(
        features, dnn_embedding_list(embeddings, features, columns) + [interest], columns,
        dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, use_bn, seed, task, "DIEN")
    if use_negsampling:
        non_clicked = behaviour_keys(embeddings, columns.sequences[1])
        auxiliary_loss = AuxiliaryLoss(seed=seed, name="auxiliary_loss")(
            [interests, keys, non_clicked, steps])
        model.add_loss(alpha * auxiliary_loss)
    return model


def _check_negative_columns(dnn_feature_columns, negative_names, use_negsampling):
    """With negative sampling every neg_hist_X must exist (and match hist_X's maxlen)."""
    by_name = {fc.name: fc for fc in dnn_feature_columns or []}
    if not use_negsampling:
        present = [name for name in negative_names if name in by_name]
        if present:
            _LOG.info("DIEN: use_negsampling=False, so %s are not used", present)
        return
    missing = [name for name in negative_names if name not in by_name]
    if missing:
        raise ValueError(
            f"DIEN(use_negsampling=True) needs a VarLenSparseFeat of sampled non-clicked items "
            f"for each behaviour sequence; missing: {missing} (name it neg_hist_X, sharing X's "
            f"table and hist_X's maxlen), or pass use_negsampling=False")
    for name in negative_names:
        fc, hist = by_name[name], by_name.get(name[len("neg_"):])
        if hist is not None and getattr(fc, "maxlen", None) != getattr(hist, "maxlen", None):
            raise ValueError(f"DIEN: {name!r} has maxlen {getattr(fc, 'maxlen', None)} but "
                             f"{hist.name!r} has {getattr(hist, 'maxlen', None)}; negative "
                             f"samples are aligned step by step with the behaviours")
