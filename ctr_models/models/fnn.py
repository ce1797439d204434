"""FNN (Zhang et al., 2016, "Deep Learning over Multi-field Categorical Data"): a DNN over
field embeddings.

    sparse/dense inputs ─┬─ linear logit ─────────────────────────┐
                         └─ embeddings + dense ─ DNN ─ Dense(1) ──┴─ + ─ PredictionLayer

The paper initialises the embeddings from a pre-trained FM; here (as in DeepCTR) they are
trained end to end -- pass `embeddings_initializer` in the SparseFeats to start from FM vectors.
"""
from .base import linear_deep_model


def FNN(linear_feature_columns, dnn_feature_columns, dnn_hidden_units=(256, 128, 64),
        l2_reg_embedding=1e-5, l2_reg_linear=1e-5, l2_reg_dnn=0, seed=1024, dnn_dropout=0,
        dnn_activation="relu", task="binary"):
    """FNN. As in the DeepCTR 0.9.4 release, a linear logit over `linear_feature_columns` is
    added (the paper has none and DeepCTR's master dropped it after 0.9.4; pass
    `linear_feature_columns=[]` for that model), so it computes what WDL does. An empty
    `dnn_hidden_units` makes the deep part Dense(1) over the embeddings and dense values."""
    return linear_deep_model("FNN", linear_feature_columns, dnn_feature_columns,
                             dnn_hidden_units, l2_reg_linear, l2_reg_embedding, l2_reg_dnn, seed,
                             dnn_dropout, dnn_activation, task)
