"""DIFM (Lu et al., 2020, "A Dual Input-aware Factorization Machine for CTR Prediction"):
the input-aware factor of IFM estimated at two levels -- vector-wise by multi-head
self-attention over the fields and bit-wise by a DNN -- then used as in IFM.

    embeddings [B, F, k] ─ InteractingLayer ─ flatten ─ Dense(F) = m_vec ─┐
    embeddings + dense ─ DNN ─ Dense(F) = m_bit ──────────────────────────┴─ m_x [B, F]
    then as IFM: FM(embeddings * m_x) + linear logit with weights * m_x ─ PredictionLayer
"""
import tf_keras as keras

from ..inputs import embed_in_column_order, embedding_columns_in_order, get_dense_input
from ..layers.core import DNN
from ..layers.field_interaction import InteractingLayer
from ..layers.utils import combined_dnn_input, concat_func
from .base import add_func, build_features, check_task, output_model
from .ifm import check_input_aware, input_aware_logit


def _factor_dense(x, units, seed):
    return keras.layers.Dense(units, use_bias=False,
                              kernel_initializer=keras.initializers.GlorotNormal(seed=seed))(x)


def DIFM(linear_feature_columns, dnn_feature_columns, att_embedding_size=8, att_head_num=8,
         att_res=True, dnn_hidden_units=(256, 128, 64), l2_reg_linear=1e-5,
         l2_reg_embedding=1e-5, l2_reg_dnn=0, seed=1024, dnn_dropout=0, dnn_activation="relu",
         dnn_use_bn=False, task="binary"):
    """DIFM. Needs a non-empty `dnn_hidden_units`, at least one sparse field and one
    embedding_dim. Every sparse field of `linear_feature_columns` must be a sparse field of
    `dnn_feature_columns` (its weight is scaled by that field's factor). DenseFeats of
    `dnn_feature_columns` join the bit-wise DNN's input (DeepCTR dropped them)."""
    check_task(task, "DIFM")
    check_input_aware(linear_feature_columns, dnn_feature_columns, dnn_hidden_units, "DIFM")
    features = build_features(linear_feature_columns, dnn_feature_columns)
    dnn_sparse = embedding_columns_in_order(dnn_feature_columns)  # DeepCTR's field order
    num_fields = len(dnn_sparse)
    embeddings = embed_in_column_order(features, dnn_sparse, l2_reg_embedding, seed)
    attention = InteractingLayer(att_embedding_size, att_head_num, att_res, scaling=True,
                                 seed=seed)(concat_func(embeddings, axis=1))
    m_vec = _factor_dense(keras.layers.Flatten()(attention), num_fields, seed)
    hidden = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn,
                 seed=seed)(combined_dnn_input(embeddings, get_dense_input(features,
                                                                           dnn_feature_columns)))
    m_bit = _factor_dense(hidden, num_fields, seed + 1)
    logit = input_aware_logit(features, linear_feature_columns, dnn_sparse, embeddings,
                              add_func([m_vec, m_bit]), l2_reg_linear, seed)
    return output_model(features, logit, task, "DIFM")
