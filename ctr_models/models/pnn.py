"""PNN (Qu et al., 2016, "Product-based Neural Networks for User Response Prediction"):
a DNN over the field embeddings and their pairwise inner and/or kernel ("outer") products.

    sparse ─ embeddings ─┬─ flatten ─────────────────────────┐
                         ├─ InnerProductLayer  (use_inner) ──┤
                         └─ OutterProductLayer (use_outter) ─┤
    dense ───────────────────────────────────────────────────┴─ concat ─ DNN ─ Dense(1) ─ Prediction
"""
import tf_keras as keras

from ..inputs import input_from_feature_columns
from ..layers.interaction import InnerProductLayer, OutterProductLayer
from ..layers.utils import combined_dnn_input
from .base import (build_features, check_equal_dims, check_task, dnn_logit, output_model,
                   sparse_columns)


def PNN(dnn_feature_columns, dnn_hidden_units=(256, 128, 64), l2_reg_embedding=1e-5,
        l2_reg_dnn=0, seed=1024, dnn_dropout=0, dnn_activation="relu", use_inner=True,
        use_outter=False, kernel_type="mat", task="binary"):
    """PNN (IPNN with use_inner, OPNN with use_outter, PNN* with both). Only the enabled
    products are built, so equal embedding dims and at least 2 sparse fields are required only
    when one is enabled. `kernel_type` ('mat', 'vec' or 'num') shapes the outer-product kernel.
    An empty `dnn_hidden_units` projects the DNN input straight to the logit (as DeepCTR)."""
    check_task(task, "PNN")
    if kernel_type not in OutterProductLayer.KERNEL_TYPES:
        raise ValueError(f"PNN kernel_type must be one of {OutterProductLayer.KERNEL_TYPES}, "
                         f"got {kernel_type!r}")
    if use_inner or use_outter:
        fields = [fc.name for fc in sparse_columns(dnn_feature_columns)]
        if len(fields) < 2:
            raise ValueError(f"PNN product layers need at least 2 sparse fields, got {fields}")
        check_equal_dims(dnn_feature_columns, "PNN", "pairwise products")
    features = build_features(dnn_feature_columns)
    sparse_embeddings, dense_values = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed)
    products = []
    if use_inner:
        products.append(keras.layers.Flatten()(InnerProductLayer()(sparse_embeddings)))
    if use_outter:
        products.append(OutterProductLayer(kernel_type, seed)(sparse_embeddings))
    logit = dnn_logit(combined_dnn_input(sparse_embeddings, products + dense_values),
                      dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, False, seed)
    return output_model(features, logit, task, "PNN")
