"""TFX Trainer module: `run_fn` builds the configured ctr_models model, trains it under a
tf.distribute strategy and exports a SavedModel that scores raw tf.Examples.

custom_config keys: spec (dict), model (name), model_args (dict), strategy
('default' | 'mirrored' | 'multi_worker' | 'parameter_server' | 'one_device'), batch_size,
learning_rate, epochs, jit_compile (XLA; off by default: measured far slower for these models on
CPU).

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
import json
import logging
import os
import shutil
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
import tf_keras as keras  # noqa: E402
from tfx_bsl.public import tfxio  # noqa: E402

from ctr_models.tracing import skip_keras_autograph  # noqa: E402

from components.dataset_spec import spec_from_config  # noqa: E402
from components.model_builder import build_model, feature_columns, vocabulary_sizes  # noqa: E402
from components import warm_start  # noqa: E402

SERVING_OUTPUT = "prediction"
# The raw-data schema beside the SavedModel: lets `python -m pipeline predict` turn CSV rows into
# the tf.Examples the serving signature parses (Pusher copies assets.extra with the model).
RAW_SCHEMA_FILE = os.path.join("assets.extra", "raw_schema.pbtxt")
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
        progress_log.info("epoch %d/%d %s | eval %s", epoch + 1, self.epochs,
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
                 shuffle=True, shard_policy=None):
    """Batches of (features, label) from transformed examples; several labels -> a dict.
    `batch_size` is the global batch (a distribution strategy splits it between replicas);
    `shard_policy` (an AutoShardPolicy) says how several workers divide the input."""
    dataset = data_accessor.tf_dataset_factory(
        file_pattern, tfxio.TensorFlowDatasetOptions(batch_size=batch_size, shuffle=shuffle),
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

    return dataset.map(split, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


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


def compile_model(model, spec, learning_rate, jit_compile=False):
    """One loss per label (by output name), weighted by the labels' `loss_weight`."""
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
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=losses, metrics=metrics,
                  loss_weights=loss_weights, jit_compile=jit_compile)


def _outputs(model, model_output, spec):
    """Serving outputs: `prediction`, or one output per label keyed by the model's output name."""
    if len(spec.labels) == 1:
        return {SERVING_OUTPUT: model_output}
    return dict(zip(model.output_names, model_output))


def task_summary(history, spec):
    """Final training and validation loss/AUC (binary) or loss/MSE (regression) per label, from
    the Keras history (multi-output keys are '<output>_<metric>')."""
    tasks = {}
    for label in spec.labels:
        prefix = "" if len(spec.labels) == 1 else f"{label.name}_"
        names = ("loss", "auc", "logloss") if label.task == "binary" else ("loss", "mse", "mae")
        entry = {"task": label.task, "loss_weight": float(label.loss_weight)}
        for split, head in (("train", ""), ("eval", "val_")):
            for name in names:
                values = history.get(f"{head}{prefix}{name}")
                if values:
                    entry[f"{split}_{name}"] = float(values[-1])
        tasks[label.name] = entry
    return tasks


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
    skip_keras_autograph()  # tracing Keras' own code through autograph cost ~30 s per run
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
                      bool(config.get("jit_compile", False)))
    warm_start_summary = warm_start.apply(model, spec, tft_output, config)
    input_names = [i.name for i in model.inputs]
    workers = num_workers(strategy)
    policies = {}
    if workers > 1 and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        policies = {split: auto_shard_policy(files, workers) for split, files in
                    (("train", fn_args.train_files), ("eval", fn_args.eval_files))}
        logging.info("%d workers: input auto-shard policy %s", workers,
                     {split: policy.name for split, policy in policies.items()})
        # tf_keras' default ("auto" = sum over replicas) adds up the workers' per-batch metrics
        # (AUC above 1 in the progress lines); epoch values are global metrics either way.
        model.distribute_reduction_method = "first"
    train = make_dataset(fn_args.train_files, fn_args.data_accessor, tft_output, spec, batch_size,
                         input_names, shard_policy=policies.get("train"))
    evaluation = make_dataset(fn_args.eval_files, fn_args.data_accessor, tft_output, spec,
                              batch_size, input_names, shuffle=False,
                              shard_policy=policies.get("eval"))
    steps_per_epoch = max(1, fn_args.train_steps // epochs)
    start = time.time()
    history = model.fit(train, epochs=epochs, steps_per_epoch=steps_per_epoch,
                        validation_data=evaluation, validation_steps=fn_args.eval_steps,
                        verbose=2, callbacks=[TrainingProgress(
                            steps_per_epoch, epochs, step_lines=not isinstance(
                                strategy, tf.distribute.ParameterServerStrategy))])
    seconds = time.time() - start
    summary = {"model": config["model"], "model_args": config.get("model_args", {}),
               "strategy": config.get("strategy", "default"), "replicas":
               strategy.num_replicas_in_sync, "workers": workers,
               "auto_shard_policy": {split: p.name for split, p in policies.items()} or None,
               "train_steps": steps_per_epoch * epochs, "epochs": epochs,
               "batch_size": batch_size,  # global; per replica: batch_size / replicas
               "train_seconds": round(seconds, 2),
               "examples_per_second": round(steps_per_epoch * epochs * batch_size / seconds, 1),
               "parameters": int(model.count_params()),
               "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
               "tasks": task_summary(history.history, spec)}
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
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, "training_summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
