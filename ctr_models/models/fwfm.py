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
from ..feature_column import DEFAULT_GROUP_NAME
from ..inputs import get_linear_logit, input_from_feature_columns
from ..layers.field_interaction import FwFMLayer
from ..layers.utils import combined_dnn_input, concat_func
from .base import (add_func, as_group_tuple, build_features, check_equal_dims, check_task,
                   dnn_logit, output_model)


def FwFM(linear_feature_columns, dnn_feature_columns, fm_group=(DEFAULT_GROUP_NAME,),
         dnn_hidden_units=(256, 128, 64), l2_reg_linear=1e-5, l2_reg_embedding=1e-5,
         l2_reg_field_strength=1e-5, l2_reg_dnn=0, seed=1024, dnn_dropout=0,
         dnn_activation="relu", dnn_use_bn=False, task="binary"):
    """FwFM. The field-weighted FM runs within each group named in `fm_group` (a group name,
    matched exactly, or a list of names); the DNN sees every group. An empty
    `dnn_hidden_units` gives FwFM + linear only."""
    check_task(task, "FwFM")
    fm_group = as_group_tuple(fm_group)
    check_equal_dims([fc for fc in dnn_feature_columns if getattr(fc, "group_name", None)
                      in fm_group], "FwFM", "FwFM within an fm_group")
    features = build_features(linear_feature_columns, dnn_feature_columns)
    linear_logit = get_linear_logit(features, linear_feature_columns, seed=seed, prefix="linear",
                                    l2_reg=l2_reg_linear)
    group_embeddings, dense_values = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed, support_group=True)
    logits = [linear_logit]
    logits += [FwFMLayer(len(embeddings), l2_reg_field_strength)(concat_func(embeddings, axis=1))
               for group, embeddings in group_embeddings.items() if group in fm_group]
    if dnn_hidden_units:
        all_embeddings = [e for group in group_embeddings.values() for e in group]
        logits.append(dnn_logit(combined_dnn_input(all_embeddings, dense_values),
                                dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout,
                                dnn_use_bn, seed))
    return output_model(features, add_func(logits), task, "FwFM")
