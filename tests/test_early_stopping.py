"""Early stopping with the best weights and the examples-seen figures of the Trainer
(components/trainer.py: fit, early_stopping_monitor, count_records, throughput), on tiny in-memory
Keras models, plus the CLI switch and the run summary's training line.

Stand-in for overfitting: the validation labels are the OPPOSITE of the rule the training labels
follow, so every epoch that learns the training rule lowers the validation AUC — the best epoch is
always the first, deterministically (the issue's demo fell from 0.756 after epoch 1 to 0.681)."""
import dataclasses
import gzip
import threading

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from components.dataset_spec import load_spec
from components.trainer import (BestEpochStopping, compile_model, count_records,
                                early_stopping_monitor, fit, make_strategy, task_summary,
                                throughput)

ROWS, FEATURES, BATCH, STEPS = 256, 8, 32, 8
RNG = np.random.default_rng(0)
X_TRAIN = RNG.normal(size=(ROWS, FEATURES)).astype("float32")
X_EVAL = RNG.normal(size=(ROWS, FEATURES)).astype("float32")
RULE = RNG.normal(size=FEATURES)


def _labels(x, flipped=False):
    return ((x @ RULE > 0) != flipped).astype("float32")[:, None]


def _datasets(labels):
    """Train repeats (like tfxio's); eval: one batch of every eval row. `labels` names the
    outputs: None for a single-output model, else one (flipped) label per output name."""
    def targets(x, flipped):
        y = _labels(x, flipped)
        return y if labels is None else {name: y for name in labels}
    train = tf.data.Dataset.from_tensor_slices(({"x": X_TRAIN}, targets(X_TRAIN, False)))
    evaluation = tf.data.Dataset.from_tensor_slices(({"x": X_EVAL}, targets(X_EVAL, True)))
    return train.shuffle(ROWS, seed=0).repeat().batch(BATCH), evaluation.batch(ROWS)


def _model(outputs=None):
    x = keras.Input((FEATURES,), name="x")
    hidden = keras.layers.Dense(4, activation="relu")(x)
    if outputs is None:
        return keras.Model(x, keras.layers.Dense(1, activation="sigmoid")(hidden))
    return keras.Model(x, [keras.layers.Dense(1, activation="sigmoid", name=name)(hidden)
                           for name in outputs])


class WeightsByEpoch(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def _same(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b))


def _train(spec, config, epochs, outputs=None, strategy="default"):
    keras.utils.set_random_seed(0)
    with make_strategy(strategy).scope():
        model = _model(outputs)
        compile_model(model, spec, learning_rate=0.05)
    recorder = WeightsByEpoch()
    train, evaluation = _datasets(outputs)
    result = fit(model, train, evaluation, spec, config, STEPS, epochs, eval_steps=1,
                 callbacks=[recorder])
    return (model, recorder) + result


@pytest.mark.parametrize("strategy", ["default", "mirrored"])
def test_stops_when_val_auc_falls_and_keeps_the_best_epoch(strategy):
    spec = load_spec("criteo")
    model, recorder, history, stopping, steps_run, kept, seconds = _train(
        spec, {}, epochs=4, strategy=strategy)
    auc = history["val_auc"]
    assert len(auc) == 2 and auc[1] < auc[0]  # patience 1: one worse epoch ends training
    assert stopping == {"monitor": "val_auc", "mode": "max", "patience": 1, "best_epoch": 1,
                        "best": auc[0], "stopped_epoch": 2}
    assert kept == 0 and steps_run == 2 * STEPS
    assert _same(model.get_weights(), recorder.weights[0])
    assert not _same(model.get_weights(), recorder.weights[1])
    tasks = task_summary(history, spec, kept)
    assert tasks["label"]["validation_auc"] == auc[0] and tasks["label"]["train_loss"] == \
        history["loss"][0]


def test_keeps_the_best_epoch_also_when_the_epochs_run_out():
    spec = load_spec("criteo")
    model, recorder, history, stopping, steps_run, kept, _ = _train(
        spec, {"early_stopping_patience": 5}, epochs=3)
    assert len(history["loss"]) == 3 and steps_run == 3 * STEPS
    assert stopping["stopped_epoch"] is None and stopping["best_epoch"] == 1 and kept == 0
    assert max(history["val_auc"]) == history["val_auc"][0] == stopping["best"]
    assert _same(model.get_weights(), recorder.weights[0])
    assert not _same(model.get_weights(), recorder.weights[-1])


def test_switched_off_or_one_epoch_trains_every_step_and_keeps_the_last_weights():
    spec = load_spec("criteo")
    model, recorder, history, stopping, steps_run, kept, _ = _train(
        spec, {"early_stopping": False}, epochs=3)
    assert stopping is None and kept == 2 and steps_run == 3 * STEPS
    assert history["val_auc"][2] < history["val_auc"][0]
    assert _same(model.get_weights(), recorder.weights[-1])
    _, _, history, stopping, steps_run, kept, _ = _train(spec, {}, epochs=1)
    assert stopping is None and kept == 0 and steps_run == STEPS


def test_monitor_per_spec():
    multitask = load_spec("multitask")
    rating = load_spec("movielens_rating")
    assert early_stopping_monitor(load_spec("criteo")) == (["val_auc"], "max")
    assert early_stopping_monitor(multitask) == (["val_click_auc", "val_purchase_auc"], "max")
    assert early_stopping_monitor(rating) == (["val_loss"], "min")
    mixed = dataclasses.replace(multitask, labels=[
        multitask.labels[0], dataclasses.replace(rating.labels[0], name="spend")])
    assert early_stopping_monitor(mixed) == (["val_click_auc"], "max")
    two_regressions = dataclasses.replace(rating, labels=[
        rating.labels[0], dataclasses.replace(rating.labels[0], name="minutes")])
    assert early_stopping_monitor(two_regressions) == (["val_loss"], "min")
    stopper = BestEpochStopping(["val_a_auc", "val_b_auc"], "max")
    assert stopper.get_monitor_value({"val_a_auc": 0.6, "val_b_auc": 0.8}) == pytest.approx(0.7)
    assert stopper.get_monitor_value({"val_a_auc": 0.6}) is None


def test_several_labels_stop_on_the_mean_of_their_val_aucs():
    spec = load_spec("multitask")
    model, recorder, history, stopping, steps_run, kept, _ = _train(
        spec, {}, epochs=4, outputs=spec.label_names)
    mean = [(a + b) / 2 for a, b in zip(history["val_click_auc"], history["val_purchase_auc"])]
    assert stopping["monitor"] == "mean(val_click_auc, val_purchase_auc)"
    assert stopping["best_epoch"] == 1 and stopping["best"] == pytest.approx(mean[0])
    assert len(mean) == stopping["stopped_epoch"] == 2 and mean[1] < mean[0]
    assert _same(model.get_weights(), recorder.weights[0])
    tasks = task_summary(history, spec, kept)
    assert [tasks[t]["validation_auc"] for t in spec.label_names] == [
        history["val_click_auc"][0], history["val_purchase_auc"][0]]


def _write_records(path, count, compression):
    with tf.io.TFRecordWriter(str(path), options=compression) as writer:
        for i in range(count):
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                "i": tf.train.Feature(int64_list=tf.train.Int64List(value=[i] * (i % 50)))}))
                .SerializeToString())


def test_count_records_counts_gzip_and_plain_files(tmp_path):
    split = tmp_path / "Split-train"
    split.mkdir()
    _write_records(split / "part-0.gz", 3000, "GZIP")
    _write_records(split / "part-1.gz", 1, "GZIP")
    _write_records(tmp_path / "plain.tfrecord", 17, None)
    expected = sum(1 for _ in tf.data.TFRecordDataset(
        [str(split / "part-0.gz"), str(split / "part-1.gz")], compression_type="GZIP"))
    assert expected == 3001
    assert count_records([str(split / "*")]) == 3001
    assert count_records([str(split / "*"), str(tmp_path / "*.tfrecord")]) == 3018
    stop = threading.Event()
    stop.set()
    assert count_records([str(split / "*")], stop) is None
    with open(split / "part-0.gz", "rb") as f:  # cut inside a record
        data = gzip.decompress(f.read())
    with gzip.open(tmp_path / "cut.gz", "wb") as f:
        f.write(data[:-5])
    with pytest.raises(ValueError, match="cut.gz: truncated"):
        count_records([str(tmp_path / "cut.gz")])


def test_throughput_counts_the_steps_run_in_full_batches():
    # a 100-row split at batch 1024, one step: 1,024 examples seen, 10.24 passes
    assert throughput(1, 1024, 2.0, 100) == {
        "steps_run": 1, "train_rows": 100, "examples_seen": 1024, "passes_over_data": 10.24,
        "examples_per_second": 512.0}
    assert throughput(16, 64, 4.0, None)["passes_over_data"] is None


def _report(training):
    from pipeline.reporting.summary import RunReport
    report = RunReport(pipeline_name="p", run_id="r", components=[], overall={}, slices=[],
                       blessed=True, pushed_model=None, evaluation_uri=None, model_uri=None,
                       training=dict({"model": "DeepFM", "model_args": {}, "batch_size": 1024,
                                      "examples_per_second": 900.0}, **training))
    text = report.format(timings=False)
    return next(line for line in text.splitlines() if line.startswith("Training:"))


def test_training_line_says_what_was_run_and_kept():
    stopped = {"monitor": "val_auc", "mode": "max", "patience": 1, "best_epoch": 2,
               "best": 0.75612, "stopped_epoch": 3}
    line = _report({"train_steps": 352, "epochs": 4, "steps_run": 264, "train_rows": 89969,
                    "early_stopping": stopped})
    assert line == ("Training: DeepFM {}, 264 steps x batch 1024 = 270,336 examples (3 passes "
                    "over 89,969 training rows), 900.0 examples/s; stopped after epoch 3 of 4, "
                    "kept epoch 2 (val AUC 0.7561)")
    ran_out = dict(stopped, stopped_epoch=None, best_epoch=1,
                   monitor="mean(val_click_auc, val_purchase_auc)")
    assert _report({"train_steps": 88, "epochs": 2, "steps_run": 88, "train_rows": 89969,
                    "early_stopping": ran_out}).endswith(
        "; 2 epochs, kept epoch 1 (mean val AUC 0.7561)")
    last_best = dict(stopped, stopped_epoch=None, best_epoch=4)
    assert _report({"train_steps": 88, "epochs": 4, "early_stopping": last_best}).endswith(
        "900.0 examples/s")


def _trainer_config(*flags):
    """The Trainer's custom_config for `run` with `flags` on 2,000 rows."""
    from pipeline.cli import build_parser
    from pipeline.options import run_options
    from pipeline.run import resolve_training
    spec = load_spec("criteo")
    training = run_options(build_parser().parse_args(["run", *flags])).training
    return resolve_training(training, spec, 2000)[1].custom_config(spec)


def test_cli_switch_reaches_the_trainer_config():
    from pipeline.pipeline import TrainingConfig
    assert _trainer_config()["early_stopping"] is True
    assert _trainer_config("--no-early-stopping")["early_stopping"] is False
    spec = load_spec("criteo")
    assert TrainingConfig().custom_config(spec)["early_stopping"] is True
    assert TrainingConfig(early_stopping=False).custom_config(spec)["early_stopping"] is False


def test_trainer_options_reach_the_trainer_config():
    from ctr_models.optimizers import OPTIMIZER_NAMES
    from pipeline import options
    from pipeline.cli import build_parser
    from pipeline.pipeline import TrainingConfig
    assert options.OPTIMIZER_NAMES == OPTIMIZER_NAMES
    config = _trainer_config("--optimizer", "lazy_adam", "--cache-input")
    assert (config["optimizer"], config["cache_input"]) == ("lazy_adam", True)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--optimizer", "adamw"])
    spec = load_spec("criteo")
    default = TrainingConfig().custom_config(spec)
    assert (default["optimizer"], default["cache_input"]) == ("adam", False)
    default = _trainer_config()
    assert (default["optimizer"], default["cache_input"]) == ("adam", False)
