"""Multi-task learning end to end, in two pipeline runs: one shared MMOE run on generated
click/purchase data (blessed, pushed, one served output per task, per-output TFMA metrics), and a
headerless census-income file run through the CLI's run path with only a spec whose
never_married gate cannot pass (not blessed, nothing pushed, the failing task named)."""
import glob
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from background_runs import register as register_background_run
from cli_testing import REPO, run_cli
from components.dataset_spec import load_spec
from data.census import write_census
from pipeline.pipeline import RunPaths
from pipeline.reporting.summary import read_run

pytestmark = pytest.mark.pipeline

ROWS = 3000
TASKS = ["click", "purchase"]


def run_mmoe(folder):
    """Generated click/purchase rows, then the MMOE run through the CLI (a background run:
    tests/background_runs.py) -> (data folder, run root, exit status, output)."""
    data_dir, root = os.path.join(folder, "data"), os.path.join(folder, "run")
    generated = subprocess.run([sys.executable, "-m", "data", "multitask", "--rows", str(ROWS),
                                "--seed", "1", "--out", data_dir], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=900)
    assert generated.returncode == 0, generated.stdout
    os.remove(os.path.join(data_dir, "oracle.json"))
    return (data_dir, root, *run_cli(
        "run", "--dataset", "multitask", "--data", data_dir, "--root", root, "--model", "MMOE",
        "--train-steps", "60", "--eval-steps", "2", "--batch-size", "128",
        "--learning-rate", "5e-3", "--beam-mode", "in_memory"))


register_background_run("mmoe_run", run_mmoe)


@pytest.fixture(scope="module")
def mmoe_run(background):
    data_dir, root, status, output = background.result("mmoe_run")
    assert status == 0, output
    spec = load_spec("multitask")
    paths = RunPaths(root)
    return spec, data_dir, paths, read_run(paths.metadata_path, f"ctr_{spec.name}")


def _eval_examples(paths, n=200):
    files = glob.glob(os.path.join(paths.pipeline_root, "CsvExampleGen", "examples", "*",
                                   "Split-test", "*"))
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP").take(n)]


def test_multi_task_run_blesses_and_pushes(mmoe_run):
    _, _, _, report = mmoe_run
    assert {c.state for c in report.components} == {"COMPLETE"}, report.format()
    assert report.blessed is True, report.format()
    assert report.pushed_model and os.path.isdir(report.pushed_model)
    assert report.failures == []


def test_evaluation_has_per_task_metrics_overall_and_per_slice(mmoe_run):
    _, _, _, report = mmoe_run
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


def test_training_summary_has_final_metrics_per_task(mmoe_run):
    _, _, _, report = mmoe_run
    tasks = report.training["tasks"]
    assert sorted(tasks) == TASKS
    for task in TASKS:
        assert tasks[task]["loss_weight"] == 1.0
        assert tasks[task]["train_loss"] == report.training["history"][f"{task}_loss"][-1]
        assert 0.0 <= tasks[task]["validation_auc"] <= 1.0


def test_pushed_model_returns_one_named_output_per_task(mmoe_run):
    import tensorflow_transform as tft
    import tf_keras as keras
    from ctr_models.layers import custom_objects
    _, _, paths, report = mmoe_run
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


def test_serve_answers_each_task_by_name_for_raw_rows(mmoe_run):
    """`serve` over the pushed version: raw feature dicts (labels left out, as a client logs
    them) -> one named output per task, equal to the signature's on the same examples."""
    from pipeline_testing import raw_request_rows, served_predictions
    spec, _, paths, report = mmoe_run
    serialized = _eval_examples(paths, n=20)
    signature = tf.saved_model.load(report.pushed_model).signatures["serving_default"]
    expected = signature(examples=tf.constant(serialized))
    version, predictions = served_predictions(
        paths.serving_dir, spec.name,
        raw_request_rows(serialized, report.pushed_model, [label.column for label in spec.labels]))
    assert version == os.path.basename(report.pushed_model)
    assert len(predictions) == len(serialized)
    for task in TASKS:  # float32 from one graph on the same examples
        np.testing.assert_allclose([row[task] for row in predictions], expected[task].numpy(),
                                   rtol=0, atol=1e-6)


def test_tfma_result_has_metrics_for_each_output(mmoe_run):
    import tensorflow_model_analysis as tfma
    _, _, _, report = mmoe_run
    result = tfma.load_eval_result(report.evaluation_uri)
    overall = next(by_output for key, by_output in result.slicing_metrics if not key)
    assert sorted(overall) == TASKS
    for task in TASKS:
        assert "auc" in overall[task][""]
    assert tfma.load_validation_result(report.evaluation_uri).validation_ok


def run_census(folder):
    """The CLI's run on a census-income file with only a spec (a copy of census_income.yaml
    whose never_married gate cannot pass): no header line, leading spaces, an instance-weight
    column, both labels mapped from strings (a background run: tests/background_runs.py) ->
    (the generator's facts, run root, exit status, output)."""
    import yaml
    from components.dataset_spec import SPEC_DIR
    info = write_census(os.path.join(folder, "data"), 2500, seed=2, oracle_name=None)
    with open(os.path.join(SPEC_DIR, "census_income.yaml")) as f:
        raw = yaml.safe_load(f)
    raw["labels"][1]["auc_threshold"] = 0.999
    spec_path = os.path.join(folder, "census_strict.yaml")
    with open(spec_path, "w") as f:
        yaml.safe_dump(raw, f)
    root = os.path.join(folder, "run")
    return (info, root, *run_cli(
        "run", "--dataset", spec_path, "--data", info["path"], "--model", "SharedBottom",
        "--root", root, "--train-steps", "60", "--batch-size", "128", "--learning-rate", "0.005",
        "--eval-steps", "2", "--beam-mode", "in_memory"))


register_background_run("census_run", run_census)


@pytest.fixture(scope="module")
def census_run(background):
    info, run_root, status, output = background.result("census_run")
    assert re.search(r"^Blessed: ", output, re.MULTILINE), output  # the run reached a verdict
    return info, run_root, read_run(os.path.join(run_root, "metadata.sqlite"), "ctr_census_income")


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
