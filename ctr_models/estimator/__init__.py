"""DeepCTR's ``deepctr.estimator`` on TensorFlow 2.16, which no longer ships ``tf.estimator``.

The same 13 ``*Estimator`` names and arguments (AFM, AutoInt, CCPM, DCN, DeepFEFM, DeepFM,
FiBiNET, FNN, FwFM, NFM, PNN, WDL, xDeepFM) return a ``KerasEstimator``: ctr_models' Keras model
behind ``train(input_fn, steps)``, ``evaluate(input_fn)``, ``predict(input_fn)`` and
``export_saved_model(dir)`` (the SavedModel shape the pipeline's Pusher serves), fed by
``inputs.input_fn_pandas`` / ``inputs.input_fn_tfrecord`` (tf.data). Columns are
``tf.feature_column`` columns; ``feature_column`` lists the kinds supported. ``RunConfig``
stands in for ``tf.estimator.RunConfig``. For large-scale and distributed training use the
pipeline (README: "Coming from DeepCTR").
"""
from .core import KerasEstimator  # noqa: F401
from .models import *  # noqa: F401,F403
from .models import __all__ as _model_names
from .utils import RunConfig  # noqa: F401

__all__ = list(_model_names) + ["KerasEstimator", "RunConfig"]
