"""CCPM (Liu et al., 2015, "A Convolutional Click Prediction Model"): convolutions over the
stacked field embeddings with flexible k-max pooling, then a DNN, plus a linear part.

    inputs ─┬─ linear logit ──────────────────────────────────────────────────┐
            └─ embeddings [B, n, d, 1] ─ l x (Conv2D (w_i x 1, tanh)          │
                 ─ KMaxPooling(k_i, fields axis)) ─ flatten ─ DNN ─ Dense(1) ─┴─ + ─ Prediction

    k_i = max(1, floor((1 - (i/l)^(l-i)) * n)) for i < l, k_l = 3 (each capped by the rows left).
"""
import tf_keras as keras

from ..columns import DenseFeat
from ..layers.pooling import KMaxPooling
from ..layers.utils import concat_func
from .base import (add_func, check_task, dnn_logit, linear_and_embeddings, output_model,
                   require_sparse_fields, sparse_columns)


def _pooling_k(i, num_layers, num_fields):
    """Flexible p-max pooling size of conv layer i (1-based) of num_layers over num_fields."""
    if i < num_layers:
        return max(1, int((1 - pow(i / num_layers, num_layers - i)) * num_fields))
    return 3


def CCPM(linear_feature_columns, dnn_feature_columns, conv_kernel_width=(6, 5),
         conv_filters=(4, 4), dnn_hidden_units=(128, 64), l2_reg_linear=1e-5,
         l2_reg_embedding=1e-5, l2_reg_dnn=0, dnn_dropout=0, seed=1024, task="binary"):
    """CCPM. `conv_kernel_width` and `conv_filters` give the height and filter count of each
    conv layer (equal lengths). Needs equal embedding dims, no DenseFeat in
    `dnn_feature_columns` (put dense features in `linear_feature_columns`). An empty
    `dnn_hidden_units` projects the pooled maps straight to the logit (as DeepCTR)."""
    check_task(task, "CCPM")
    if len(conv_kernel_width) != len(conv_filters):
        raise ValueError(f"CCPM needs conv_kernel_width and conv_filters of equal length, got "
                         f"{conv_kernel_width!r} and {conv_filters!r}")
    dense = [fc.name for fc in dnn_feature_columns if isinstance(fc, DenseFeat)]
    if dense:
        raise ValueError(f"CCPM does not take DenseFeat in dnn_feature_columns, got {dense}")
    require_sparse_fields(dnn_feature_columns, "CCPM", "its convolution over stacked fields")
    num_fields = len(sparse_columns(dnn_feature_columns))
    features, linear_logit, sparse_embeddings, _ = linear_and_embeddings(
        linear_feature_columns, dnn_feature_columns, l2_reg_linear, l2_reg_embedding, seed,
        support_dense=False)
    x = keras.layers.Reshape((num_fields, -1, 1))(concat_func(sparse_embeddings, axis=1))
    rows = num_fields
    for i, (width, filters) in enumerate(zip(conv_kernel_width, conv_filters), start=1):
        x = keras.layers.Conv2D(filters, kernel_size=(width, 1), padding="same",
                                activation="tanh",
                                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i)
                                )(x)
        rows = min(_pooling_k(i, len(conv_filters), num_fields), rows)
        x = KMaxPooling(k=rows, axis=1)(x)
    logit = dnn_logit(keras.layers.Flatten()(x), dnn_hidden_units, "relu", l2_reg_dnn,
                      dnn_dropout, False, seed)
    return output_model(features, add_func([linear_logit, logit]), task, "CCPM")
