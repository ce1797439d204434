"""One end-to-end pipeline run on generated Criteo-format data, shared by several assertions,
then a rerun into the same root."""
import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from components.dataset_spec import load_spec
from pipeline.pipeline import RunPaths, TrainingConfig, beam_args, create_pipeline
from pipeline.reporting.summary import read_run
from pipeline.tfx_packaging import skip_self_packaging_for_local_runners
from pipeline_testing import run_fn_on_transform

pytestmark = pytest.mark.pipeline

COMPONENTS = ["CsvExampleGen", "StatisticsGen", "SchemaGen", "CurateSchema", "ExampleValidator",
              "Transform", "Trainer", "latest_blessed_model_resolver", "Evaluator", "Pusher"]


def _run(spec, data_dir, paths, train_steps):
    from tfx import v1 as tfx
    # l2 on the embeddings keeps 16k training rows from being memorised within two epochs
    training = TrainingConfig(model="DeepFM", model_args={"dnn_hidden_units": (64, 32),
                                                          "l2_reg_embedding": 1e-3},
                              train_steps=train_steps, eval_steps=4, batch_size=256,
                              learning_rate=3e-3)
    pipeline = create_pipeline(spec, data_dir, paths, training, input_pattern="*.csv",
                               beam_pipeline_args=beam_args("in_memory"))
    skip_self_packaging_for_local_runners()  # as the CLI does
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return read_run(paths.metadata_path, pipeline.pipeline_info.pipeline_name)


def make_first_run(runs):
    """The shared run (session-scoped `e2e_run` in conftest: the report and predict tests read
    it too), from the session's background runs (shared_runs.run_e2e_first: the CLI on 20k
    generated rows) -> (spec, data folder, paths, run summary)."""
    data_dir, root, status, output = runs.result("e2e_first_run")
    assert status == 0, output
    spec = load_spec("criteo")
    paths = RunPaths(root)
    return spec, data_dir, paths, read_run(paths.metadata_path, f"ctr_{spec.name}")


@pytest.fixture(scope="module")
def first_run(e2e_run):
    return e2e_run


@pytest.fixture(scope="module")
def second_run(first_run):
    spec, data_dir, paths, first = first_run
    pushed_before = sorted(os.listdir(paths.serving_dir))
    fingerprint = _tree_fingerprint(first.pushed_model)
    report = _run(spec, data_dir, paths, train_steps=100)
    return first, report, pushed_before, fingerprint


def _tree_fingerprint(path):
    out = {}
    for f in sorted(glob.glob(os.path.join(path, "**"), recursive=True)):
        if os.path.isfile(f):
            with open(f, "rb") as fh:
                out[os.path.relpath(f, path)] = hash(fh.read())
    return out


def test_every_component_succeeded_and_is_in_mlmd(first_run):
    _, _, paths, report = first_run
    assert sorted(c.node_id for c in report.components) == sorted(COMPONENTS)
    assert {c.state for c in report.components} == {"COMPLETE"}
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = paths.metadata_path
    store = metadata_store.MetadataStore(config)
    types = {store.get_artifact_types_by_id([a.type_id])[0].name for a in store.get_artifacts()}
    assert {"Examples", "ExampleStatistics", "Schema", "ExampleAnomalies", "TransformGraph",
            "Model", "ModelRun", "ModelEvaluation", "ModelBlessing", "PushedModel"} <= types


def test_model_is_blessed_with_auc_well_above_chance(first_run):
    _, _, _, report = first_run
    assert report.overall["example_count"] > 1500
    assert report.overall["auc"] > 0.65, report.format()
    assert report.blessed is True
    assert report.pushed_model and os.path.isdir(report.pushed_model)
    # slices from the spec, by raw value
    assert any(name.startswith("C6=") for name, _ in report.slices)
    assert any(name.startswith("C9=") for name, _ in report.slices)


def test_clean_data_has_no_anomalies(first_run):
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    _, _, paths, _ = first_run
    anomalies = glob.glob(os.path.join(paths.pipeline_root, "ExampleValidator", "anomalies",
                                       "*", "Split-*", "SchemaDiff.pb"))
    assert len(anomalies) == 3  # train, validation and test: each checked
    for path in anomalies:
        with open(path, "rb") as f:
            result = anomalies_pb2.Anomalies.FromString(f.read())
        assert not result.anomaly_info, (path, result.anomaly_info)


def _eval_examples(paths, n=300):
    files = glob.glob(os.path.join(paths.pipeline_root, "CsvExampleGen", "examples", "*",
                                   "Split-test", "*"))
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").take(n)
    return [r.numpy() for r in dataset]


def test_pushed_model_scores_raw_examples_like_the_trainer(first_run):
    import tensorflow_transform as tft
    import tf_keras as keras
    from ctr_models.layers import custom_objects
    _, _, paths, report = first_run
    serialized = _eval_examples(paths)
    pushed = tf.saved_model.load(report.pushed_model)
    served = pushed.signatures["serving_default"](examples=tf.constant(serialized))["prediction"]
    assert served.shape == (len(serialized), 1)
    # The Trainer's keras model fed with Transform's output for the same rows.
    transform_dirs = glob.glob(os.path.join(paths.pipeline_root, "Transform", "transform_graph",
                                            "*"))
    tft_output = tft.TFTransformOutput(sorted(transform_dirs)[-1])
    raw_spec = tft_output.raw_feature_spec()
    transformed = tft_output.transform_features_layer()(tf.io.parse_example(serialized, raw_spec))
    trainer_model = keras.models.load_model(
        os.path.join(report.model_uri, "Format-Serving"), custom_objects=custom_objects)
    expected = trainer_model({i.name: transformed[i.name] for i in trainer_model.inputs})
    np.testing.assert_allclose(served.numpy(), expected.numpy(), atol=1e-5)
    # a request may omit any feature: missing values are mapped, not rejected
    empty = tf.train.Example().SerializeToString()
    p = pushed.signatures["serving_default"](examples=tf.constant([empty]))["prediction"]
    assert 0.0 < float(p[0, 0]) < 1.0


def test_rerun_same_root_pushes_a_new_version_beside_the_old(second_run):
    first, second, pushed_before, fingerprint = second_run
    cached = {c.node_id for c in second.components if c.state == "CACHED"}
    assert {"CsvExampleGen", "StatisticsGen", "SchemaGen", "Transform"} <= cached
    assert {c.state for c in second.components if c.node_id == "Trainer"} == {"COMPLETE"}
    serving_dir = os.path.dirname(first.pushed_model)
    versions = sorted(os.listdir(serving_dir))
    assert set(pushed_before) < set(versions)
    assert _tree_fingerprint(first.pushed_model) == fingerprint  # old version untouched
    # twice the steps (one epoch instead of half): within 0.01 AUC of the baseline or better
    assert second.blessed is True, second.format()
    assert second.pushed_model != first.pushed_model and len(versions) == 2


def _run_fn(first_run, out_dir, training, train_steps=6):
    spec, _, paths, _ = first_run
    return run_fn_on_transform(spec, paths.pipeline_root, out_dir, training, train_steps)


def test_run_fn_trains_and_exports_under_mirrored_strategy(first_run, tmp_path):
    """run_fn on the run's own Transform output, another model, under MirroredStrategy."""
    _, _, paths, _ = first_run
    training = TrainingConfig(model="DCN", model_args={"dnn_hidden_units": (16,)},
                              strategy="mirrored", batch_size=64)
    summary = _run_fn(first_run, tmp_path, training)
    assert summary["strategy"] == "mirrored" and summary["model"] == "DCN"
    assert summary["train_steps"] == 6 and len(summary["history"]["loss"]) == 1
    served = tf.saved_model.load(str(tmp_path / "serving")).signatures["serving_default"](
        examples=tf.constant(_eval_examples(paths, 8)))["prediction"]
    assert served.shape == (8, 1) and np.all((served.numpy() > 0) & (served.numpy() < 1))


def test_same_data_spec_and_seed_train_the_same_model(first_run, tmp_path):
    """Determinism (tolerance 0): the seed fixes initialisation, dropout and the input shuffle, so
    two trainings with one seed log identical losses and serve identical scores; another seed
    trains another model."""
    _, _, paths, _ = first_run
    runs = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        training = TrainingConfig(model="DeepFM", model_args={"dnn_dropout": 0.2}, batch_size=64,
                                  seed=seed)
        summary = _run_fn(first_run, tmp_path / name, training, train_steps=4)
        served = tf.saved_model.load(str(tmp_path / name / "serving")).signatures[
            "serving_default"](examples=tf.constant(_eval_examples(paths, 64)))["prediction"]
        runs[name] = (summary["history"], served.numpy())
    assert runs["a"][0] == runs["b"][0]
    np.testing.assert_array_equal(runs["a"][1], runs["b"][1])
    assert runs["a"][0]["loss"] != runs["c"][0]["loss"]
