"""DCN (Wang et al., 2017, "Deep & Cross Network for Ad Click Predictions"); with
cross_parameterization='matrix' the cross layers of DCN-M / DCN-V2 (Wang et al., 2020).

    inputs ─┬─ linear logit ─────────────────────────────────────────────────────┐
            └─ x0 = [flat embeddings, dense] ─┬─ CrossNet ─┐                     │
                                              └─ DNN ──────┴─ concat ─ Dense(1) ─┴─ + ─ Prediction
"""
from ..inputs import get_linear_logit, input_from_feature_columns
from ..layers.core import DNN
from ..layers.interaction import CrossNet
from ..layers.utils import combined_dnn_input, concat_func
from .base import add_func, build_features, check_task, logit_dense, output_model


def DCN(linear_feature_columns, dnn_feature_columns, cross_num=2, cross_parameterization="vector",
        dnn_hidden_units=(256, 128, 64), l2_reg_linear=1e-5, l2_reg_embedding=1e-5,
        l2_reg_cross=1e-5, l2_reg_dnn=0, seed=1024, dnn_dropout=0, dnn_use_bn=False,
        dnn_activation="relu", task="binary"):
    """DCN. `cross_num=0` gives deep only, empty `dnn_hidden_units` cross only (not both).
    Embeddings are flattened, so embedding dims may differ."""
    check_task(task, "DCN")
    if cross_parameterization not in CrossNet.PARAMETERIZATIONS:
        raise ValueError(f"DCN cross_parameterization must be one of "
                         f"{CrossNet.PARAMETERIZATIONS}, got {cross_parameterization!r}")
    if cross_num < 0 or (cross_num == 0 and not dnn_hidden_units):
        raise ValueError(f"DCN needs cross_num > 0 or a non-empty dnn_hidden_units, got "
                         f"cross_num={cross_num!r}, dnn_hidden_units={dnn_hidden_units!r}")
    features = build_features(linear_feature_columns, dnn_feature_columns)
    linear_logit = get_linear_logit(features, linear_feature_columns, seed=seed, prefix="linear",
                                    l2_reg=l2_reg_linear)
    sparse_embeddings, dense_values = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed)
    x0 = combined_dnn_input(sparse_embeddings, dense_values)
    towers = []
    if cross_num > 0:
        towers.append(CrossNet(cross_num, cross_parameterization, l2_reg_cross, seed)(x0))
    if dnn_hidden_units:
        towers.append(DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn,
                          seed=seed)(x0))
    logit = logit_dense(concat_func(towers), seed)
    return output_model(features, add_func([linear_logit, logit]), task, "DCN")
