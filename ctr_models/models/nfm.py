"""NFM (He & Chua, 2017, "Neural Factorization Machines"): Bi-Interaction pooling of the field
embeddings, then a DNN, plus a linear part.

    inputs ─┬─ linear logit ─────────────────────────────────────────────────────┐
            └─ embeddings ─ BiInteractionPooling ─ (dropout) ─┐                  │
               dense values ──────────────────────────────────┴─ DNN ─ Dense(1) ─┴─ + ─ Prediction
"""
import tf_keras as keras

from ..layers.interaction import BiInteractionPooling
from ..layers.utils import combined_dnn_input, concat_func
from .base import (add_func, check_task, dnn_logit, linear_and_embeddings, output_model,
                   require_sparse_fields)


def NFM(linear_feature_columns, dnn_feature_columns, dnn_hidden_units=(256, 128, 64),
        l2_reg_embedding=1e-5, l2_reg_linear=1e-5, l2_reg_dnn=0, seed=1024, bi_dropout=0,
        dnn_dropout=0, dnn_activation="relu", task="binary"):
    """NFM. `bi_dropout` drops Bi-Interaction outputs while training. An empty
    `dnn_hidden_units` is the paper's NFM-0: the pooled vector is projected straight to a logit."""
    check_task(task, "NFM")
    require_sparse_fields(dnn_feature_columns, "NFM", "Bi-Interaction pooling")
    features, linear_logit, sparse_embeddings, dense_values = linear_and_embeddings(
        linear_feature_columns, dnn_feature_columns, l2_reg_linear, l2_reg_embedding, seed)
    bi_out = BiInteractionPooling()(concat_func(sparse_embeddings, axis=1))
    if bi_dropout:
        bi_out = keras.layers.Dropout(bi_dropout, seed=seed)(bi_out)
    dnn_input = combined_dnn_input([bi_out], dense_values)
    deep_logit = dnn_logit(dnn_input, dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout,
                           False, seed)
    return output_model(features, add_func([linear_logit, deep_logit]), task, "NFM")
