"""Estimator plumbing: the variable-name prefixes of the two parts and a small RunConfig.

DeepCTR's ``estimator/utils.py`` also holds TF1 graph helpers (``Head``, ``deepctr_model_fn``,
``get_train_op_fn``, ``variable_scope``, ``get_collection``, ...) for ``tf.estimator``, which
TensorFlow 2.16 no longer ships; they have no counterpart here (see ``ctr_models.estimator``).
"""
import dataclasses

LINEAR_SCOPE_NAME = "linear"  # variables of the linear part start with it (Ftrl by default)
DNN_SCOPE_NAME = "dnn"  # DeepCTR's scope of the other variables (Adagrad by default)

__all__ = ["LINEAR_SCOPE_NAME", "DNN_SCOPE_NAME", "RunConfig"]


@dataclasses.dataclass
class RunConfig:
    """Stands in for ``tf.estimator.RunConfig`` (gone from TensorFlow 2.16).

    model_dir: checkpoint folder (the estimator's `model_dir` argument wins when both are set).
    tf_random_seed: seeds weight initialisation and dropout (keras.utils.set_random_seed) when the
    model is built. save_checkpoints_steps: also checkpoint every N steps during train() (a
    checkpoint is always written when train() returns). keep_checkpoint_max: checkpoints kept.
    log_step_count_steps: log the loss every N steps. run_eagerly: run the train/eval steps
    without tf.function (debugging, or a handful of steps where tracing costs more than it saves).
    """
    model_dir: str = None
    tf_random_seed: int = None
    save_checkpoints_steps: int = None
    keep_checkpoint_max: int = 5
    log_step_count_steps: int = 100
    run_eagerly: bool = False
