"""FLEN (Chen et al., 2019, "FLEN: Leveraging Field for Scalable CTR Prediction"): fields are
grouped by `group_name` (e.g. user / item / context); a field-wise bi-interaction (MF between
groups + FM within groups) sits beside a DNN.

    embeddings by group_name (user, item, ...)      all embeddings + dense
                  │                                          │
        FieldWiseBiInteraction [B, k]                       DNN
     (MF between groups + FM within groups)                  │
                  └──────────────── concat ──────────────────┘
                                      │
                                   Dense(1) ─ + linear logit ─ PredictionLayer
"""
from ..layers.core import DNN
from ..layers.field_interaction import FieldWiseBiInteraction
from ..layers.utils import combined_dnn_input, concat_func
from .base import (add_func, check_equal_dims, check_task, linear_and_embeddings, logit_dense,
                   output_model, sparse_columns)


def FLEN(linear_feature_columns, dnn_feature_columns, dnn_hidden_units=(256, 128, 64),
         l2_reg_linear=1e-5, l2_reg_embedding=1e-5, l2_reg_dnn=0, seed=1024, dnn_dropout=0.0,
         dnn_activation="relu", dnn_use_bn=False, task="binary"):
    """FLEN. The sparse fields of `dnn_feature_columns` must span at least 2 distinct
    `group_name`s and share one embedding_dim. An empty `dnn_hidden_units` passes the DNN
    input through unchanged (as DeepCTR's empty DNN does)."""
    check_task(task, "FLEN")
    groups = {}
    for fc in sparse_columns(dnn_feature_columns):
        groups.setdefault(fc.group_name, []).append(fc.name)
    if len(groups) < 2:
        raise ValueError(f"FLEN needs sparse fields in at least 2 distinct group_names (set "
                         f"SparseFeat(group_name=...), e.g. user/item/context), got {groups}")
    check_equal_dims(dnn_feature_columns, "FLEN", "field-wise bi-interaction")
    features, linear_logit, group_embeddings, dense_values = linear_and_embeddings(
        linear_feature_columns, dnn_feature_columns, l2_reg_linear, l2_reg_embedding, seed,
        support_group=True)
    field_wise = FieldWiseBiInteraction(seed=seed)(
        [concat_func(embeddings, axis=1) for embeddings in group_embeddings.values()])
    deep = combined_dnn_input([e for group in group_embeddings.values() for e in group],
                              dense_values)
    if dnn_hidden_units:
        deep = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn,
                   seed=seed)(deep)
    logit = logit_dense(concat_func([field_wise, deep]), seed)
    return output_model(features, add_func([linear_logit, logit]), task, "FLEN")
