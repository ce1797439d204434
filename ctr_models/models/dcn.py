"""DCN (Wang et al., 2017, "Deep & Cross Network for Ad Click Predictions"); with
cross_parameterization='matrix' the cross layers of DCN-M / DCN-V2 (Wang et al., 2020).

    inputs ─┬─ linear logit ─────────────────────────────────────────────────────┐
            └─ x0 = [flat embeddings, dense] ─┬─ CrossNet ─┐                     │
                                              └─ DNN ──────┴─ concat ─ Dense(1) ─┴─ + ─ Prediction
"""
from ..layers.interaction import CrossNet
from .base import cross_deep_model


def DCN(linear_feature_columns, dnn_feature_columns, cross_num=2, cross_parameterization="vector",
        dnn_hidden_units=(256, 128, 64), l2_reg_linear=1e-5, l2_reg_embedding=1e-5,
        l2_reg_cross=1e-5, l2_reg_dnn=0, seed=1024, dnn_dropout=0, dnn_use_bn=False,
        dnn_activation="relu", task="binary"):
    """DCN. `cross_num=0` gives deep only, empty `dnn_hidden_units` cross only (not both).
    Embeddings are flattened, so embedding dims may differ."""
    if cross_parameterization not in CrossNet.PARAMETERIZATIONS:
        raise ValueError(f"DCN cross_parameterization must be one of "
                         f"{CrossNet.PARAMETERIZATIONS}, got {cross_parameterization!r}")
    if cross_num < 0:
        raise ValueError(f"DCN cross_num must be >= 0, got {cross_num!r}")
    cross = (CrossNet(cross_num, cross_parameterization, l2_reg_cross, seed)
             if cross_num > 0 else None)
    return cross_deep_model(
        "DCN", linear_feature_columns, dnn_feature_columns, cross, dnn_hidden_units,
        l2_reg_linear, l2_reg_embedding, l2_reg_dnn, seed, dnn_dropout, dnn_use_bn,
        dnn_activation, task)
