"""One end-to-end pipeline run of a behaviour-sequence model (DIN) on a generated behaviour log:
ExampleGen -> HistoryBuilder -> ... -> Pusher, shared by every assertion."""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from background_runs import register as register_background_run
from cli_testing import REPO, run_cli
from components.dataset_spec import load_spec
from pipeline.pipeline import RunPaths
from pipeline.reporting.summary import read_run

pytestmark = pytest.mark.pipeline

ROWS = 3000
# serving signature vs the Trainer's Keras model on the same rows (two graphs, one set of weights)
SCORE_ATOL = 1e-5
# how far apart two requests that differ only in their history must score
HISTORY_MARGIN = 10 * SCORE_ATOL
COMPONENTS = ["CsvExampleGen", "HistoryBuilder", "StatisticsGen", "SchemaGen", "CurateSchema",
              "ExampleValidator", "Transform", "Trainer", "latest_blessed_model_resolver",
              "Evaluator", "Pusher"]


def run_din(folder):
    """A generated behaviour log, then the DIN run through the CLI (a background run:
    tests/background_runs.py) -> (run root, exit status, output)."""
    data_dir, root = os.path.join(folder, "data"), os.path.join(folder, "run")
    generated = subprocess.run([sys.executable, "-m", "data", "behaviour", "--rows", str(ROWS),
                                "--seed", "1", "--out", data_dir], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=900)
    assert generated.returncode == 0, generated.stdout
    os.remove(os.path.join(data_dir, "oracle.json"))
    return (root, *run_cli(
        "run", "--dataset", "behaviour", "--data", data_dir, "--root", root, "--model", "DIN",
        "--model-arg", "dnn_hidden_units=(32,16)", "--model-arg", "att_hidden_size=(16,8)",
        "--train-steps", "40", "--eval-steps", "2", "--batch-size", "128",
        "--learning-rate", "3e-3", "--beam-mode", "in_memory"))


register_background_run("din_run", run_din)


@pytest.fixture(scope="module")
def din_run(background):
    root, status, output = background.result("din_run")
    assert status == 0, output
    spec = load_spec("behaviour")
    paths = RunPaths(root)
    return spec, paths, read_run(paths.metadata_path, f"ctr_{spec.name}")


def test_every_component_incl_the_history_builder_completed_in_mlmd(din_run):
    _, paths, report = din_run
    assert sorted(c.node_id for c in report.components) == sorted(COMPONENTS)
    assert {c.state for c in report.components} == {"COMPLETE"}
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = paths.metadata_path
    store = metadata_store.MetadataStore(config)
    examples = {a.uri.split(os.sep)[-3]: a for a in store.get_artifacts_by_type("Examples")}
    # ExampleGen's log and the HistoryBuilder's rows with the three splits; Transform's output
    # without test (the Evaluator scores raw test rows; nothing trains on them)
    assert sorted(examples) == ["CsvExampleGen", "HistoryBuilder", "Transform"]
    splits = {name: sorted(json.loads(a.properties["split_names"].string_value))
              for name, a in examples.items()}
    assert splits == {"CsvExampleGen": ["test", "train", "validation"],
                      "HistoryBuilder": ["test", "train", "validation"],
                      "Transform": ["train", "validation"]}


def _history_rows(paths, split="test", n=200):
    files = glob.glob(os.path.join(paths.pipeline_root, "HistoryBuilder", "examples", "*",
                                   f"Split-{split}", "*"))
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP").take(n)]


def _text(example, name):
    return example.features.feature[name].bytes_list.value[0].decode()


def test_serve_scores_raw_history_strings_as_the_signature_does(din_run):
    """`serve` over the pushed version: raw rows with their history strings as a client logged
    them (a cold-start row without history too) score as the signature scores the examples."""
    from pipeline_testing import raw_request_rows, served_predictions
    spec, paths, report = din_run
    serialized = _history_rows(paths, n=20)
    instances = raw_request_rows(serialized, report.pushed_model,
                                 [label.column for label in spec.labels])
    cold_start = {"user_id": 7, "item_id": 20, "cate_id": 2}
    assert any("hist_item_id" in row for row in instances)
    version, predictions = served_predictions(paths.serving_dir, spec.name,
                                              instances + [cold_start])
    signature = tf.saved_model.load(report.pushed_model).signatures["serving_default"]
    cold_example = tf.train.Example()
    for name, value in cold_start.items():
        cold_example.features.feature[name].int64_list.value.append(value)
    expected = signature(examples=tf.constant(serialized + [cold_example.SerializeToString()]))
    assert version == os.path.basename(report.pushed_model)
    np.testing.assert_allclose(predictions, expected["prediction"].numpy(), rtol=0, atol=1e-6)


def test_history_rows_are_split_by_time_and_carry_the_sequences(din_run):
    spec, paths, _ = din_run
    train = [tf.train.Example.FromString(r) for r in _history_rows(paths, "train", 10_000)]
    validation = [tf.train.Example.FromString(r)
                  for r in _history_rows(paths, "validation", 10_000)]
    evaluation = [tf.train.Example.FromString(r) for r in _history_rows(paths, "test", 10_000)]
    assert len(train) + len(validation) + len(evaluation) == ROWS
    stamp = lambda e: e.features.feature["timestamp"].int64_list.value[0]  # noqa: E731
    assert max(map(stamp, train)) < min(map(stamp, validation))
    assert max(map(stamp, validation)) < min(map(stamp, evaluation))
    for name in spec.behaviour.generated_names() + ["hist_length_bucket"]:
        assert name in evaluation[0].features.feature
    lengths = [len(_text(e, "hist_item_id").split("|")) for e in evaluation
               if _text(e, "hist_item_id")]
    assert max(lengths) == spec.behaviour.max_length


def test_model_is_blessed_and_the_eval_has_history_length_slices(din_run):
    _, _, report = din_run
    assert report.blessed is True, report.format()
    assert report.pushed_model and os.path.isdir(report.pushed_model)
    assert report.overall["example_count"] >= 200
    buckets = {name for name, _ in report.slices if name.startswith("hist_length_bucket=")}
    assert buckets and buckets <= {"hist_length_bucket=0", "hist_length_bucket=1-4",
                                   "hist_length_bucket=5+"}, report.slices


def test_pushed_model_scores_raw_examples_with_history_strings(din_run):
    import tensorflow_transform as tft
    import tf_keras as keras
    from ctr_models.layers import custom_objects
    spec, paths, report = din_run
    serialized = _history_rows(paths)
    pushed = tf.saved_model.load(report.pushed_model)
    serve = pushed.signatures["serving_default"]
    served = serve(examples=tf.constant(serialized))["prediction"].numpy()
    transform_dir = sorted(glob.glob(os.path.join(paths.pipeline_root, "Transform",
                                                  "transform_graph", "*")))[-1]
    tft_output = tft.TFTransformOutput(transform_dir)
    trainer_model = keras.models.load_model(
        os.path.join(report.model_uri, "Format-Serving"), custom_objects=custom_objects)
    assert {i.name for i in trainer_model.inputs} == {"user_id", "item_id", "cate_id",
                                                      "hist_item_id", "hist_cate_id"}

    def trainer_scores(examples):
        """The reference: the Trainer's Keras model on Transform's output for the examples (a
        request has no label: parsed without it, as the serving signature does)."""
        raw_spec = {name: feature for name, feature in tft_output.raw_feature_spec().items()
                    if name not in {label.column for label in spec.labels}}
        features = tft_output.transform_features_layer()(tf.io.parse_example(examples, raw_spec))
        return trainer_model({i.name: features[i.name] for i in trainer_model.inputs}).numpy()

    np.testing.assert_allclose(served, trainer_scores(serialized), atol=SCORE_ATOL)

    # A client sends what it logged: raw candidate + history strings. The history changes the
    # score; no history at all is a valid (cold-start) request.
    def request(history_items, history_cates):
        example = tf.train.Example()
        f = example.features.feature
        for name, value in (("user_id", 7), ("item_id", 20), ("cate_id", 2)):
            f[name].int64_list.value.append(value)
        if history_items is not None:
            f["hist_item_id"].bytes_list.value.append(history_items.encode())
            f["hist_cate_id"].bytes_list.value.append(history_cates.encode())
        return example.SerializeToString()

    requests = [request("20|31|5", "2|2|2"), request("8|9", "5|6"), request(None, None)]
    scores = serve(examples=tf.constant(requests))["prediction"].numpy()[:, 0]
    assert np.all((scores > 0) & (scores < 1))
    # the raw strings are scored as the Trainer's model scores their Transform output
    np.testing.assert_allclose(scores, trainer_scores(requests)[:, 0], atol=SCORE_ATOL)
    # The history changes the score by more than the numerical noise of scoring (SCORE_ATOL): a
    # model that ignored the history would give the three requests one score. A few training
    # steps on 3k rows move scores little, hence a margin of a few tolerances, not a direction.
    assert abs(scores[0] - scores[1]) > HISTORY_MARGIN, scores
    assert abs(scores[0] - scores[2]) > HISTORY_MARGIN, scores
