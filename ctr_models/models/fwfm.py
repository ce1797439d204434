"""FwFM (Pan et al., 2018, "Field-weighted Factorization Machines for Click-Through Rate
Prediction in Display Advertising"): FM whose pairwise terms carry one learned strength per
field pair, per fm_group; optionally beside a DNN.

    embeddings of each fm_group               all embeddings + dense
                │                                      │
      FwFMLayer: sum_{i<j} r_ij <v_i, v_j>            DNN ─ Dense(1)
                └────────────────── + ─────────────────┘
                                    │
                                  + linear logit ─ PredictionLayer
"""
from ..columns import DEFAULT_GROUP_NAME
from ..layers.field_interaction import FwFMLayer
from .base import grouped_interaction_model


def FwFM(linear_feature_columns, dnn_feature_columns, fm_group=(DEFAULT_GROUP_NAME,),
         dnn_hidden_units=(256, 128, 64), l2_reg_linear=1e-5, l2_reg_embedding=1e-5,
         l2_reg_field_strength=1e-5, l2_reg_dnn=0, seed=1024, dnn_dropout=0,
         dnn_activation="relu", dnn_use_bn=False, task="binary"):
    """FwFM. The field-weighted FM runs within each group named in `fm_group` (a group name,
    matched exactly, or a list of names); the DNN sees every group. An empty
    `dnn_hidden_units` gives FwFM + linear only (as DeepCTR's FwFM, unlike its DeepFM)."""
    return grouped_interaction_model(
        "FwFM", linear_feature_columns, dnn_feature_columns, fm_group,
        lambda x: FwFMLayer(int(x.shape[1]), l2_reg_field_strength)(x), dnn_hidden_units,
        l2_reg_linear, l2_reg_embedding, l2_reg_dnn, seed, dnn_dropout, dnn_activation,
        dnn_use_bn, task, deep_without_hidden=False)
