"""FNN (Zhang et al., 2016, "Deep Learning over Multi-field Categorical Data"): a DNN over
field embeddings.

    sparse/dense inputs ─ embeddings + dense ─ DNN ─ Dense(1) ─ PredictionLayer

The paper initialises the embeddings from a pre-trained FM; here (as in DeepCTR) they are
trained end to end -- pass `embeddings_initializer` in the SparseFeats to start from FM vectors.
"""
from ..inputs import input_from_feature_columns
from ..layers.utils import combined_dnn_input
from .base import build_features, check_task, dnn_logit, output_model


def FNN(linear_feature_columns, dnn_feature_columns, dnn_hidden_units=(256, 128, 64),
        l2_reg_embedding=1e-5, l2_reg_linear=1e-5, l2_reg_dnn=0, seed=1024, dnn_dropout=0,
        dnn_activation="relu", task="binary"):
    """FNN. As in DeepCTR 0.9.4 there is no linear logit: `linear_feature_columns` only adds
    model inputs (so the same feature dict feeds every model) and `l2_reg_linear` is unused;
    both are kept for API compatibility. `dnn_hidden_units` must not be empty."""
    check_task(task, "FNN")
    if not dnn_hidden_units:
        raise ValueError("FNN needs at least one hidden layer in dnn_hidden_units, got "
                         f"{dnn_hidden_units!r}")
    features = build_features(linear_feature_columns, dnn_feature_columns)
    sparse_embeddings, dense_values = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed)
    logit = dnn_logit(combined_dnn_input(sparse_embeddings, dense_values), dnn_hidden_units,
                      dnn_activation, l2_reg_dnn, dnn_dropout, False, seed)
    return output_model(features, logit, task, "FNN")
