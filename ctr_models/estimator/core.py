"""KerasEstimator: DeepCTR's Estimator interface (train / evaluate / predict / export) on a
ctr_models Keras model and tf.data input functions.

What it keeps from DeepCTR's estimators: the loss (per-example log loss or squared error summed
over the batch, plus the regularisation losses), two optimizers -- `linear_optimizer` (default
Ftrl, learning rate 0.005) for the linear part's variables and `dnn_optimizer` (default Adagrad,
0.01) for all others --, checkpoints in `model_dir` that a new estimator on the same folder resumes
from, evaluation metrics named as DeepCTR's head names them (AUC, LogLoss or MSE, MAE, label/mean,
prediction/mean, loss, global_step) and predictions ``{"pred", "logits"}``.
What differs: the model is a Keras model trained eagerly-compiled (tf.function), not a graph
Estimator; `hooks`, `saving_listeners`, `training_chief_hooks` and `serving_input_receiver_fn` are
not supported (a NotImplementedError says so); an input_fn returns a tf.data.Dataset.
"""
import logging
import os
import tempfile
import time

import tensorflow as tf
import tf_keras as keras

from ..layers.core import PredictionLayer
from .feature_column import model_inputs, parse_example_spec, to_ctr_columns
from .utils import LINEAR_SCOPE_NAME, RunConfig

__all__ = ["KerasEstimator", "estimator_from_args", "SERVING_OUTPUT"]

logger = logging.getLogger(__name__)

SERVING_OUTPUT = "prediction"  # the output key of the pipeline's pushed models
_OPTIMIZERS = {"adagrad": keras.optimizers.Adagrad, "adam": keras.optimizers.Adam,
               "ftrl": keras.optimizers.Ftrl, "rmsprop": keras.optimizers.RMSprop,
               "sgd": keras.optimizers.SGD}


def _optimizer(opt, learning_rate):
    """A Keras optimizer from a name (DeepCTR's default learning rate), instance or factory."""
    if isinstance(opt, str):
        if opt.lower() not in _OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {opt!r}; use one of {sorted(_OPTIMIZERS)}, a "
                             f"Keras optimizer or a callable returning one")
        return _OPTIMIZERS[opt.lower()](learning_rate=learning_rate)
    if callable(opt) and not isinstance(opt, keras.optimizers.Optimizer):
        opt = opt()
    return opt


def _unsupported(what, value):
    if value:
        raise NotImplementedError(f"ctr_models.estimator does not support {what} (TensorFlow 2.16 "
                                  f"has no tf.estimator); use Keras callbacks on the model instead")


class KerasEstimator:
    """`model_fn(linear_columns, dnn_columns, task=..., **model_kwargs)` -> a single-output
    ctr_models model; `linear_feature_columns=None` for builders without them (PNN)."""

    def __init__(self, model_fn, linear_feature_columns, dnn_feature_columns, task="binary",
                 model_dir=None, config=None, linear_optimizer="Ftrl", dnn_optimizer="Adagrad",
                 training_chief_hooks=None, **model_kwargs):
        _unsupported("training_chief_hooks", training_chief_hooks)
        if task not in ("binary", "regression"):
            raise ValueError(f"task must be 'binary' or 'regression', got {task!r}")
        # None: the model takes no linear columns (PNN)
        self._tf_linear = None if linear_feature_columns is None else list(linear_feature_columns)
        self._tf_dnn = list(dnn_feature_columns or [])
        self._linear = to_ctr_columns(self._tf_linear, linear=True)
        self._dnn = to_ctr_columns(self._tf_dnn)
        self._model_fn, self._model_kwargs, self._task = model_fn, model_kwargs, task
        self.config = config if config is not None else RunConfig()
        model_dir = model_dir or getattr(self.config, "model_dir", None)
        if not model_dir:
            model_dir = tempfile.mkdtemp(prefix="ctr_models_estimator_")
            logger.info("Using temporary folder as model directory: %s", model_dir)
        self.model_dir = model_dir
        self._optimizer_args = (linear_optimizer, dnn_optimizer)
        self._model = None

    # ------------------------------------------------------------------ model and checkpoints

    def _build(self):
        if self._model is not None:
            return
        seed = getattr(self.config, "tf_random_seed", None)
        if seed is not None:
            keras.utils.set_random_seed(seed)
        columns = (self._dnn,) if self._tf_linear is None else (self._linear, self._dnn)
        self._model = self._model_fn(*columns, task=self._task, **self._model_kwargs)
        heads = [layer for layer in self._model.layers if isinstance(layer, PredictionLayer)]
        if len(heads) != 1:
            raise ValueError(f"{self._model.name} has {len(heads)} prediction layers; estimators "
                             f"need single-output models")
        self._head = heads[0]
        self._logit_model = keras.Model(self._model.inputs, self._head.input)
        self._input_names = [i.name for i in self._model.inputs]
        self._linear_opt = _optimizer(self._optimizer_args[0], 0.005)
        self._dnn_opt = _optimizer(self._optimizer_args[1], 0.01)
        self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self._ckpt = tf.train.Checkpoint(model=self._model, linear_optimizer=self._linear_opt,
                                         dnn_optimizer=self._dnn_opt, global_step=self.global_step)
        self._manager = tf.train.CheckpointManager(
            self._ckpt, self.model_dir, max_to_keep=getattr(self.config, "keep_checkpoint_max", 5))
        if self._manager.latest_checkpoint:
            self._ckpt.restore(self._manager.latest_checkpoint).expect_partial()
            logger.info("Restored %s (step %d)", self._manager.latest_checkpoint,
                        int(self.global_step.numpy()))
        if getattr(self.config, "run_eagerly", False):
            self._train_step, self._eval_step = self._train_step_fn, self._eval_step_fn
        else:
            self._train_step = tf.function(self._train_step_fn, reduce_retracing=True)
            self._eval_step = tf.function(self._eval_step_fn, reduce_retracing=True)

    @property
    def model(self):
        """The underlying ctr_models Keras model (built on first use)."""
        self._build()
        return self._model

    def latest_checkpoint(self):
        self._build()
        return self._manager.latest_checkpoint

    def get_variable_names(self):
        return [v.name for v in self.model.variables]

    def get_variable_value(self, name):
        for v in self.model.variables:
            if v.name == name:
                return v.numpy()
        raise ValueError(f"No variable {name!r}; see get_variable_names()")

    # ------------------------------------------------------------------ maths

    def _logits(self, inputs, training):
        logit = self._logit_model(inputs, training=training)
        if self._head.use_bias:
            logit = logit + self._head.global_bias
        return tf.reshape(logit, (-1, 1))

    def _pred(self, logits):
        return tf.sigmoid(logits) if self._task == "binary" else logits

    def _per_example_loss(self, labels, logits):
        labels = tf.reshape(tf.cast(labels, tf.float32), (-1, 1))
        if self._task == "binary":
            return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
        return tf.square(logits - labels)

    def _total_loss(self, labels, logits):
        loss = tf.reduce_sum(self._per_example_loss(labels, logits))
        if self._model.losses:
            loss += tf.add_n(self._model.losses)
        return loss

    def _train_step_fn(self, features, labels):
        inputs = model_inputs(features, self._linear + self._dnn)
        with tf.GradientTape() as tape:
            loss = self._total_loss(labels, self._logits(inputs, training=True))
        variables = self._model.trainable_variables
        grads = tape.gradient(loss, variables)
        linear, dnn = [], []
        for g, v in zip(grads, variables):
            if g is not None:
                (linear if v.name.startswith(LINEAR_SCOPE_NAME) else dnn).append((g, v))
        if linear:
            self._linear_opt.apply_gradients(linear)
        if dnn:
            self._dnn_opt.apply_gradients(dnn)
        self.global_step.assign_add(1)
        return loss

    def _eval_step_fn(self, features, labels):
        inputs = model_inputs(features, self._linear + self._dnn)
        logits = self._logits(inputs, training=False)
        return logits, self._per_example_loss(labels, logits), self._total_loss(labels, logits)

    # ------------------------------------------------------------------ Estimator API

    @staticmethod
    def _dataset(input_fn):
        data = input_fn() if callable(input_fn) else input_fn
        if not isinstance(data, tf.data.Dataset):
            raise TypeError(f"input_fn must return a tf.data.Dataset of (features, labels) or "
                            f"features, got {type(data).__name__}")
        return data

    @staticmethod
    def _split(batch, need_labels):
        features, labels = batch if isinstance(batch, tuple) else (batch, None)
        if need_labels and labels is None:
            raise ValueError("input_fn yields no labels; pass `label` to input_fn_pandas / "
                             "input_fn_tfrecord for train and evaluate")
        return features, labels

    def train(self, input_fn, hooks=None, steps=None, max_steps=None, saving_listeners=None):
        """Trains on the batches of `input_fn` until they end, `steps` more steps, or global step
        `max_steps`; then writes a checkpoint. Returns self."""
        _unsupported("hooks", hooks)
        _unsupported("saving_listeners", saving_listeners)
        self._build()
        if max_steps is not None and int(self.global_step.numpy()) >= max_steps:
            return self
        every = getattr(self.config, "save_checkpoints_steps", None)
        log_every = getattr(self.config, "log_step_count_steps", 100) or 0
        done, start = 0, time.time()
        for batch in self._dataset(input_fn):
            features, labels = self._split(batch, need_labels=True)
            loss = self._train_step(features, labels)
            done += 1
            step = int(self.global_step.numpy())
            if log_every and step % log_every == 0:
                logger.info("step %d: loss %.5f (%.1f steps/s)", step, float(loss),
                            done / max(time.time() - start, 1e-9))
            if every and step % every == 0:
                self._manager.save(checkpoint_number=step)
            if (steps is not None and done >= steps) or (max_steps is not None
                                                          and step >= max_steps):
                break
        self._manager.save(checkpoint_number=int(self.global_step.numpy()))
        return self

    def evaluate(self, input_fn, steps=None, hooks=None, checkpoint_path=None, name=None):
        """Metrics over the batches of `input_fn` (at most `steps`): binary -> AUC, LogLoss;
        regression -> MSE, MAE; both -> label/mean, prediction/mean, loss (mean batch loss as
        trained: summed example losses + regularisation), global_step."""
        _unsupported("hooks", hooks)
        self._restore(checkpoint_path)
        auc = keras.metrics.AUC(num_thresholds=200)
        sums = {"label": 0.0, "pred": 0.0, "example_loss": 0.0, "abs": 0.0, "batch_loss": 0.0}
        count, batches = 0, 0
        for batch in self._dataset(input_fn):
            features, labels = self._split(batch, need_labels=True)
            logits, example_loss, batch_loss = self._eval_step(features, labels)
            labels = tf.reshape(tf.cast(labels, tf.float32), (-1, 1))
            pred = self._pred(logits)
            if self._task == "binary":
                auc.update_state(labels, pred)
            sums["label"] += float(tf.reduce_sum(labels))
            sums["pred"] += float(tf.reduce_sum(pred))
            sums["example_loss"] += float(tf.reduce_sum(example_loss))
            sums["abs"] += float(tf.reduce_sum(tf.abs(pred - labels)))
            sums["batch_loss"] += float(batch_loss)
            count += int(tf.shape(labels)[0])
            batches += 1
            if steps is not None and batches >= steps:
                break
        if not count:
            raise ValueError("evaluate: input_fn yielded no examples")
        metrics = {"label/mean": sums["label"] / count, "prediction/mean": sums["pred"] / count,
                   "loss": sums["batch_loss"] / batches,
                   "global_step": int(self.global_step.numpy())}
        if self._task == "binary":
            metrics.update(AUC=float(auc.result()), LogLoss=sums["example_loss"] / count)
        else:
            metrics.update(MSE=sums["example_loss"] / count, MAE=sums["abs"] / count)
        return metrics

    def predict(self, input_fn, predict_keys=None, hooks=None, checkpoint_path=None,
                yield_single_examples=True):
        """Yields {"pred": [1], "logits": [1]} per example (or per batch when
        `yield_single_examples=False`); `predict_keys` selects keys. Labels are ignored."""
        _unsupported("hooks", hooks)
        self._restore(checkpoint_path)
        keys = ["pred", "logits"] if predict_keys is None else (
            [predict_keys] if isinstance(predict_keys, str) else list(predict_keys))
        unknown = set(keys) - {"pred", "logits"}
        if unknown:
            raise ValueError(f"Unknown predict_keys {sorted(unknown)}; available: pred, logits")
        for batch in self._dataset(input_fn):
            features, _ = self._split(batch, need_labels=False)
            logits = self._logits(model_inputs(features, self._linear + self._dnn),
                                  training=False)
            out = {"pred": self._pred(logits).numpy(), "logits": logits.numpy()}
            out = {k: out[k] for k in keys}
            if not yield_single_examples:
                yield out
                continue
            for i in range(len(out[keys[0]])):
                yield {k: v[i] for k, v in out.items()}

    def export_saved_model(self, export_dir_base, serving_input_receiver_fn=None,
                           assets_extra=None, as_text=False, checkpoint_path=None,
                           experimental_mode=None):
        """Writes `export_dir_base/<timestamp>/`, a SavedModel shaped like the pipeline's pushed
        models: `serving_default` takes serialized tf.Examples (`examples`) holding the raw
        features the columns read and returns `prediction`; signature `predict` returns
        DeepCTR's {"pred", "logits"}. Returns the folder as bytes (as Estimator did)."""
        _unsupported("serving_input_receiver_fn (the tf.Example signature is built from the "
                     "feature columns)", serving_input_receiver_fn)
        _unsupported("assets_extra / as_text / experimental_mode",
                     assets_extra or as_text or experimental_mode)
        self._restore(checkpoint_path)
        raw_spec = parse_example_spec((self._tf_linear or []) + self._tf_dnn)
        columns = self._linear + self._dnn
        model = self._model

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(serialized):
            logits = self._logits(model_inputs(tf.io.parse_example(serialized, raw_spec),
                                                columns), training=False)
            return {SERVING_OUTPUT: self._pred(logits)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def predict(serialized):
            logits = self._logits(model_inputs(tf.io.parse_example(serialized, raw_spec),
                                                columns), training=False)
            return {"pred": self._pred(logits), "logits": logits}

        export_dir = os.path.join(export_dir_base, str(int(time.time())))
        while tf.io.gfile.exists(export_dir):  # one export per second, like Estimator
            time.sleep(1)
            export_dir = os.path.join(export_dir_base, str(int(time.time())))
        model.save(export_dir, save_format="tf",
                   signatures={"serving_default": serve.get_concrete_function(),
                               "predict": predict.get_concrete_function()})
        return export_dir.encode()

    def _restore(self, checkpoint_path):
        self._build()
        if checkpoint_path:
            self._ckpt.restore(checkpoint_path).expect_partial()


def estimator_from_args(model_fn, local_args):
    """A KerasEstimator from an *Estimator function's arguments (its ``locals()``): the estimator's
    own arguments go to KerasEstimator, the rest to `model_fn`."""
    args = dict(local_args)
    own = {k: args.pop(k) for k in ("task", "model_dir", "config", "linear_optimizer",
                                    "dnn_optimizer", "training_chief_hooks")}
    linear = args.pop("linear_feature_columns", None)
    dnn = args.pop("dnn_feature_columns")
    return KerasEstimator(model_fn, linear, dnn, **own, **args)
