"""FwFMEstimator: DeepCTR's estimator API over ctr_models' FwFM (see ctr_models.estimator)."""
from ...models import FwFM
from ..core import estimator_from_args

__all__ = ["FwFMEstimator"]


def FwFMEstimator(linear_feature_columns, dnn_feature_columns, dnn_hidden_units=(256, 128, 64),
                  l2_reg_linear=0.00001, l2_reg_embedding=0.00001, l2_reg_field_strength=0.00001,
                  l2_reg_dnn=0, seed=1024, dnn_dropout=0, dnn_activation='relu', dnn_use_bn=False,
                  task='binary', model_dir=None, config=None, linear_optimizer='Ftrl',
                  dnn_optimizer='Adagrad', training_chief_hooks=None):
    """FwFM trained through the Estimator interface (train / evaluate / predict /
    export_saved_model) on tf.feature_column columns; the model arguments are FwFM's.
    Returns a KerasEstimator."""
    return estimator_from_args(FwFM, locals())
