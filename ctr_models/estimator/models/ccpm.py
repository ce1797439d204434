"""CCPMEstimator: DeepCTR's estimator API over ctr_models' CCPM (see ctr_models.estimator)."""
from ...models import CCPM
from ..core import estimator_from_args

__all__ = ["CCPMEstimator"]


def CCPMEstimator(linear_feature_columns, dnn_feature_columns, conv_kernel_width=(6, 5),
                  conv_filters=(4, 4), dnn_hidden_units=(128, 64), l2_reg_linear=1e-5,
                  l2_reg_embedding=1e-5, l2_reg_dnn=0, dnn_dropout=0, seed=1024, task='binary',
                  model_dir=None, config=None, linear_optimizer='Ftrl', dnn_optimizer='Adagrad',
                  training_chief_hooks=None):
    """CCPM trained through the Estimator interface (train / evaluate / predict /
    export_saved_model) on tf.feature_column columns; the model arguments are CCPM's.
    Returns a KerasEstimator."""
    return estimator_from_args(CCPM, locals())
