"""TFX Trainer module: `run_fn` builds the configured ctr_models model, trains it under a
tf.distribute strategy and exports a SavedModel that scores raw tf.Examples.

custom_config keys: spec (dict), model (name), model_args (dict), strategy
('default' | 'mirrored' | 'multi_worker' | 'parameter_server' | 'one_device'), batch_size,
learning_rate, epochs, jit_compile (XLA; off by default: measured far slower for these models on
CPU), early_stopping (default True), early_stopping_patience (default 1), optimizer (a
ctr_models.optimizers name, default 'adam'), cache_input (default False: see make_dataset's
`cache`; BENCHMARKS.md "Trainer throughput" measures both).

Early stopping with the best weights (epochs > 1, unless `early_stopping` is False): CTR models
with large id vocabularies overfit after a pass or two (the 100k-row demo, 4 epochs: eval AUC
0.748, 0.738, 0.702, 0.679), so training stops once the validation metric has not improved for
`early_stopping_patience` epochs, and the model exported is the one of the best epoch, also when
training ran out of epochs first: more epochs never make the candidate worse on the validation
split. This is Keras' EarlyStopping (restore_best_weights) on the epoch-end validation metrics
(`eval_steps` batches of the validation split, which the Trainer gets as its eval split; the
Evaluator blesses on the test split, which no training decision saw: see "Splits" in
components/dataset_spec.py), which works under every strategy (an epoch-level callback; under
several workers every worker sees the same global metric and stops at the same epoch). The
monitor: one binary label: `val_auc`; several labels (multi-task, outputs named by label): the
MEAN of the binary labels' validation AUCs (one task may not be sacrificed silently for another,
as a first-label monitor would allow); regression only: `val_loss` (lower is better). The
summary's `tasks` are the kept epoch's metrics (`train_*` and `validation_*`), and `early_stopping` says what was monitored, which epoch was kept (1-based)
and where training stopped (null when it ran every epoch).

Examples seen: the input repeats (tfxio), so every step is a full global batch: `examples_seen` =
steps actually run (fewer after an early stop) x batch, `train_rows` = records in the transformed
train split (counted while the model trains, off the critical path: ~0.3 s of CPU per 100k rows)
and `passes_over_data` = examples_seen / train_rows.

Batch and steps: `batch_size` is the GLOBAL batch, whatever the strategy: each training step
consumes `batch_size` examples in all, split evenly between the `num_replicas_in_sync` replicas
(per-replica batch = batch_size / replicas). The Trainer's `train_steps` therefore means the same
number of examples (and the same number of epochs) with one replica or many; more replicas make
each step cheaper, not longer. Training steps are `train_steps // epochs` per epoch.

Several workers (`multi_worker`: MultiWorkerMirroredStrategy, one process per worker, each with
TF_CONFIG set before run_fn runs): every worker trains and must call `save` (the strategy's
collectives need all of them), but only the chief (task `chief`, or `worker` 0 when the cluster
has no chief) writes into the Trainer's outputs: the SavedModel and training_summary.json.
Other workers save into a temporary folder of their own that is deleted at once. The transformed
TFRecord files are auto-sharded by FILE when a split has at least as many files as workers,
otherwise by DATA (every worker reads everything and keeps its share); the summary records which.
"""
import concurrent.futures
import gzip
import json
import logging
import os
import shutil
import struct
import tempfile
import threading
import time

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx_bsl.public import tfxio

from ctr_models.optimizers import get_optimizer
from ctr_models.tracing import skip_autograph_of_graph_safe_code

from components.dataset_spec import TRAIN_SPLIT, VALIDATION_SPLIT, spec_from_config
from components.model_builder import build_model, feature_columns, vocabulary_sizes
from components.raw_examples import RAW_SCHEMA_FILE
from components import warm_start
from components.transform import MISSING_CATEGORY

SERVING_OUTPUT = "prediction"
# The raw-data schema beside the SavedModel: lets `python -m pipeline predict` turn CSV rows into
# the tf.Examples the serving signature parses (Pusher copies assets.extra with the model).
# The CLI prints this logger's records as progress lines.
progress_log = logging.getLogger("ctr_pipeline.progress")


class TrainingProgress(keras.callbacks.Callback):
    """Logs step, loss and AUC `updates` times per run, and the end of each epoch
    (`step_lines=False`: epochs only; ParameterServerStrategy refuses batch-level callbacks)."""

    def __init__(self, steps_per_epoch, epochs, updates=4, step_lines=True):
        super().__init__()
        self.steps_per_epoch, self.epochs = steps_per_epoch, epochs
        self.every = max(1, -(-steps_per_epoch * epochs // updates))  # ceil: at most `updates`
        self.epoch = 0
        self.step_lines = step_lines

    def _implements_train_batch_hooks(self):
        return self.step_lines

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    @staticmethod
    def _metrics(logs, prefix=""):
        keys = sorted((k for k in logs if k.startswith(prefix) and
                       (k[len(prefix):] == "loss" or k.endswith("auc"))),
                      key=lambda k: (k[len(prefix):] != "loss", k))
        return " ".join(f"{k} {float(logs[k]):.4f}" for k in keys)

    def on_train_batch_end(self, batch, logs=None):
        step = self.epoch * self.steps_per_epoch + batch + 1
        if step % self.every == 0 and step < self.steps_per_epoch * self.epochs:
            progress_log.info("step %d/%d %s", step, self.steps_per_epoch * self.epochs,
                              self._metrics(logs or {}))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        progress_log.info("epoch %d/%d %s | validation %s", epoch + 1, self.epochs,
                          self._metrics({k: v for k, v in logs.items()
                                         if not k.startswith("val_")}),
                          self._metrics(logs, "val_"))


def make_strategy(name):
    if name in (None, "default"):
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":  # the cluster comes from TF_CONFIG (none: one local worker)
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "parameter_server":  # this process is the coordinator; see parameter_server_task
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        cluster = resolver.cluster_spec().as_dict()
        if not cluster.get("ps") or not cluster.get("worker"):
            raise ValueError(f"strategy 'parameter_server' needs TF_CONFIG with 'ps' and 'worker' "
                             f"tasks (and this process as 'chief'); got cluster {cluster}")
        return tf.distribute.ParameterServerStrategy(resolver)
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/cpu:0")
    raise ValueError(f"Unknown strategy {name!r}: use default, mirrored, multi_worker, "
                     f"parameter_server or one_device")


def _is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type in (None, "chief") or (
        resolver.task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict())


def num_workers(strategy):
    """Processes that read input for `strategy`: 1 unless a cluster is configured; its workers
    (and a chief, except under ParameterServerStrategy, where the chief only coordinates)."""
    if isinstance(strategy, tf.distribute.ParameterServerStrategy):
        return len(strategy._cluster_resolver.cluster_spec().as_dict()["worker"])
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    cluster = resolver.cluster_spec().as_dict()
    return max(1, len(cluster.get("worker", [])) + len(cluster.get("chief", [])))


def auto_shard_policy(file_patterns, workers):
    """FILE when the files matching `file_patterns` are at least as many as `workers` (each worker
    reads only its files), else DATA (each worker reads every file and keeps every n-th batch)."""
    files = sum(len(tf.io.gfile.glob(p)) for p in file_patterns)
    if files >= workers:
        return tf.data.experimental.AutoShardPolicy.FILE
    return tf.data.experimental.AutoShardPolicy.DATA


def make_dataset(file_pattern, data_accessor, tft_output, spec, batch_size, input_names,
                 shuffle=True, shard_policy=None, cache=False):
    """Batches of (features, label) from transformed examples, repeated; several labels -> a dict.
    `batch_size` is the global batch (a distribution strategy splits it between replicas);
    `shard_policy` (an AutoShardPolicy) says how several workers divide the input.
    `cache`: parse one (shuffled) pass, keep its batches in memory and replay them, reshuffling
    the ORDER of the batches each pass (their composition stays that of the first pass; a pass's
    last batch may be short, which `examples_seen` counts as full); see BENCHMARKS.md for what it
    measured."""
    options = tfxio.TensorFlowDatasetOptions(batch_size=batch_size, shuffle=shuffle,
                                             num_epochs=1 if cache else None)
    dataset = data_accessor.tf_dataset_factory(file_pattern, options,
                                               tft_output.transformed_metadata.schema)
    if shard_policy is not None:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = shard_policy
        dataset = dataset.with_options(options)
    labels = spec.label_names

    def split(features):
        x = {name: features[name] for name in input_names}
        y = [features[name] for name in labels]
        return x, (y[0] if len(y) == 1 else dict(zip(labels, y)))

    dataset = dataset.map(split, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        dataset = dataset.cache()
        if shuffle:
            dataset = dataset.shuffle(1024, reshuffle_each_iteration=True)
        dataset = dataset.repeat()
    return dataset.prefetch(tf.data.AUTOTUNE)


def check_outputs(model, spec):
    """Several labels: the model must have one output named after each label (outputs are
    matched by name, never by position)."""
    if len(spec.labels) == 1:
        if len(model.outputs) != 1:
            raise ValueError(f"the spec has one label but the model has outputs "
                             f"{model.output_names}")
        return
    if sorted(model.output_names) != sorted(spec.label_names):
        raise ValueError(f"the spec's labels {spec.label_names} need one model output named after "
                         f"each, but the model's outputs are {model.output_names} (multi-task "
                         f"models name their outputs by task_names)")


def compile_model(model, spec, learning_rate, jit_compile=False, optimizer="adam"):
    """One loss per label (by output name), weighted by the labels' `loss_weight`. `optimizer`:
    a name from ctr_models.optimizers.OPTIMIZER_NAMES ('lazy_adam': Adam that updates only the
    embedding rows a batch read; see that module and BENCHMARKS.md)."""
    check_outputs(model, spec)
    losses, metrics = {}, {}
    for label in spec.labels:
        if label.task == "binary":
            losses[label.name] = "binary_crossentropy"
            metrics[label.name] = [keras.metrics.AUC(name="auc"),
                                   keras.metrics.BinaryCrossentropy(name="logloss")]
        else:
            losses[label.name] = "mse"
            metrics[label.name] = [keras.metrics.MeanSquaredError(name="mse"),
                                   keras.metrics.MeanAbsoluteError(name="mae")]
    loss_weights = {label.name: float(label.loss_weight) for label in spec.labels}
    if len(spec.labels) == 1:
        losses, metrics = losses[spec.label_names[0]], metrics[spec.label_names[0]]
        loss_weights = None
    model.compile(optimizer=get_optimizer(optimizer, learning_rate), loss=losses,
                  metrics=metrics, loss_weights=loss_weights, jit_compile=jit_compile)


def _outputs(model, model_output, spec):
    """Serving outputs: `prediction`, or one output per label keyed by the model's output name."""
    if len(spec.labels) == 1:
        return {SERVING_OUTPUT: model_output}
    return dict(zip(model.output_names, model_output))


def task_summary(history, spec, epoch=-1):
    """Training and validation loss/AUC (binary) or loss/MSE (regression) per label of epoch
    `epoch` (0-based; default the last: after early stopping, pass the kept one), from the Keras
    history (multi-output keys are '<output>_<metric>'): keys `train_<metric>` and
    `validation_<metric>`, named by the split they were measured on (the test split is the
    Evaluator's, never the Trainer's)."""
    tasks = {}
    for label in spec.labels:
        prefix = "" if len(spec.labels) == 1 else f"{label.name}_"
        names = ("loss", "auc", "logloss") if label.task == "binary" else ("loss", "mse", "mae")
        entry = {"task": label.task, "loss_weight": float(label.loss_weight)}
        for split, head in ((TRAIN_SPLIT, ""), (VALIDATION_SPLIT, "val_")):
            for name in names:
                values = history.get(f"{head}{prefix}{name}")
                if values:
                    entry[f"{split}_{name}"] = float(values[epoch])
        tasks[label.name] = entry
    return tasks


def early_stopping_monitor(spec):
    """(history keys, mode) that early stopping watches for `spec` (see the module docstring):
    one binary label: ['val_auc'], 'max'; several labels: every binary label's
    'val_<label>_auc' (their mean), 'max'; regression labels only: ['val_loss'], 'min'."""
    binary = [label.name for label in spec.labels if label.task == "binary"]
    if not binary:
        return ["val_loss"], "min"
    if len(spec.labels) == 1:
        return ["val_auc"], "max"
    return [f"val_{name}_auc" for name in binary], "max"


class BestEpochStopping(keras.callbacks.EarlyStopping):
    """Keras' EarlyStopping with restore_best_weights on the mean of several epoch-end metrics
    (`keys`; one key: that metric). tf_keras restores the best weights at the end of training
    whether or not it stopped early (tests/test_early_stopping.py checks both)."""

    def __init__(self, keys, mode, patience=1):
        monitor = keys[0] if len(keys) == 1 else f"mean({', '.join(keys)})"
        super().__init__(monitor=monitor, mode=mode, patience=patience,
                         restore_best_weights=True)
        self.keys, self.mode = list(keys), mode

    def get_monitor_value(self, logs):
        logs = logs or {}
        if len(self.keys) == 1:  # monitor is that key
            return super().get_monitor_value(logs)
        missing = [key for key in self.keys if key not in logs]
        if missing:  # like Keras: warn, and this epoch neither improves nor counts
            logging.warning("Early stopping on %s: %s not in the epoch's metrics %s",
                            self.monitor, missing, sorted(logs))
            return None
        return float(np.mean([float(logs[key]) for key in self.keys]))

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self.best_weights is not None:
            progress_log.info("kept the weights of epoch %d (%s %.4f)", self.best_epoch + 1,
                              self.monitor, float(self.best))

    def summary(self, epochs_run, epochs):
        """The training summary's `early_stopping` entry (1-based epochs; `stopped_epoch` is
        null when training ran all `epochs`)."""
        kept = self.best_weights is not None
        return {"monitor": self.monitor, "mode": self.mode, "patience": self.patience,
                "best_epoch": self.best_epoch + 1 if kept else None,
                "best": float(self.best) if kept else None,
                "stopped_epoch": epochs_run if epochs_run < epochs else None}


def fit(model, train, evaluation, spec, config, steps_per_epoch, epochs, eval_steps,
        step_lines=True, callbacks=()):
    """model.fit for `epochs` x `steps_per_epoch` with progress lines and, when epochs > 1 and
    config's `early_stopping` (default True) is on, early stopping that keeps the best epoch's
    weights. `step_lines=False` under ParameterServerStrategy (it refuses batch-level
    callbacks; both callbacks here are otherwise epoch-level); `callbacks`: more, run first.
    -> (history dict, early_stopping summary or None, steps run, kept epoch (0-based), seconds)"""
    callbacks = list(callbacks) + [TrainingProgress(steps_per_epoch, epochs,
                                                    step_lines=step_lines)]
    stopper = None
    if epochs > 1 and config.get("early_stopping", True):
        keys, mode = early_stopping_monitor(spec)
        stopper = BestEpochStopping(keys, mode, int(config.get("early_stopping_patience", 1)))
        callbacks.append(stopper)
    start = time.time()
    history = model.fit(train, epochs=epochs, steps_per_epoch=steps_per_epoch,
                        validation_data=evaluation, validation_steps=eval_steps, verbose=2,
                        callbacks=callbacks).history
    seconds = time.time() - start
    epochs_run = len(history.get("loss", [])) or epochs
    summary = stopper.summary(epochs_run, epochs) if stopper is not None else None
    kept = summary["best_epoch"] - 1 if summary and summary["best_epoch"] else epochs_run - 1
    history = {k: [float(v) for v in values] for k, values in history.items()}
    return history, summary, epochs_run * steps_per_epoch, kept, seconds


def count_records(file_patterns, stop=None):
    """Records in the (GZIP or plain) TFRecord files matching `file_patterns`, read by walking
    the records' length headers without parsing them (~0.3 s of CPU per 100k transformed rows,
    most of it decompression, which releases the GIL); None once `stop` (an Event) is set."""
    total = 0
    for path in sorted(f for p in file_patterns for f in tf.io.gfile.glob(p)):
        with tf.io.gfile.GFile(path, "rb") as raw:
            stream = gzip.GzipFile(fileobj=raw) if path.endswith(".gz") else raw
            buffer, position = b"", 0
            while True:
                if stop is not None and stop.is_set():
                    return None
                chunk = stream.read(1 << 22)
                buffer, position = buffer[position:] + chunk, 0
                # a record: uint64 length, uint32 CRC, `length` bytes, uint32 CRC
                while position + 8 <= len(buffer):
                    (length,) = struct.unpack_from("<Q", buffer, position)
                    if position + 16 + length > len(buffer):
                        break
                    position += 16 + length
                    total += 1
                if not chunk:
                    if position < len(buffer):
                        raise ValueError(f"{path}: truncated TFRecord file")
                    break
    return total


def throughput(steps_run, batch_size, seconds, train_rows):
    """Summary figures of what was trained: every step is a full global batch (the input
    repeats), so examples seen = steps run x batch; passes = examples seen / distinct rows."""
    seen = steps_run * batch_size
    return {"steps_run": steps_run, "train_rows": train_rows, "examples_seen": seen,
            "passes_over_data": round(seen / train_rows, 2) if train_rows else None,
            "examples_per_second": round(seen / seconds, 1) if seconds > 0 else None}


def make_signatures(model, tft_output, spec):
    """serving_default: serialized raw tf.Examples -> predictions (Transform inside);
    transform_features: serialized raw tf.Examples -> transformed labels, for TFMA. Only the labels
    are returned so that TFMA slices by the raw feature values ("C6=fbad5c96"), not by ids."""
    model.tft_layer = tft_output.transform_features_layer()
    input_names = [i.name for i in model.inputs]
    label_columns = {label.column for label in spec.labels}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(serialized):
        raw_spec = {k: v for k, v in tft_output.raw_feature_spec().items()
                    if k not in label_columns}
        transformed = model.tft_layer(tf.io.parse_example(serialized, raw_spec))
        return _outputs(model, model({name: transformed[name] for name in input_names}), spec)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(serialized):
        parsed = tf.io.parse_example(serialized, tft_output.raw_feature_spec())
        transformed = model.tft_layer(parsed)
        return {name: transformed[name] for name in spec.label_names}

    return {"serving_default": serve.get_concrete_function(),
            "transform_features": transform_features.get_concrete_function()}


def run_fn(fn_args):
    # tracing Keras' own code (and our layers') through autograph cost ~30 s per run
    skip_autograph_of_graph_safe_code()
    config = fn_args.custom_config or {}
    # Seeds initialisation, dropout and the input shuffle: the same data, spec and seed give the
    # same model (unseeded, two runs on one Transform output ended at losses 0.682 and 0.687).
    keras.utils.set_random_seed(int(config.get("seed", 0)))
    spec = spec_from_config(config["spec"])
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    strategy = make_strategy(config.get("strategy", "default"))
    batch_size = int(config.get("batch_size", 1024))  # global: replicas split it (see top)
    epochs = max(1, int(config.get("epochs", 1)))

    with strategy.scope():
        linear, dnn = feature_columns(spec, vocabulary_sizes(spec, tft_output))
        model = build_model(config["model"], spec, linear, dnn, config.get("model_args"))
        compile_model(model, spec, float(config.get("learning_rate", 1e-3)),
                      bool(config.get("jit_compile", False)), config.get("optimizer", "adam"))
    warm_start_summary = warm_start.apply(model, spec, tft_output, config)
    input_names = [i.name for i in model.inputs]
    workers = num_workers(strategy)
    policies = {}
    if workers > 1 and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        policies = {split: auto_shard_policy(files, workers) for split, files in
                    (("train", fn_args.train_files), ("validation", fn_args.eval_files))}
        logging.info("%d workers: input auto-shard policy %s", workers,
                     {split: policy.name for split, policy in policies.items()})
        # tf_keras' default ("auto" = sum over replicas) adds up the workers' per-batch metrics
        # (AUC above 1 in the progress lines); epoch values are global metrics either way.
        model.distribute_reduction_method = "first"
    train = make_dataset(fn_args.train_files, fn_args.data_accessor, tft_output, spec, batch_size,
                         input_names, shard_policy=policies.get("train"),
                         cache=bool(config.get("cache_input", False)))
    evaluation = make_dataset(fn_args.eval_files, fn_args.data_accessor, tft_output, spec,
                              batch_size, input_names, shuffle=False,
                              shard_policy=policies.get("validation"))
    steps_per_epoch = max(1, fn_args.train_steps // epochs)
    # The train split's size, for the summary only (the chief writes it): counted on a thread
    # while the model trains and exports; given up (null) if that is not long enough.
    counter = concurrent.futures.ThreadPoolExecutor(1) if _is_chief(strategy) else None
    stop_counting = threading.Event()
    counting = (counter.submit(count_records, fn_args.train_files, stop_counting)
                if counter else None)
    try:
        history, early_stopping, steps_run, kept_epoch, seconds = fit(
            model, train, evaluation, spec, config, steps_per_epoch, epochs, fn_args.eval_steps,
            step_lines=not isinstance(strategy, tf.distribute.ParameterServerStrategy))
    except BaseException:
        stop_counting.set()
        raise
    summary = {"model": config["model"], "model_args": config.get("model_args", {}),
               "strategy": config.get("strategy", "default"), "replicas":
               strategy.num_replicas_in_sync, "workers": workers,
               "auto_shard_policy": {split: p.name for split, p in policies.items()} or None,
               "train_steps": steps_per_epoch * epochs, "epochs": epochs,  # as planned
               "batch_size": batch_size,  # global; per replica: batch_size / replicas
               "train_seconds": round(seconds, 2),
               **throughput(steps_run, batch_size, seconds, train_rows=None),
               "early_stopping": early_stopping,
               "missing_category": MISSING_CATEGORY,
               "parameters": int(model.count_params()),
               "history": history,
               "tasks": task_summary(history, spec, kept_epoch)}
    if warm_start_summary is not None:
        summary["warm_start"] = warm_start_summary
    logging.info("Training summary: %s", summary)

    progress_log.info("exporting the SavedModel")
    signatures = make_signatures(model, tft_output, spec)
    if not _is_chief(strategy):
        # MultiWorkerMirroredStrategy's save runs collectives: every worker must call it. Only
        # the chief's copy is kept; the others go to a private local folder, removed at once.
        scratch = tempfile.mkdtemp(prefix="ctr-worker-savedmodel-")
        try:
            model.save(scratch, save_format="tf", signatures=signatures, save_traces=False)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return
    export_dir = fn_args.serving_model_dir
    # save_traces=False: Keras would otherwise trace every layer's call for revival without its
    # class (~60 % of the export time); the signatures above are what serving and TFMA use, and
    # keras.models.load_model still rebuilds the model from the layers' configs (custom_objects).
    model.save(export_dir, save_format="tf", signatures=signatures, save_traces=False)
    tf.io.gfile.makedirs(os.path.join(export_dir, "assets.extra"))
    with tf.io.gfile.GFile(os.path.join(export_dir, RAW_SCHEMA_FILE), "w") as f:
        f.write(str(tft_output.raw_metadata.schema))
    stop_counting.set()
    train_rows = counting.result()
    counter.shutdown()
    if train_rows is None:
        logging.warning("train_rows not counted: the train split took longer to count than "
                        "training and export")
    summary.update(throughput(steps_run, batch_size, seconds, train_rows))
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, "training_summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
