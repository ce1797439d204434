"""AFMEstimator: DeepCTR's estimator API over ctr_models' AFM (see ctr_models.estimator)."""
from ...models import AFM
from ..core import estimator_from_args

__all__ = ["AFMEstimator"]


def AFMEstimator(linear_feature_columns, dnn_feature_columns, use_attention=True,
                 attention_factor=8, l2_reg_linear=1e-5, l2_reg_embedding=1e-5, l2_reg_att=1e-5,
                 afm_dropout=0, seed=1024, task='binary', model_dir=None, config=None,
                 linear_optimizer='Ftrl', dnn_optimizer='Adagrad', training_chief_hooks=None):
    """AFM trained through the Estimator interface (train / evaluate / predict /
    export_saved_model) on tf.feature_column columns; the model arguments are AFM's.
    Returns a KerasEstimator."""
    return estimator_from_args(AFM, locals())
