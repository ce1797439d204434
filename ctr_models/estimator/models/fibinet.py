"""FiBiNETEstimator: DeepCTR's estimator API over ctr_models' FiBiNET (see ctr_models.estimator)."""
from ...models import FiBiNET
from ..core import estimator_from_args

__all__ = ["FiBiNETEstimator"]


def FiBiNETEstimator(linear_feature_columns, dnn_feature_columns, bilinear_type='interaction',
                     reduction_ratio=3, dnn_hidden_units=(256, 128, 64), l2_reg_linear=1e-5,
                     l2_reg_embedding=1e-5, l2_reg_dnn=0, seed=1024, dnn_dropout=0,
                     dnn_activation='relu', task='binary', model_dir=None, config=None,
                     linear_optimizer='Ftrl', dnn_optimizer='Adagrad', training_chief_hooks=None):
    """FiBiNET trained through the Estimator interface (train / evaluate / predict /
    export_saved_model) on tf.feature_column columns; the model arguments are FiBiNET's.
    Returns a KerasEstimator."""
    return estimator_from_args(FiBiNET, locals())
