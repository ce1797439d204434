"""xDeepFM (Lian et al., 2018, "xDeepFM: Combining Explicit and Implicit Feature Interactions"):
linear part + Compressed Interaction Network + DNN.

    sparse/dense inputs ─┬─ linear logit ───────────────────────┐
                         └─ embeddings ─┬─ CIN ─ Dense(1) ──────┤
                            dense ──────┴─ DNN ─ Dense(1) ──────┴─ + ─ PredictionLayer
"""
from ..layers.interaction import CIN
from ..layers.utils import combined_dnn_input, concat_func
from .base import (add_func, check_task, dnn_logit, linear_and_embeddings, logit_dense,
                   output_model, require_sparse_fields)


def xDeepFM(linear_feature_columns, dnn_feature_columns, dnn_hidden_units=(256, 128, 64),
            cin_layer_size=(128, 128,), cin_split_half=True, cin_activation="relu",
            l2_reg_linear=1e-5, l2_reg_embedding=1e-5, l2_reg_dnn=0, l2_reg_cin=0, seed=1024,
            dnn_dropout=0, dnn_activation="relu", dnn_use_bn=False, task="binary"):
    """xDeepFM. An empty `cin_layer_size` drops the CIN (and with it the equal-dims
    requirement); an empty `dnn_hidden_units` makes the deep part Dense(1) over the
    embeddings and dense values (as DeepCTR does)."""
    check_task(task, "xDeepFM")
    cin = None
    if cin_layer_size:
        cin = CIN(cin_layer_size, cin_activation, cin_split_half, l2_reg_cin, seed)
        require_sparse_fields(dnn_feature_columns, "xDeepFM",
                              "CIN; pass cin_layer_size=() to drop it")
    features, linear_logit, sparse_embeddings, dense_values = linear_and_embeddings(
        linear_feature_columns, dnn_feature_columns, l2_reg_linear, l2_reg_embedding, seed)
    logits = [linear_logit]
    if cin is not None:
        logits.append(logit_dense(cin(concat_func(sparse_embeddings, axis=1)), seed))
    logits.append(dnn_logit(combined_dnn_input(sparse_embeddings, dense_values),
                            dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout,
                            dnn_use_bn, seed))
    return output_model(features, add_func(logits), task, "xDeepFM")
