"""DeepFEFM (Pande, 2020, "Field-Embedded Factorization Machines for Click-through Rate
Prediction"): FEFM field-pair interactions of the default_group fields give a logit (their
sum) and, with the field embeddings, the input of a DNN; plus a linear part. The flags select
the paper's ablations.

    default_group embeddings        all embeddings + dense
              │                             │
    FEFMLayer [B, F(F-1)/2] ───────────── concat (use_fefm_embed_in_dnn; alone with
              │                             │      exclude_feature_embed_in_dnn)
        sum (use_fefm)               DNN ─ Dense(1) (non-empty dnn_hidden_units)
              └──────────── + ──────────────┘
                            │
                          + linear logit (use_linear) ─ PredictionLayer
"""
import tensorflow as tf

from ..columns import DEFAULT_GROUP_NAME
from ..inputs import get_linear_logit, input_from_feature_columns
from ..layers.field_interaction import FEFMLayer
from ..layers.utils import combined_dnn_input, concat_func
from .base import (add_func, build_features, check_equal_dims, check_task, dnn_logit,
                   output_model, sparse_columns)


def DeepFEFM(linear_feature_columns, dnn_feature_columns, use_fefm=True,
             dnn_hidden_units=(256, 128, 64), l2_reg_linear=1e-5, l2_reg_embedding_feat=1e-5,
             l2_reg_embedding_field=1e-5, l2_reg_dnn=0, seed=1024, dnn_dropout=0.0,
             exclude_feature_embed_in_dnn=False, use_linear=True, use_fefm_embed_in_dnn=True,
             dnn_activation="relu", dnn_use_bn=False, task="binary"):
    """DeepFEFM, or the shallow FEFM with an empty `dnn_hidden_units`.

    FEFM interacts the sparse fields of group DEFAULT_GROUP_NAME ('default_group'; at least 2,
    one embedding_dim). The logit sums the enabled parts: linear (`use_linear`), FEFM
    (`use_fefm`), DNN (non-empty `dnn_hidden_units`); at least one is needed. The DNN input is
    the field embeddings and dense values plus the FEFM pair vector (`use_fefm_embed_in_dnn`),
    or that vector alone (`exclude_feature_embed_in_dnn`)."""
    check_task(task, "DeepFEFM")
    if not (use_linear or use_fefm or dnn_hidden_units):
        raise ValueError("DeepFEFM needs at least one of use_linear, use_fefm or a non-empty "
                         "dnn_hidden_units")
    fefm_in_dnn = bool(dnn_hidden_units) and use_fefm_embed_in_dnn
    if use_fefm or fefm_in_dnn:
        fefm_fields = [fc for fc in sparse_columns(dnn_feature_columns)
                       if fc.group_name == DEFAULT_GROUP_NAME]
        if len(fefm_fields) < 2:
            raise ValueError(f"DeepFEFM's FEFM needs at least 2 sparse fields in group "
                             f"{DEFAULT_GROUP_NAME!r}, got {[fc.name for fc in fefm_fields]}")
        check_equal_dims(fefm_fields, "DeepFEFM", "FEFM field-pair interactions")
    features = build_features(linear_feature_columns, dnn_feature_columns)
    group_embeddings, dense_values = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding_feat, seed, support_group=True)
    fefm = None
    if use_fefm or fefm_in_dnn:
        fefm = FEFMLayer(l2_reg_embedding_field)(
            concat_func(group_embeddings[DEFAULT_GROUP_NAME], axis=1))
    logits = []
    if use_linear:
        logits.append(get_linear_logit(features, linear_feature_columns, seed=seed,
                                       prefix="linear", l2_reg=l2_reg_linear))
    if use_fefm:
        logits.append(tf.reduce_sum(fefm, axis=1, keepdims=True))
    if dnn_hidden_units:
        all_embeddings = [e for group in group_embeddings.values() for e in group]
        if fefm_in_dnn and exclude_feature_embed_in_dnn:
            dnn_input = fefm
        elif fefm_in_dnn:
            dnn_input = combined_dnn_input(all_embeddings, dense_values + [fefm])
        else:
            dnn_input = combined_dnn_input(all_embeddings, dense_values)
        logits.append(dnn_logit(dnn_input, dnn_hidden_units, dnn_activation, l2_reg_dnn,
                                dnn_dropout, dnn_use_bn, seed))
    return output_model(features, add_func(logits), task, "DeepFEFM")
