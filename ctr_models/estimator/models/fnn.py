"""FNNEstimator: DeepCTR's estimator API over ctr_models' FNN (see ctr_models.estimator)."""
from ...models import FNN
from ..core import estimator_from_args

__all__ = ["FNNEstimator"]


def FNNEstimator(linear_feature_columns, dnn_feature_columns, dnn_hidden_units=(256, 128, 64),
                 l2_reg_embedding=1e-5, l2_reg_linear=1e-5, l2_reg_dnn=0, seed=1024, dnn_dropout=0,
                 dnn_activation='relu', task='binary', model_dir=None, config=None,
                 linear_optimizer='Ftrl', dnn_optimizer='Adagrad', training_chief_hooks=None):
    """FNN trained through the Estimator interface (train / evaluate / predict /
    export_saved_model) on tf.feature_column columns; the model arguments are FNN's.
    As DeepCTR since #555, FNN has no linear logit: `linear_feature_columns` stay inputs but
    feed nothing (DeepCTR 0.9.4 added one). A model_dir written by the old FNNEstimator holds
    WDL's layout: open it with WDLEstimator and the same arguments. Returns a KerasEstimator."""
    return estimator_from_args(FNN, locals())
