"""Warm-up requests in TF Serving's format: `assets.extra/tf_serving_warmup_requests` in a
SavedModel, a TFRecord file of `PredictionLog` protos (each a PredictRequest). TF Serving replays
it when it loads a version, before the version takes traffic; so does `python -m pipeline serve`
(pipeline/serving/versions.py). The Pusher writes it into every version it publishes
(components/pusher.py); a version without it is warmed up with the requests built here from the
raw-data schema the Trainer exports."""
import logging
import os
from typing import List, Optional

from components.raw_examples import SIGNATURE, RowEncoder, load_raw_schema

logger = logging.getLogger(__name__)

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
EXAMPLES_INPUT = "examples"  # the serving signature's one input (components/trainer.py)
# TF Serving reads at most this many records of the file
MAX_WARMUP_RECORDS = 1000


def schema_warmup_examples(schema) -> List[bytes]:
    """Serialized tf.Examples for a warm-up: one with every feature missing and one with every
    feature set (0 for numbers, an unseen category for text), the two paths a request takes
    through parsing and the Transform graph."""
    from tensorflow_metadata.proto.v0 import schema_pb2
    encoder = RowEncoder(schema, "warm-up")
    typical = {schema_pb2.INT: "0", schema_pb2.FLOAT: "0"}
    full = {f.name: typical.get(f.type, "warm-up") for f in schema.feature}
    return [encoder.encode({}, 0), encoder.encode(full, 1)]


def warmup_records(examples: List[bytes], model_name: str = "") -> List[bytes]:
    """One serialized PredictionLog (a PredictRequest of `examples` to serving_default)."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = SIGNATURE
    request.inputs[EXAMPLES_INPUT].CopyFrom(tf.make_tensor_proto(examples, dtype=tf.string))
    log = prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request))
    return [log.SerializeToString()]


def write_warmup_requests(model_dir: str) -> str:
    """Writes `model_dir`/assets.extra/tf_serving_warmup_requests from the model's raw-data
    schema; returns its path."""
    import tensorflow as tf
    examples = schema_warmup_examples(load_raw_schema(model_dir))
    path = os.path.join(model_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for record in warmup_records(examples):
            writer.write(record)
    return path


def read_warmup_requests(model_dir: str) -> Optional[List[List[bytes]]]:
    """The serialized examples of each predict request in the version's warm-up file (None when
    it has none). A record that is not a predict request of serving_default's `examples` is an
    error: TF Serving refuses such a version too."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2
    path = os.path.join(model_dir, WARMUP_FILE)
    if not os.path.exists(path):
        return None
    requests = []
    for number, record in enumerate(tf.data.TFRecordDataset(path).take(MAX_WARMUP_RECORDS)):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        if (not log.HasField("predict_log") or EXAMPLES_INPUT not in request.inputs
                or request.model_spec.signature_name not in ("", SIGNATURE)):
            raise ValueError(f"{path} record {number}: not a predict request of {SIGNATURE}'s "
                             f"{EXAMPLES_INPUT!r} input")
        requests.append(list(tf.make_ndarray(request.inputs[EXAMPLES_INPUT]).ravel()))
    return requests
