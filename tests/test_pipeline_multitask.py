"""Multi-task learning end to end, in two pipeline runs: one shared MMOE run on generated
click/purchase data (blessed, pushed, one served output per task, per-output TFMA metrics), and a
headerless census-income file run through the CLI's run path with only a spec whose
never_married gate cannot pass (not blessed, nothing pushed, the failing task named)."""
import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from components.dataset_spec import load_spec
from data.census import write_census
from data.multitask import write_multitask
from pipeline.pipeline import RunPaths, TrainingConfig, beam_args, create_pipeline
from pipeline.reporting.summary import read_run

pytestmark = pytest.mark.pipeline

ROWS = 3000
TASKS = ["click", "purchase"]


def _run(spec, data_dir, paths, model="MMOE", train_steps=60):
    from tfx import v1 as tfx
    training = TrainingConfig(model=model, model_args={}, train_steps=train_steps, eval_steps=2,
                              batch_size=128, learning_rate=5e-3)
    pipeline = create_pipeline(spec, data_dir, paths, training, input_pattern="*.csv",
                               beam_pipeline_args=beam_args("in_memory"))
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return read_run(paths.metadata_path, pipeline.pipeline_info.pipeline_name)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("mtl")
    data_dir = str(root / "data")
    write_multitask(data_dir, ROWS, seed=1, oracle_name="../oracle.json")
    spec = load_spec("multitask")
    paths = RunPaths(str(root / "run"))
    return spec, data_dir, paths, _run(spec, data_dir, paths)


def _eval_examples(paths, n=200):
    files = glob.glob(os.path.join(paths.pipeline_root, "CsvExampleGen", "examples", "*",
                                   "Split-eval", "*"))
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP").take(n)]


def test_multi_task_run_blesses_and_pushes(first_run):
    _, _, _, report = first_run
    assert {c.state for c in report.components} == {"COMPLETE"}, report.format()
    assert report.blessed is True, report.format()
    assert report.pushed_model and os.path.isdir(report.pushed_model)
    assert report.failures == []


def test_evaluation_has_per_task_metrics_overall_and_per_slice(first_run):
    _, _, _, report = first_run
    assert sorted(report.tasks) == TASKS and report.overall == {}
    for task in TASKS:
        metrics = report.tasks[task]
        assert metrics["example_count"] > 200 and metrics["auc"] > 0.6, report.format()
    # purchase is rarer than click: the per-output label means differ, so nothing is mixed up
    assert report.tasks["purchase"]["mean_label"] < report.tasks["click"]["mean_label"]
    assert {name.split(":")[0] for name, _ in report.slices} == set(TASKS)
    assert any(name.startswith("purchase: device=") for name, _ in report.slices)
    text = report.format()
    for task in TASKS:
        assert f"task {task}" in text and f"{report.tasks[task]['auc']:.4g}" in text


def test_training_summary_has_final_metrics_per_task(first_run):
    _, _, _, report = first_run
    tasks = report.training["tasks"]
    assert sorted(tasks) == TASKS
    for task in TASKS:
        assert tasks[task]["loss_weight"] == 1.0
        assert tasks[task]["train_loss"] == report.training["history"][f"{task}_loss"][-1]
        assert 0.0 <= tasks[task]["eval_auc"] <= 1.0


def test_pushed_model_returns_one_named_output_per_task(first_run):
    import tensorflow_transform as tft
    import tf_keras as keras
    from ctr_models.layers import custom_objects
    _, _, paths, report = first_run
    serialized = _eval_examples(paths)
    served = tf.saved_model.load(report.pushed_model).signatures["serving_default"](
        examples=tf.constant(serialized))
    assert sorted(served) == TASKS
    graph = sorted(glob.glob(os.path.join(paths.pipeline_root, "Transform", "transform_graph",
                                          "*")))[-1]
    tft_output = tft.TFTransformOutput(graph)
    transformed = tft_output.transform_features_layer()(
        tf.io.parse_example(serialized, tft_output.raw_feature_spec()))
    model = keras.models.load_model(os.path.join(report.model_uri, "Format-Serving"),
                                    custom_objects=custom_objects)
    expected = model({i.name: transformed[i.name] for i in model.inputs})
    for name, value in zip(model.output_names, expected):  # by name, not by position
        assert served[name].shape == (len(serialized), 1)
        np.testing.assert_allclose(served[name].numpy(), value.numpy(), atol=1e-5)
    assert not np.allclose(served["click"].numpy(), served["purchase"].numpy())


def test_tfma_result_has_metrics_for_each_output(first_run):
    import tensorflow_model_analysis as tfma
    _, _, _, report = first_run
    result = tfma.load_eval_result(report.evaluation_uri)
    overall = next(by_output for key, by_output in result.slicing_metrics if not key)
    assert sorted(overall) == TASKS
    for task in TASKS:
        assert "auc" in overall[task][""]
    assert tfma.load_validation_result(report.evaluation_uri).validation_ok


@pytest.fixture(scope="module")
def census_run(tmp_path_factory):
    """The CLI's run path on a census-income file with only a spec (a copy of
    census_income.yaml whose never_married gate cannot pass): no header line, leading spaces,
    an instance-weight column, both labels mapped from strings."""
    import argparse
    import yaml
    from components.dataset_spec import SPEC_DIR
    from pipeline.options import add_run_args, run_options
    from pipeline.run import run_pipeline
    root = tmp_path_factory.mktemp("census")
    info = write_census(str(root / "data"), 2500, seed=2, oracle_name=None)
    with open(os.path.join(SPEC_DIR, "census_income.yaml")) as f:
        raw = yaml.safe_load(f)
    raw["labels"][1]["auc_threshold"] = 0.999
    spec_path = str(root / "census_strict.yaml")
    with open(spec_path, "w") as f:
        yaml.safe_dump(raw, f)
    parser = argparse.ArgumentParser()
    add_run_args(parser)
    args = parser.parse_args(["--dataset", spec_path, "--data", info["path"],
                              "--model", "SharedBottom", "--root", str(root / "run"),
                              "--train-steps", "60", "--batch-size", "128",
                              "--learning-rate", "0.005", "--eval-steps", "2",
                              "--beam-mode", "in_memory"])
    return info, str(root / "run"), run_pipeline(run_options(args))


def test_headerless_census_file_runs_with_only_its_spec(census_run):
    info, run_root, report = census_run
    assert {c.state for c in report.components} == {"COMPLETE"}, report.format()
    assert sorted(report.tasks) == ["income", "never_married"]
    # ~10% of 2,500 rows in the eval split; labels mapped from " 50000+." / " Never married"
    assert 150 < report.tasks["income"]["example_count"] < 350
    for task, expected in info["tasks"].items():
        assert report.tasks[task]["mean_label"] == pytest.approx(expected["positive_rate"],
                                                                 abs=0.08)
        assert report.tasks[task]["auc"] > 0.7, report.format()
    schema = glob.glob(os.path.join(run_root, "pipeline_root", "SchemaGen", "schema", "*",
                                    "schema.pbtxt"))[0]
    with open(schema) as f:
        text = f.read()
    assert 'name: "instance_weight"' in text and 'name: "income_50k"' in text


def test_one_task_failing_its_gate_blocks_the_push_and_is_named(census_run):
    _, run_root, report = census_run
    assert report.blessed is False, report.format()
    assert report.pushed_model is None
    assert not os.path.isdir(os.path.join(run_root, "serving")) or not os.listdir(
        os.path.join(run_root, "serving"))
    failed = [f for f in report.failures if f.startswith("never_married: auc =")]
    assert failed and ">= 0.999" in failed[0], report.failures
    assert not any(f.startswith("income:") for f in report.failures), report.failures
    assert "failed: never_married: auc" in report.format()
