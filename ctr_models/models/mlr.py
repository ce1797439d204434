"""MLR / LS-PLM (Gai et al., 2017, "Learning Piece-wise Linear Models from Large Scale Data for
Ad Click Prediction"): a softmax over region_num linear "region" scores mixes region_num
linear learners; optional bias features multiply the result by a sigmoid of their own
linear score.

    region columns ─ linear logits [B, R] ─ softmax ───────────┐
    base columns ── linear logits [B, R] ─ sigmoid (binary) ───┴─ dot ─ [B, 1]
    bias columns ── linear logit [B, 1] ─ sigmoid ──────────── (optional) × ─ output
"""
import tensorflow as tf
import tf_keras as keras

from ..inputs import get_linear_logit
from .base import build_features, check_task


def MLR(region_feature_columns, base_feature_columns=None, region_num=4, l2_reg_linear=1e-5,
        seed=1024, task="binary", bias_feature_columns=None):
    """MLR. `region_num` (> 1) pieces; the base (learner) columns default to the region
    columns. Each part is one multi-unit linear layer (one weight table of width region_num).
    As in DeepCTR the output is the mixture itself: there is no PredictionLayer/global bias,
    and with task='regression' the learners are linear instead of sigmoid."""
    check_task(task, "MLR")
    if not isinstance(region_num, int) or region_num <= 1:
        raise ValueError(f"MLR needs region_num > 1, got {region_num!r}")
    if not region_feature_columns:
        raise ValueError("MLR needs at least one column in region_feature_columns")
    base_feature_columns = base_feature_columns or region_feature_columns
    bias_feature_columns = bias_feature_columns or []
    features = build_features(region_feature_columns, base_feature_columns,
                              bias_feature_columns)
    region_score = tf.nn.softmax(get_linear_logit(
        features, region_feature_columns, units=region_num, seed=seed, prefix="region",
        l2_reg=l2_reg_linear), axis=-1)
    learner_score = get_linear_logit(features, base_feature_columns, units=region_num,
                                     seed=seed + 1, prefix="learner", l2_reg=l2_reg_linear)
    if task == "binary":
        learner_score = tf.sigmoid(learner_score)
    output = keras.layers.Dot(axes=-1)([region_score, learner_score])
    if bias_feature_columns:
        bias_score = tf.sigmoid(get_linear_logit(features, bias_feature_columns, seed=seed + 2,
                                                 prefix="bias", l2_reg=l2_reg_linear))
        output = keras.layers.Multiply()([output, bias_score])
    return keras.Model(inputs=list(features.values()), outputs=output, name="MLR")
