"""FNN (Zhang et al., 2016, "Deep Learning over Multi-field Categorical Data"): a DNN over
field embeddings.

    sparse/dense inputs ─┬─ linear logit ─────────────────────────┐
                         └─ embeddings + dense ─ DNN ─ Dense(1) ──┴─ + ─ PredictionLayer

The paper initialises the embeddings from a pre-trained FM; here (as in DeepCTR) they are
trained end to end -- pass `embeddings_initializer` in the SparseFeats to start from FM vectors.
"""
from ..inputs import get_linear_logit, input_from_feature_columns
from ..layers.utils import combined_dnn_input
from .base import add_func, build_features, check_task, dnn_logit, output_model


def FNN(linear_feature_columns, dnn_feature_columns, dnn_hidden_units=(256, 128, 64),
        l2_reg_embedding=1e-5, l2_reg_linear=1e-5, l2_reg_dnn=0, seed=1024, dnn_dropout=0,
        dnn_activation="relu", task="binary"):
    """FNN. As in the DeepCTR 0.9.4 release, a linear logit over `linear_feature_columns` is
    added (the paper has none and DeepCTR's master dropped it after 0.9.4; pass
    `linear_feature_columns=[]` for that model). An empty
    `dnn_hidden_units` makes the deep part Dense(1) over the embeddings and dense values."""
    check_task(task, "FNN")
    features = build_features(linear_feature_columns, dnn_feature_columns)
    linear_logit = get_linear_logit(features, linear_feature_columns, seed=seed, prefix="linear",
                                    l2_reg=l2_reg_linear)
    sparse_embeddings, dense_values = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed)
    deep_logit = dnn_logit(combined_dnn_input(sparse_embeddings, dense_values), dnn_hidden_units,
                           dnn_activation, l2_reg_dnn, dnn_dropout, False, seed)
    return output_model(features, add_func([linear_logit, deep_logit]), task, "FNN")
