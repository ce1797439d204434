"""DCN-Mix (Wang et al., 2020, "DCN V2: Improved Deep & Cross Network"): DCN whose cross layers
are mixtures of low-rank experts (CrossNetMix).

    inputs ─┬─ linear logit ────────────────────────────────────────────────────────┐
            └─ x0 = [flat embeddings, dense] ─┬─ CrossNetMix ─┐                     │
                                              └─ DNN ─────────┴─ concat ─ Dense(1) ─┴─ + ─ Predict
"""
from ..layers.interaction import CrossNetMix
from .base import cross_deep_model


def DCNMix(linear_feature_columns, dnn_feature_columns, cross_num=2,
           dnn_hidden_units=(256, 128, 64), l2_reg_linear=1e-5, l2_reg_embedding=1e-5,
           low_rank=32, num_experts=4, l2_reg_cross=1e-5, l2_reg_dnn=0, seed=1024,
           dnn_dropout=0, dnn_use_bn=False, dnn_activation="relu", task="binary"):
    """DCN-Mix. `cross_num=0` gives deep only, empty `dnn_hidden_units` cross only (not both).
    `low_rank` and `num_experts` must be positive ints."""
    if cross_num < 0:
        raise ValueError(f"DCNMix cross_num must be >= 0, got {cross_num!r}")
    cross = (CrossNetMix(low_rank, num_experts, cross_num, l2_reg_cross, seed)
             if cross_num > 0 else None)
    return cross_deep_model(
        "DCNMix", linear_feature_columns, dnn_feature_columns, cross, dnn_hidden_units,
        l2_reg_linear, l2_reg_embedding, l2_reg_dnn, seed, dnn_dropout, dnn_use_bn,
        dnn_activation, task)
