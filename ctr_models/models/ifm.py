"""IFM (Yu et al., 2019, "Input-aware Factorization Machine for Sparse Prediction"): a
factor estimating network (a DNN over the field embeddings) gives every field an input-aware
factor m_x,i; the factors rescale both the field's linear weight and its embedding before FM.

    embeddings [B, F, k] (+ dense) ─ DNN ─ Dense(F) ─ m_x = F * softmax  [B, F]
            │                                              │
    embeddings * m_x ─ FM        linear weights * m_x ─ linear logit
            └───────────────────── + ──────────────────────┘
                                   │
                             PredictionLayer

`input_aware_logit` (also used by DIFM) builds the refined linear + FM part from any factor.
"""
import tensorflow as tf
import tf_keras as keras

from ..columns import VarLenSparseFeat
from ..inputs import (embed_in_column_order, embedding_columns_in_order, get_dense_input,
                      get_linear_logit)
from ..layers.core import DNN
from ..layers.embedding import LINEAR_EMBEDDINGS_INITIALIZER
from ..layers.interaction import FM
from ..layers.utils import Linear, combined_dnn_input, concat_func
from .base import (add_func, build_features, check_equal_dims, check_task, output_model,
                   sparse_columns)


def check_input_aware(linear_feature_columns, dnn_feature_columns, dnn_hidden_units, model_name):
    """Argument checks shared by IFM and DIFM."""
    if not dnn_hidden_units:
        raise ValueError(f"{model_name} needs a non-empty dnn_hidden_units (its factor "
                         f"estimating network), got {dnn_hidden_units!r}")
    fields = [fc.name for fc in sparse_columns(dnn_feature_columns)]
    if not fields:
        raise ValueError(f"{model_name} needs at least one SparseFeat/VarLenSparseFeat in "
                         f"dnn_feature_columns")
    check_equal_dims(dnn_feature_columns, model_name, "FM over the refined embeddings")
    missing = [fc.name for fc in sparse_columns(linear_feature_columns) if fc.name not in fields]
    if missing:
        raise ValueError(f"{model_name} rescales each linear sparse weight by the input-aware "
                         f"factor of the same field, so every sparse field of "
                         f"linear_feature_columns must also be in dnn_feature_columns; "
                         f"missing: {missing}")


def input_aware_logit(features, linear_feature_columns, dnn_sparse_columns, embeddings, factor,
                      l2_reg_linear, seed):
    """Linear logit with each sparse weight scaled by its field's factor, plus FM over the
    factor-scaled embeddings. `embeddings`: [B, 1, k] per column of `dnn_sparse_columns`;
    `factor`: [B, F] in that order. Returns [B, 1]."""
    num_fields = len(dnn_sparse_columns)
    factor_3d = keras.layers.Reshape((num_fields, 1))(factor)
    fm_logit = FM()(keras.layers.Multiply()([concat_func(embeddings, axis=1), factor_3d]))

    linear_sparse = sparse_columns(linear_feature_columns)
    weight_columns = [fc._replace(embedding_dim=1, embeddings_initializer=None,
                                  embedding_name="linear_" + fc.embedding_name)
                      if not isinstance(fc, VarLenSparseFeat) else
                      fc._replace(sparsefeat=fc.sparsefeat._replace(
                          embedding_dim=1, embeddings_initializer=None,
                          embedding_name="linear_" + fc.embedding_name))
                      for fc in linear_sparse]
    if not weight_columns:  # nothing to rescale: the plain (dense-only) linear part
        return add_func([fm_logit, get_linear_logit(features, linear_feature_columns, seed=seed,
                                                    prefix="linear", l2_reg=l2_reg_linear)])
    dense_values = get_dense_input(features, linear_feature_columns, prefix="linear_")
    dense = concat_func(dense_values) if dense_values else None
    weights = concat_func(embed_in_column_order(features, weight_columns, l2_reg_linear, seed,
                                                "linear_", LINEAR_EMBEDDINGS_INITIALIZER), axis=1)
    names = [fc.name for fc in dnn_sparse_columns]
    order = [names.index(fc.name) for fc in linear_sparse]
    if order != list(range(num_fields)):
        factor_3d = tf.gather(factor_3d, order, axis=1)
    weights = keras.layers.Multiply()([weights, factor_3d])
    if dense is None:
        linear_logit = Linear(l2_reg_linear, mode=0, seed=seed)(weights)
    else:
        linear_logit = Linear(l2_reg_linear, mode=2, seed=seed)([weights, dense])
    return add_func([linear_logit, fm_logit])


def IFM(linear_feature_columns, dnn_feature_columns, dnn_hidden_units=(256, 128, 64),
        l2_reg_linear=1e-5, l2_reg_embedding=1e-5, l2_reg_dnn=0, seed=1024, dnn_dropout=0,
        dnn_activation="relu", dnn_use_bn=False, task="binary"):
    """IFM. Needs a non-empty `dnn_hidden_units`, at least one sparse field and one
    embedding_dim. Every sparse field of `linear_feature_columns` must be a sparse field of
    `dnn_feature_columns` (its weight is scaled by that field's factor). DenseFeats of
    `dnn_feature_columns` join the factor network's input (DeepCTR dropped them)."""
    check_task(task, "IFM")
    check_input_aware(linear_feature_columns, dnn_feature_columns, dnn_hidden_units, "IFM")
    features = build_features(linear_feature_columns, dnn_feature_columns)
    dnn_sparse = embedding_columns_in_order(dnn_feature_columns)  # DeepCTR's field order
    embeddings = embed_in_column_order(features, dnn_sparse, l2_reg_embedding, seed)
    dense_values = get_dense_input(features, dnn_feature_columns)
    hidden = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn,
                 seed=seed)(combined_dnn_input(embeddings, dense_values))
    factor_logits = keras.layers.Dense(
        len(dnn_sparse), use_bias=False,
        kernel_initializer=keras.initializers.GlorotNormal(seed=seed))(hidden)
    factor = len(dnn_sparse) * tf.nn.softmax(factor_logits, axis=1)
    logit = input_aware_logit(features, linear_feature_columns, dnn_sparse, embeddings, factor,
                              l2_reg_linear, seed)
    return output_model(features, logit, task, "IFM")
