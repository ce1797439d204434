"""DCN-Mix (Wang et al., 2020, "DCN V2: Improved Deep & Cross Network"): DCN whose cross layers
are mixtures of low-rank experts (CrossNetMix).

    inputs ─┬─ linear logit ────────────────────────────────────────────────────────┐
            └─ x0 = [flat embeddings, dense] ─┬─ CrossNetMix ─┐                     │
                                              └─ DNN ─────────┴─ concat ─ Dense(1) ─┴─ + ─ Predict
"""
from ..inputs import get_linear_logit, input_from_feature_columns
from ..layers.core import DNN
from ..layers.interaction import CrossNetMix
from ..layers.utils import combined_dnn_input, concat_func
from .base import add_func, build_features, check_task, logit_dense, output_model


def DCNMix(linear_feature_columns, dnn_feature_columns, cross_num=2,
           dnn_hidden_units=(256, 128, 64), l2_reg_linear=1e-5, l2_reg_embedding=1e-5,
           low_rank=32, num_experts=4, l2_reg_cross=1e-5, l2_reg_dnn=0, seed=1024,
           dnn_dropout=0, dnn_use_bn=False, dnn_activation="relu", task="binary"):
    """DCN-Mix. `cross_num=0` gives deep only, empty `dnn_hidden_units` cross only (not both).
    `low_rank` and `num_experts` must be positive ints."""
    check_task(task, "DCNMix")
    if cross_num < 0 or (cross_num == 0 and not dnn_hidden_units):
        raise ValueError(f"DCNMix needs cross_num > 0 or a non-empty dnn_hidden_units, got "
                         f"cross_num={cross_num!r}, dnn_hidden_units={dnn_hidden_units!r}")
    cross = CrossNetMix(low_rank, num_experts, cross_num, l2_reg_cross, seed) if cross_num else None
    features = build_features(linear_feature_columns, dnn_feature_columns)
    linear_logit = get_linear_logit(features, linear_feature_columns, seed=seed, prefix="linear",
                                    l2_reg=l2_reg_linear)
    sparse_embeddings, dense_values = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed)
    x0 = combined_dnn_input(sparse_embeddings, dense_values)
    towers = [cross(x0)] if cross is not None else []
    if dnn_hidden_units:
        towers.append(DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn,
                          seed=seed)(x0))
    logit = logit_dense(concat_func(towers), seed)
    return output_model(features, add_func([linear_logit, logit]), task, "DCNMix")
