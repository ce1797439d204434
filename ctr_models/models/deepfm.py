"""DeepFM (Guo et al., 2017): linear + FM + DNN over shared embeddings.

    sparse/dense inputs ─┬─ linear logit ───────────────┐
                         ├─ embeddings ─┬─ FM (per fm_group) ─┤─ + ─ PredictionLayer
                         │              └─ DNN ─ Dense(1) ────┘
"""
from ..columns import DEFAULT_GROUP_NAME
from ..layers.interaction import FM
from .base import grouped_interaction_model


def DeepFM(linear_feature_columns, dnn_feature_columns, fm_group=(DEFAULT_GROUP_NAME,),
           dnn_hidden_units=(256, 128, 64), l2_reg_linear=1e-5, l2_reg_embedding=1e-5,
           l2_reg_dnn=0, seed=1024, dnn_dropout=0, dnn_activation="relu", dnn_use_bn=False,
           task="binary"):
    """DeepFM. FM runs within each group named in `fm_group` (a group name, matched exactly, or
    a list of names); the DNN sees every group. An empty `dnn_hidden_units` keeps the deep
    logit as Dense(1) over the embeddings and dense values (as DeepCTR does). With only
    DenseFeats there is no FM branch at all (as DeepCTR since #555; 0.9.4 added a constant 0
    logit, which broke reloading such a model from .h5): the logit is linear + DNN."""
    return grouped_interaction_model(
        "DeepFM", linear_feature_columns, dnn_feature_columns, fm_group, lambda x: FM()(x),
        dnn_hidden_units, l2_reg_linear, l2_reg_embedding, l2_reg_dnn, seed, dnn_dropout,
        dnn_activation, dnn_use_bn, task)
