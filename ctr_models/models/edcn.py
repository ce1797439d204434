"""EDCN (Chen et al., 2021, "Enhancing Explicit and Implicit Feature Interactions via
Information Sharing for Parallel Deep CTR Models"): cross and deep towers of equal width run
layer by layer; after each layer a bridge module fuses them and regulation modules (field-wise
softmax gates with temperature tau) give each tower its next input.

                   fields = embeddings [B, F, k]
              ┌────────────────┴────────────────┐
    RegulationModule(tau)             RegulationModule(tau)
              │                                 │
     CrossNet (1 layer)                   DNN([F * k])
              └────────── BridgeModule ─────────┘
    (repeated cross_num times; the next layer's fields: the bridge output as [B, F, k])

    concat(last cross out, last deep out, last bridge out) ─ Dense(1) ─ + linear logit
                                                                   ─ PredictionLayer
"""
import tf_keras as keras

from ..layers.core import DNN
from ..layers.field_interaction import BridgeModule, RegulationModule
from ..layers.interaction import CrossNet
from ..layers.utils import concat_func
from .base import (add_func, check_task, linear_and_embeddings, logit_dense, output_model,
                   require_sparse_fields)


def EDCN(linear_feature_columns, dnn_feature_columns, cross_num=2,
         cross_parameterization="vector", bridge_type="concatenation", tau=1.0,
         l2_reg_linear=1e-5, l2_reg_embedding=1e-5, l2_reg_cross=1e-5, l2_reg_dnn=0, seed=1024,
         dnn_dropout=0, dnn_use_bn=False, dnn_activation="relu", task="binary"):
    """EDCN. `cross_num` (> 0) cross/deep layer pairs; the deep layers are F*k wide (there is
    no dnn_hidden_units). `bridge_type` is 'pointwise_addition', 'hadamard_product',
    'concatenation' or 'attention_pooling'; `tau` (> 0) is the regulation temperature and
    survives save/load. Needs sparse fields of one embedding_dim and no DenseFeat in
    `dnn_feature_columns` (put dense features in `linear_feature_columns`, which may hold
    columns absent from `dnn_feature_columns`; DeepCTR raised KeyError for those)."""
    check_task(task, "EDCN")
    if not isinstance(cross_num, int) or cross_num < 1:
        raise ValueError(f"EDCN needs cross_num >= 1, got {cross_num!r}")
    if cross_parameterization not in CrossNet.PARAMETERIZATIONS:
        raise ValueError(f"EDCN cross_parameterization must be one of "
                         f"{CrossNet.PARAMETERIZATIONS}, got {cross_parameterization!r}")
    if bridge_type not in BridgeModule.BRIDGE_TYPES:
        raise ValueError(f"EDCN bridge_type must be one of {BridgeModule.BRIDGE_TYPES}, "
                         f"got {bridge_type!r}")
    if not tau > 0:
        raise ValueError(f"EDCN tau must be > 0, got {tau!r}")
    require_sparse_fields(dnn_feature_columns, "EDCN", "the bridge reshapes to [fields, dim]")
    features, linear_logit, sparse_embeddings, _ = linear_and_embeddings(
        linear_feature_columns, dnn_feature_columns, l2_reg_linear, l2_reg_embedding, seed,
        support_dense=False)
    fields = concat_func(sparse_embeddings, axis=1)
    field_size, embedding_size = int(fields.shape[1]), int(fields.shape[2])
    for i in range(cross_num):
        if i > 0:  # the next layer's input: the bridge output back as fields
            fields = keras.layers.Reshape((field_size, embedding_size))(bridge_out)
        cross_out = CrossNet(1, cross_parameterization, l2_reg_cross, seed + i)(
            RegulationModule(tau)(fields))
        deep_out = DNN([field_size * embedding_size], dnn_activation, l2_reg_dnn, dnn_dropout,
                       dnn_use_bn, seed=seed + i)(RegulationModule(tau)(fields))
        bridge_out = BridgeModule(bridge_type)([cross_out, deep_out])
    logit = logit_dense(concat_func([cross_out, deep_out, bridge_out]), seed)
    return output_model(features, add_func([linear_logit, logit]), task, "EDCN")
