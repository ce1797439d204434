"""FiBiNET (Huang et al., 2019, "FiBiNET: Combining Feature Importance and Bilinear feature
Interaction for Click-Through Rate Prediction"): squeeze-excitation reweights the fields;
bilinear interactions of the original and of the reweighted fields feed a DNN.

              embeddings [B, F, k]
           ┌──────────┴───────────┐
       SENETLayer                 │
           │                      │
    BilinearInteraction    BilinearInteraction    dense
           └──────────────────┬───┴───────────────┘
                            concat
                              │
                DNN ─ Dense(1) ─ + linear logit ─ PredictionLayer
"""
from ..layers.core import DNN
from ..layers.field_interaction import BilinearInteraction, SENETLayer
from ..layers.utils import combined_dnn_input
from .base import (add_func, check_task, linear_and_embeddings, logit_dense, output_model,
                   require_sparse_fields)


def FiBiNET(linear_feature_columns, dnn_feature_columns, bilinear_type="interaction",
            reduction_ratio=3, dnn_hidden_units=(256, 128, 64), l2_reg_linear=1e-5,
            l2_reg_embedding=1e-5, l2_reg_dnn=0, seed=1024, dnn_dropout=0,
            dnn_activation="relu", task="binary"):
    """FiBiNET. `bilinear_type` is 'each' (one matrix per left field), 'all' (one shared) or
    'interaction' (one per field pair). Needs at least 2 sparse fields of one embedding_dim.
    An empty `dnn_hidden_units` projects the DNN input straight to the logit."""
    check_task(task, "FiBiNET")
    if bilinear_type not in BilinearInteraction.BILINEAR_TYPES:
        raise ValueError(f"FiBiNET bilinear_type must be one of "
                         f"{BilinearInteraction.BILINEAR_TYPES}, got {bilinear_type!r}")
    require_sparse_fields(dnn_feature_columns, "FiBiNET", "bilinear field interactions",
                          min_fields=2)
    features, linear_logit, sparse_embeddings, dense_values = linear_and_embeddings(
        linear_feature_columns, dnn_feature_columns, l2_reg_linear, l2_reg_embedding, seed)
    senet_embeddings = SENETLayer(reduction_ratio, seed)(sparse_embeddings)
    senet_bilinear = BilinearInteraction(bilinear_type, seed)(senet_embeddings)
    bilinear = BilinearInteraction(bilinear_type, seed + 1)(sparse_embeddings)
    dnn_input = combined_dnn_input([senet_bilinear, bilinear], dense_values)
    if dnn_hidden_units:
        dnn_input = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout,
                        seed=seed)(dnn_input)
    return output_model(features, add_func([linear_logit, logit_dense(dnn_input, seed)]), task,
                        "FiBiNET")
