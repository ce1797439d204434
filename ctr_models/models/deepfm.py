"""DeepFM (Guo et al., 2017): linear + FM + DNN over shared embeddings.

    sparse/dense inputs ─┬─ linear logit ───────────────┐
                         ├─ embeddings ─┬─ FM (per fm_group) ─┤─ + ─ PredictionLayer
                         │              └─ DNN ─ Dense(1) ────┘
"""
from ..feature_column import DEFAULT_GROUP_NAME
from ..inputs import get_linear_logit, input_from_feature_columns
from ..layers.interaction import FM
from ..layers.utils import combined_dnn_input, concat_func
from .base import (add_func, as_group_tuple, build_features, check_equal_dims, check_task,
                   dnn_logit, output_model)


def DeepFM(linear_feature_columns, dnn_feature_columns, fm_group=(DEFAULT_GROUP_NAME,),
           dnn_hidden_units=(256, 128, 64), l2_reg_linear=1e-5, l2_reg_embedding=1e-5,
           l2_reg_dnn=0, seed=1024, dnn_dropout=0, dnn_activation="relu", dnn_use_bn=False,
           task="binary"):
    """DeepFM. FM runs within each group named in `fm_group`; the DNN sees every group.
    An empty `dnn_hidden_units` gives FM + linear only."""
    check_task(task, "DeepFM")
    fm_group = as_group_tuple(fm_group)
    check_equal_dims([fc for fc in dnn_feature_columns if getattr(fc, "group_name", None)
                      in fm_group], "DeepFM", "FM within an fm_group")
    features = build_features(linear_feature_columns, dnn_feature_columns)
    linear_logit = get_linear_logit(features, linear_feature_columns, seed=seed, prefix="linear",
                                    l2_reg=l2_reg_linear)
    group_embeddings, dense_values = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed, support_group=True)
    logits = [linear_logit]
    logits += [FM()(concat_func(embeddings, axis=1))
               for group, embeddings in group_embeddings.items() if group in fm_group]
    if dnn_hidden_units:
        all_embeddings = [e for group in group_embeddings.values() for e in group]
        logits.append(dnn_logit(combined_dnn_input(all_embeddings, dense_values),
                                dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout,
                                dnn_use_bn, seed))
    return output_model(features, add_func(logits), task, "DeepFM")
