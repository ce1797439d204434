"""FNN (Zhang et al., 2016, "Deep Learning over Multi-field Categorical Data"): a DNN over
field embeddings.

    sparse/dense inputs ─ embeddings + dense ─ DNN ─ Dense(1) ─ PredictionLayer

The paper initialises the embeddings from a pre-trained FM; here (as in DeepCTR) they are
trained end to end -- pass `embeddings_initializer` in the SparseFeats to start from FM vectors.
"""
from .base import build_features, check_task, dnn_logit, embedded_dnn_input, output_model


def FNN(linear_feature_columns, dnn_feature_columns, dnn_hidden_units=(256, 128, 64),
        l2_reg_embedding=1e-5, l2_reg_linear=1e-5, l2_reg_dnn=0, seed=1024, dnn_dropout=0,
        dnn_activation="relu", task="binary"):
    """FNN: the DNN logit alone, as in the paper and as DeepCTR since #555 (DeepCTR 0.9.4 and
    ctr_models before it added a WDL-style linear logit over `linear_feature_columns`).

    `linear_feature_columns` and `l2_reg_linear` stay in the signature for DeepCTR
    compatibility: the linear columns are still model inputs (so the input names do not change)
    but feed nothing. An empty `dnn_hidden_units` makes the deep part Dense(1) over the
    embeddings and dense values.

    Weights saved from the old FNN (a checkpoint or `save_weights`, e.g. an FNNEstimator's
    model_dir) have its layout, which is exactly WDL's: restore them into
    ``WDL(linear_feature_columns, dnn_feature_columns, ...)`` built with the same arguments.
    A whole saved model (SavedModel, .keras/.h5) reloads from its own config and needs nothing.
    """
    check_task(task, "FNN")
    features = build_features(linear_feature_columns, dnn_feature_columns)
    deep_input = embedded_dnn_input(features, dnn_feature_columns, l2_reg_embedding, seed)
    logit = dnn_logit(deep_input, dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout,
                      False, seed)
    return output_model(features, logit, task, "FNN")
