"""AutoIntEstimator: DeepCTR's estimator API over ctr_models' AutoInt (see ctr_models.estimator)."""
from ...models import AutoInt
from ..core import estimator_from_args

__all__ = ["AutoIntEstimator"]


def AutoIntEstimator(linear_feature_columns, dnn_feature_columns, att_layer_num=3,
                     att_embedding_size=8, att_head_num=2, att_res=True, dnn_hidden_units=(256,
                     128, 64), dnn_activation='relu', l2_reg_linear=1e-5, l2_reg_embedding=1e-5,
                     l2_reg_dnn=0, dnn_use_bn=False, dnn_dropout=0, seed=1024, task='binary',
                     model_dir=None, config=None, linear_optimizer='Ftrl', dnn_optimizer='Adagrad',
                     training_chief_hooks=None):
    """AutoInt trained through the Estimator interface (train / evaluate / predict /
    export_saved_model) on tf.feature_column columns; the model arguments are AutoInt's.
    Returns a KerasEstimator."""
    return estimator_from_args(AutoInt, locals())
