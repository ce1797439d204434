"""PNNEstimator: DeepCTR's estimator API over ctr_models' PNN (see ctr_models.estimator)."""
from ...models import PNN
from ..core import estimator_from_args

__all__ = ["PNNEstimator"]


def PNNEstimator(dnn_feature_columns, dnn_hidden_units=(256, 128, 64), l2_reg_embedding=1e-5,
                 l2_reg_dnn=0, seed=1024, dnn_dropout=0, dnn_activation='relu', use_inner=True,
                 use_outter=False, kernel_type='mat', task='binary', model_dir=None, config=None,
                 linear_optimizer='Ftrl', dnn_optimizer='Adagrad', training_chief_hooks=None):
    """PNN trained through the Estimator interface (train / evaluate / predict /
    export_saved_model) on tf.feature_column columns; the model arguments are PNN's.
    PNN has no linear part, so `linear_optimizer` is unused.
    Returns a KerasEstimator."""
    return estimator_from_args(PNN, locals())
