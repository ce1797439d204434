"""Training and scoring on a pipeline run's own artefacts without another pipeline run: the
Trainer's run_fn on a root's newest Transform output, and the AUC of a SavedModel's serving
signature on a raw test split (what the Evaluator scores)."""
import glob
import json
import os

import numpy as np
import tensorflow as tf


def newest_artifact(pipeline_root, component, output):
    """The newest artefact folder of a component output (folders are named by execution id)."""
    folders = glob.glob(os.path.join(pipeline_root, component, output, "*"))
    return max(folders, key=lambda f: int(os.path.basename(f)))


def run_fn_on_transform(spec, pipeline_root, out_dir, training, train_steps, eval_steps=1):
    """components.trainer.run_fn on the root's newest Transform output -> its training summary;
    the SavedModel goes to out_dir/serving."""
    from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
    from tfx.components.util import tfxio_utils
    from tfx.types import standard_artifacts
    from components.trainer import run_fn
    transformed = newest_artifact(pipeline_root, "Transform", "transformed_examples")
    examples = standard_artifacts.Examples()
    examples.uri = transformed
    examples.split_names = '["train", "validation"]'
    accessor = DataAccessor(
        tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact([examples], []),
        record_batch_factory=None, data_view_decode_fn=None)
    fn_args = FnArgs(
        train_files=[os.path.join(transformed, "Split-train", "*")],
        eval_files=[os.path.join(transformed, "Split-validation", "*")], train_steps=train_steps,
        eval_steps=eval_steps,
        transform_graph_path=newest_artifact(pipeline_root, "Transform", "transform_graph"),
        serving_model_dir=str(out_dir / "serving"), model_run_dir=str(out_dir / "run"),
        data_accessor=accessor, custom_config=training.custom_config(spec))
    run_fn(fn_args)
    with open(out_dir / "run" / "training_summary.json") as f:
        return json.load(f)


def serving_auc(model_dir, raw_examples_uri, label="label"):
    """(AUC, rows) of a SavedModel's serving signature on a raw Examples artefact's test split
    (the Evaluator's)."""
    from sklearn.metrics import roc_auc_score
    files = glob.glob(os.path.join(raw_examples_uri, "Split-test", "*"))
    serialized = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    labels = [tf.train.Example.FromString(s).features.feature[label].int64_list.value[0]
              for s in serialized]
    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    scores = np.concatenate([serve(examples=tf.constant(serialized[i:i + 2048]))["prediction"]
                             .numpy().ravel() for i in range(0, len(serialized), 2048)])
    return roc_auc_score(labels, scores), len(labels)


def transform_rows(spec, raw_feature_spec, rows, tmp_path_factory):
    """The project's preprocessing_fn analysed and applied in memory (tf.Transform's Beam
    implementation) -> (transformed rows, TFTransformOutput of the written transform graph)."""
    import functools
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils
    from components.transform import preprocessing_fn
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(raw_feature_spec))
    fn = functools.partial(preprocessing_fn, custom_config={"spec": spec.to_dict()})
    out_dir = str(tmp_path_factory.mktemp("tft"))
    # TF1 tracing, as the pipeline's Transform (pipeline.py: force_tf_compat_v1=True)
    with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tmp")), force_tf_compat_v1=True):
        (data, _), transform_fn = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
    return data, tft.TFTransformOutput(out_dir)


def raw_request_rows(serialized, model_dir, labels):
    """Serialized tf.Examples -> the raw feature dicts a client would send to `serve`'s REST API
    (`instances`): the features of the model's raw-data schema but the label columns, with their
    values as JSON takes them (one value as itself, several as a list; bytes as text)."""
    from components.raw_examples import load_raw_schema
    wanted = {f.name for f in load_raw_schema(model_dir).feature} - set(labels)
    rows = []
    for record in serialized:
        row = {}
        for name, feature in tf.train.Example.FromString(record).features.feature.items():
            if name not in wanted:
                continue
            kind = feature.WhichOneof("kind")
            values = list(getattr(feature, kind).value) if kind else []
            if kind == "bytes_list":
                values = [v.decode("utf-8") for v in values]
            if values:
                row[name] = values[0] if len(values) == 1 else values
        rows.append(row)
    return rows


def served_predictions(serving_dir, model_name, instances):
    """`python -m pipeline serve`'s server (in this process, free loopback ports) over the
    version folders in `serving_dir` -> its REST answer to `{"instances": instances}` (the
    answering version from the X-Model-Version header, the parsed predictions)."""
    import urllib.request
    from pipeline.serving.server import ModelServer, ServeOptions
    from pipeline.serving.versions import VersionSource
    server = ModelServer(ServeOptions(source=VersionSource(serving_dir), model_name=model_name,
                                      rest_port=0, grpc_port=0)).start()
    try:
        request = urllib.request.Request(
            f"{server.rest_address}/v1/models/{model_name}:predict",
            data=json.dumps({"instances": instances}).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.headers["X-Model-Version"], json.loads(answer.read())["predictions"]
    finally:
        server.stop()
