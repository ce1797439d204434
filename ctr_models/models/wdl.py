"""Wide & Deep (Cheng et al., 2016): a linear (wide) model plus a DNN over embeddings.

    sparse/dense inputs ─┬─ linear logit (wide) ─────────────────┐
                         └─ embeddings + dense ─ DNN ─ Dense(1) ─┴─ + ─ PredictionLayer
"""
from .base import linear_deep_model


def WDL(linear_feature_columns, dnn_feature_columns, dnn_hidden_units=(256, 128, 64),
        l2_reg_linear=1e-5, l2_reg_embedding=1e-5, l2_reg_dnn=0, seed=1024, dnn_dropout=0,
        dnn_activation="relu", task="binary"):
    """Wide & Deep. An empty `dnn_hidden_units` makes the deep part Dense(1) over the
    embeddings and dense values (as DeepCTR does)."""
    return linear_deep_model("WDL", linear_feature_columns, dnn_feature_columns,
                             dnn_hidden_units, l2_reg_linear, l2_reg_embedding, l2_reg_dnn, seed,
                             dnn_dropout, dnn_activation, task)
