"""ONN / NFFM (Yang et al., 2019, "Operation-aware Neural Networks for User Response
Prediction"): every field has a separate embedding per partner field (operation-aware, as in
FFM); each field pair contributes the product of the two fields' embeddings for each other,
and the products feed a DNN.

    for each field pair i < j: e_i^(j) (field i's embedding for partner j), e_j^(i)
                        │
    e_i^(j) * e_j^(i) (reduce_sum: <e_i^(j), e_j^(i)>) ─ flatten ─ (BatchNorm)     dense
                        └────────────────────── concat ─────────────────────────────┘
                                                  │
                                       DNN ─ Dense(1) ─ + linear logit ─ PredictionLayer
"""
import tensorflow as tf
import tf_keras as keras

from ..columns import DEFAULT_GROUP_NAME, SparseFeat, VarLenSparseFeat
from ..inputs import embed_in_column_order, get_dense_input
from ..layers.core import DNN
from ..layers.utils import combined_dnn_input, concat_func
from .base import (add_func, check_task, features_and_linear_logit, logit_dense, output_model,
                   require_sparse_fields)


def _for_partner(fc, partner):
    """A copy of column `fc` embedding it for the pair with `partner`: its own table per
    partner field, named from fc's embedding_name (so columns sharing an embedding_name keep
    sharing, per partner)."""
    changes = dict(name=f"{fc.name}_for_{partner.name}",
                   embedding_name=f"{fc.embedding_name}_for_{partner.name}",
                   group_name=DEFAULT_GROUP_NAME)
    if isinstance(fc, VarLenSparseFeat):
        return fc._replace(sparsefeat=fc.sparsefeat._replace(**changes))
    return fc._replace(**changes)


def ONN(linear_feature_columns, dnn_feature_columns, dnn_hidden_units=(256, 128, 64),
        l2_reg_embedding=1e-5, l2_reg_linear=1e-5, l2_reg_dnn=0, dnn_dropout=0, seed=1024,
        use_bn=True, reduce_sum=False, task="binary"):
    """ONN. Needs at least 2 sparse fields of one embedding_dim; builds F(F-1) embedding
    tables (one per field and partner), all read with one gather. `reduce_sum` sums each pair
    product to a scalar (inner product); `use_bn` batch-normalises the products. A custom
    `embedding_name` works (tables are named from it). An empty `dnn_hidden_units` projects
    the DNN input straight to the logit."""
    check_task(task, "ONN")
    # DeepCTR's pair order: the SparseFeats, then the VarLenSparseFeats, each as listed
    fields = ([fc for fc in dnn_feature_columns if isinstance(fc, SparseFeat)]
              + [fc for fc in dnn_feature_columns if isinstance(fc, VarLenSparseFeat)])
    require_sparse_fields(dnn_feature_columns, "ONN", "products of the per-pair embeddings",
                          min_fields=2)
    features, linear_logit = features_and_linear_logit(
        linear_feature_columns, dnn_feature_columns, l2_reg_linear, seed)
    pair_columns, aliased = [], dict(features)
    for i, a in enumerate(fields):
        for b in fields[i + 1:]:
            for fc, partner in ((a, b), (b, a)):
                copy = _for_partner(fc, partner)
                pair_columns.append(copy)
                aliased[copy.name] = features[fc.name]  # the copy reads its column's input
    # one gather for all F(F-1) tables, in pair order
    embedded = embed_in_column_order(aliased, pair_columns, l2_reg_embedding, seed, prefix="onn_")
    dense_values = get_dense_input(features, dnn_feature_columns, prefix="onn_")
    left = concat_func(embedded[0::2], axis=1)   # [B, P, k]: e_i^(j)
    right = concat_func(embedded[1::2], axis=1)  # [B, P, k]: e_j^(i)
    products = keras.layers.Multiply()([left, right])
    if reduce_sum:
        products = tf.reduce_sum(products, axis=-1)
    products = keras.layers.Flatten()(products)
    if use_bn:
        products = keras.layers.BatchNormalization()(products)
    dnn_input = combined_dnn_input([products], dense_values)
    if dnn_hidden_units:
        dnn_input = DNN(dnn_hidden_units, "relu", l2_reg_dnn, dnn_dropout, seed=seed)(dnn_input)
    return output_model(features, add_func([linear_logit, logit_dense(dnn_input, seed)]), task,
                        "ONN")
