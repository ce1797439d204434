"""AutoInt (Song et al., 2019, "AutoInt: Automatic Feature Interaction Learning via
Self-Attentive Neural Networks"): stacked multi-head self-attention over the field embeddings,
optionally beside a DNN, plus a linear part.

    embeddings [B, F, k]                  embeddings + dense
            │                                     │
    InteractingLayer × att_layer_num             DNN
            │                                     │
         flatten ─────────── concat ──────────────┘
                               │
                            Dense(1) ─ + linear logit ─ PredictionLayer
"""
import tf_keras as keras

from ..layers.core import DNN
from ..layers.field_interaction import InteractingLayer
from ..layers.utils import combined_dnn_input, concat_func
from .base import (add_func, check_task, linear_and_embeddings, logit_dense, output_model,
                   require_sparse_fields)


def AutoInt(linear_feature_columns, dnn_feature_columns, att_layer_num=3, att_embedding_size=8,
            att_head_num=2, att_res=True, dnn_hidden_units=(256, 128, 64), dnn_activation="relu",
            l2_reg_linear=1e-5, l2_reg_embedding=1e-5, l2_reg_dnn=0, dnn_use_bn=False,
            dnn_dropout=0, seed=1024, task="binary"):
    """AutoInt (AutoInt+ with a DNN). `att_layer_num=0` gives the DNN alone and an empty
    `dnn_hidden_units` the attention alone; not both. The attention needs at least one sparse
    field and one embedding_dim; DenseFeats feed the DNN (and the linear part)."""
    check_task(task, "AutoInt")
    if att_layer_num < 0 or (att_layer_num == 0 and not dnn_hidden_units):
        raise ValueError(f"AutoInt needs att_layer_num > 0 or a non-empty dnn_hidden_units, got "
                         f"att_layer_num={att_layer_num!r}, dnn_hidden_units={dnn_hidden_units!r}")
    if att_layer_num > 0:
        require_sparse_fields(dnn_feature_columns, "AutoInt",
                              "self-attention over fields; att_layer_num=0 drops it")
    features, linear_logit, sparse_embeddings, dense_values = linear_and_embeddings(
        linear_feature_columns, dnn_feature_columns, l2_reg_linear, l2_reg_embedding, seed)
    towers = []
    if att_layer_num > 0:
        att = concat_func(sparse_embeddings, axis=1)
        for i in range(att_layer_num):
            att = InteractingLayer(att_embedding_size, att_head_num, att_res,
                                   seed=seed + 4 * i)(att)
        towers.append(keras.layers.Flatten()(att))
    if dnn_hidden_units:
        towers.append(DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn,
                          seed=seed)(combined_dnn_input(sparse_embeddings, dense_values)))
    logit = logit_dense(concat_func(towers), seed)
    return output_model(features, add_func([linear_logit, logit]), task, "AutoInt")
