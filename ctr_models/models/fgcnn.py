"""FGCNN (Liu et al., 2019, "Feature Generation by Convolutional Neural Network for
Click-Through Rate Prediction"): a CNN generates new fields from a second set of embeddings;
original and generated fields, their pairwise inner products and the dense values feed a DNN.

    embeddings [B, F, k]       fg embeddings [B, F, k]
            │                          │
            │                      FGCNNLayer ─ generated fields [B, N, k]
            └──── fields [B, F + N, k] ┘
                  │                  │
               flatten        InnerProductLayer ─ flatten       dense
                  └─────────────── concat ────────────────────────┘
                                     │
                                DNN ─ Dense(1) ─ + linear logit ─ PredictionLayer
"""
import tf_keras as keras

from ..inputs import input_from_feature_columns
from ..layers.core import DNN
from ..layers.field_interaction import FGCNNLayer
from ..layers.interaction import InnerProductLayer
from ..layers.utils import combined_dnn_input, concat_func
from .base import (add_func, check_task, linear_and_embeddings, logit_dense, output_model,
                   require_sparse_fields, sparse_columns)


def FGCNN(linear_feature_columns, dnn_feature_columns, conv_kernel_width=(7, 7, 7, 7),
          conv_filters=(14, 16, 18, 20), new_maps=(3, 3, 3, 3), pooling_width=(2, 2, 2, 2),
          dnn_hidden_units=(256, 128, 64), l2_reg_linear=1e-5, l2_reg_embedding=1e-5,
          l2_reg_dnn=0, dnn_dropout=0, seed=1024, task="binary"):
    """FGCNN. The four conv lists give one entry per CNN stage and must have equal length;
    each stage's max-pooling divides the field count by its pooling_width (floor), which must
    stay >= 1 (the defaults need 16 sparse fields). Empty conv lists drop the feature
    generation. DenseFeats join the DNN input (DeepCTR dropped them). `linear_feature_columns`
    may hold columns absent from `dnn_feature_columns` (DeepCTR raised KeyError). An empty
    `dnn_hidden_units` projects the DNN input straight to the logit."""
    check_task(task, "FGCNN")
    if not len(conv_kernel_width) == len(conv_filters) == len(new_maps) == len(pooling_width):
        raise ValueError(f"FGCNN conv_kernel_width, conv_filters, new_maps and pooling_width must "
                         f"have the same length, got {conv_kernel_width!r}, {conv_filters!r}, "
                         f"{new_maps!r}, {pooling_width!r}")
    require_sparse_fields(dnn_feature_columns, "FGCNN", "convolution over the field matrix")
    fields = [fc.name for fc in sparse_columns(dnn_feature_columns)]
    generator = None
    if conv_filters:
        generator = FGCNNLayer(conv_filters, conv_kernel_width, new_maps, pooling_width)
        generator.stage_rows(len(fields))  # raises now if pooling leaves no rows
    features, linear_logit, sparse_embeddings, dense_values = linear_and_embeddings(
        linear_feature_columns, dnn_feature_columns, l2_reg_linear, l2_reg_embedding, seed)
    all_fields = concat_func(sparse_embeddings, axis=1)
    if generator is not None:
        fg_embeddings, _ = input_from_feature_columns(features, dnn_feature_columns,
                                                      l2_reg_embedding, seed, prefix="fg_")
        all_fields = concat_func([all_fields, generator(concat_func(fg_embeddings, axis=1))],
                                 axis=1)
    if all_fields.shape[1] < 2:
        raise ValueError(f"FGCNN's inner products need at least 2 fields (original + generated), "
                         f"got {fields} and no generated fields")
    inner_products = keras.layers.Flatten()(InnerProductLayer()(all_fields))
    dnn_input = combined_dnn_input([all_fields], [inner_products] + dense_values)
    if dnn_hidden_units:
        dnn_input = DNN(dnn_hidden_units, "relu", l2_reg_dnn, dnn_dropout, seed=seed)(dnn_input)
    return output_model(features, add_func([linear_logit, logit_dense(dnn_input, seed)]), task,
                        "FGCNN")
