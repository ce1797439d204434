"""`python -m pipeline serve`: TF Serving's gRPC (its own client stub) and REST APIs answer with
the pushed signature's own scores; a version pushed under load is swapped in with no failed
request; a corrupt version is refused while the old one serves; bad requests are 400 /
INVALID_ARGUMENT naming the feature; both servers bind loopback.

The served versions are tiny WDL models exported as components/trainer.py exports (its
make_signatures, feature_columns, build_model, the same save call and raw-data schema) and pushed
by components/pusher.py's push_atomically (warm-up file included). Only the Transform graph is a
stand-in (StandInTransform): a tf.Transform analysis would cost ~30 s, and the server never looks
inside the signature."""
import base64
import concurrent.futures
import ipaddress
import json
import os
import shutil
import signal
import threading
import time
import types
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2,
                                     model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc)

from ctr_models.tracing import skip_autograph_of_graph_safe_code
from components.dataset_spec import DatasetSpec
from components.model_builder import build_model, feature_columns, vocabulary_sizes
from components.raw_examples import RAW_SCHEMA_FILE
from components.trainer import make_signatures
from components.raw_examples import RowEncoder
from pipeline.serving.server import ModelServer, ServeOptions
from pipeline.serving.versions import ServingOptions, VersionSource
from components.serving_warmup import WARMUP_FILE, read_warmup_requests, schema_warmup_examples

NAME = "tiny"
SPEC = DatasetSpec.from_dict({
    "name": NAME, "labels": [{"name": "label", "column": "clicked", "task": "binary"}],
    "dense": [{"name": "I1", "fill_value": 0.0}], "sparse": ["C1", "C2"]})
RAW_TYPES = {"clicked": schema_pb2.INT, "I1": schema_pb2.FLOAT, "C1": schema_pb2.BYTES,
             "C2": schema_pb2.INT}
VOCABULARY = 16
# Scores are float32 from one graph on the same examples; batching changes only how many rows
# one call holds, which moves a row's score by float rounding at most.
TOLERANCE = 1e-6
ROWS = [{"I1": 0.5, "C1": "a", "C2": 3}, {"I1": 7, "C1": "never-seen"}, {"C2": 12},
        {"I1": None, "C1": "b", "C2": -4, "clicked": 1}, {}]


class StandInLayer(keras.layers.Layer):
    """Raw parsed features -> the model's inputs ([B, 1] each): I1 as is (missing 0), C1 and C2
    hashed to ids 1..VOCABULARY-1, the label (when parsed) as float."""

    def call(self, features):
        def first(sparse, default):
            dense = tf.sparse.to_dense(sparse, default_value=default)
            padding = tf.fill([tf.shape(dense)[0], 1], default)
            return tf.concat([dense, padding], axis=1)[:, :1]

        ids = {name: tf.strings.to_hash_bucket_fast(
            tf.strings.as_string(first(features[name], tf.constant(0, features[name].dtype)))
            if features[name].dtype != tf.string else first(features[name], ""),
            VOCABULARY - 1) + 1 for name in ("C1", "C2")}
        transformed = {"I1": first(features["I1"], 0.0), **ids}
        if "clicked" in features:  # transform_features (TFMA's signature) parses the label too
            transformed["label"] = tf.cast(first(features["clicked"], tf.constant(0, tf.int64)),
                                           tf.float32)
        return transformed


class StandInTransform:
    """What make_signatures and vocabulary_sizes read of a tft.TFTransformOutput."""

    def __init__(self):
        schema = schema_pb2.Schema()
        for name, kind in RAW_TYPES.items():
            schema.feature.add(name=name, type=kind)
        self.raw_metadata = types.SimpleNamespace(schema=schema)

    def raw_feature_spec(self):
        dtypes = {schema_pb2.INT: tf.int64, schema_pb2.FLOAT: tf.float32,
                  schema_pb2.BYTES: tf.string}
        return {name: tf.io.VarLenFeature(dtypes[kind]) for name, kind in RAW_TYPES.items()}

    def vocabulary_size_by_name(self, name):
        return VOCABULARY - 1 - len(SPEC.categorical())  # vocabulary_sizes adds padding + OOVs

    def transform_features_layer(self):
        return StandInLayer()


def export_model(path, seed):
    """A SavedModel as the Trainer's run_fn exports one (untrained: scores differ by seed)."""
    skip_autograph_of_graph_safe_code()  # as run_fn does
    keras.utils.set_random_seed(seed)
    tft_output = StandInTransform()
    linear, dnn = feature_columns(SPEC, vocabulary_sizes(SPEC, tft_output))
    model = build_model("WDL", SPEC, linear, dnn, {"dnn_hidden_units": (4,), "seed": seed})
    model.save(path, save_format="tf", signatures=make_signatures(model, tft_output, SPEC),
               save_traces=False)
    os.makedirs(os.path.join(path, "assets.extra"))
    with open(os.path.join(path, RAW_SCHEMA_FILE), "w") as f:
        f.write(str(tft_output.raw_metadata.schema))
    return path


def push(model_path, base):
    """The Pusher's local push (atomic rename, warm-up file) -> the version number."""
    from components.pusher import push_atomically
    version, _ = push_atomically(model_path, base)
    return int(version)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports")
    return [export_model(str(folder / f"model{seed}"), seed) for seed in (0, 1)]


def examples_of(rows):
    return [RowEncoder(StandInTransform().raw_metadata.schema, "test").encode(
        {k: "" if v is None else str(v) for k, v in row.items()}, i) for i, row in enumerate(rows)]


def signature_scores(model_path, rows):
    serve = tf.saved_model.load(model_path).signatures["serving_default"]
    return serve(examples=tf.constant(examples_of(rows)))["prediction"].numpy()


def start_server(base, max_body_bytes=2**20, **serving):
    options = ServeOptions(source=VersionSource(str(base)), model_name=NAME, rest_port=0,
                           grpc_port=0, serving=ServingOptions(poll_seconds=0.1, **serving),
                           max_body_bytes=max_body_bytes)
    return ModelServer(options).start()


@pytest.fixture(scope="module")
def served(exports, tmp_path_factory):
    """A server over one pushed version (read-only tests share it)."""
    base = tmp_path_factory.mktemp("serving")
    version = push(exports[0], str(base))
    server = start_server(base, max_instances=8, max_body_bytes=2**16)
    yield server, version
    server.stop()


def rest(server, path, body=None, method=None):
    """(status, headers, parsed JSON body) of a REST call."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.rest_address + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


def predict_request(rows, version=None):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = NAME
    if version is not None:
        request.model_spec.version.value = version
    request.inputs["examples"].CopyFrom(tf.make_tensor_proto(examples_of(rows), dtype=tf.string))
    return request


def test_grpc_answers_with_the_signature_scores_through_tf_servings_stub(served, exports):
    server, version = served
    expected = signature_scores(exports[0], ROWS)
    with grpc.insecure_channel(server.grpc_address) as channel:
        predictions = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        answer = predictions.Predict(predict_request(ROWS), timeout=30)
        assert (answer.model_spec.name, answer.model_spec.version.value) == (NAME, version)
        assert answer.model_spec.signature_name == "serving_default"
        np.testing.assert_allclose(tf.make_ndarray(answer.outputs["prediction"]), expected,
                                   rtol=0, atol=TOLERANCE)
        again = predictions.Predict(predict_request(ROWS[:2], version=version), timeout=30)
        np.testing.assert_allclose(tf.make_ndarray(again.outputs["prediction"]), expected[:2],
                                   rtol=0, atol=TOLERANCE)

        metadata_request = get_model_metadata_pb2.GetModelMetadataRequest(
            metadata_field=["signature_def"])
        metadata_request.model_spec.name = NAME
        metadata = predictions.GetModelMetadata(metadata_request, timeout=30)
        assert metadata.model_spec.version.value == version
        signatures = get_model_metadata_pb2.SignatureDefMap()
        metadata.metadata["signature_def"].Unpack(signatures)
        serving = signatures.signature_def["serving_default"]
        assert list(serving.inputs) == ["examples"] and list(serving.outputs) == ["prediction"]

        status_request = get_model_status_pb2.GetModelStatusRequest()
        status_request.model_spec.name = NAME
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            status_request, timeout=30)
        assert [(s.version, s.state) for s in status.model_version_status] == [
            (version, get_model_status_pb2.ModelVersionStatus.AVAILABLE)]

        missing = predict_request(ROWS, version=version + 1)
        with pytest.raises(grpc.RpcError) as error:
            predictions.Predict(missing, timeout=30)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        assert f"version {version + 1}" in error.value.details()


def test_rest_row_and_columnar_formats_answer_with_the_signature_scores(served, exports):
    server, version = served
    expected = signature_scores(exports[0], ROWS)
    status, headers, body = rest(server, f"/v1/models/{NAME}:predict", {"instances": ROWS})
    assert status == 200 and headers["X-Model-Version"] == str(version)
    np.testing.assert_allclose(body["predictions"], expected, rtol=0, atol=TOLERANCE)

    serialized = [{"b64": base64.b64encode(e).decode()} for e in examples_of(ROWS)]
    _, _, body = rest(server, f"/v1/models/{NAME}/versions/{version}:predict",
                      {"signature_name": "serving_default", "instances": serialized})
    np.testing.assert_allclose(body["predictions"], expected, rtol=0, atol=TOLERANCE)

    columns = {name: [row.get(name) for row in ROWS] for name in ("I1", "C1", "C2")}
    status, _, body = rest(server, f"/v1/models/{NAME}:predict", {"inputs": columns})
    assert status == 200
    np.testing.assert_allclose(body["outputs"], expected, rtol=0, atol=TOLERANCE)

    assert rest(server, f"/v1/models/{NAME}")[2] == {"model_version_status": [
        {"version": str(version), "state": "AVAILABLE",
         "status": {"error_code": "OK", "error_message": ""}}]}
    signatures = rest(server, f"/v1/models/{NAME}/metadata")[2]["metadata"]["signature_def"]
    assert signatures["signature_def"]["serving_default"]["inputs"]["examples"]["dtype"] == \
        "DT_STRING"
    assert rest(server, "/healthz")[:1] == (200,)
    with urllib.request.urlopen(server.rest_address + "/metrics", timeout=30) as answer:
        metrics = answer.read().decode()
    assert 'serving_requests_total{api="rest",code="200",method="predict"} 3.0' in metrics
    assert f'serving_loaded_versions{{model="{NAME}"}} 1.0' in metrics
    assert "serving_request_latency_seconds_bucket" in metrics


@pytest.mark.parametrize("body, message", [
    ({"instances": [{"I1": "abc"}]}, "instances[0], feature I1: 'abc' is not a number"),
    ({"instances": [{"C1": "a"}, {"C2": 1.5}]}, "instances[1], feature C2: '1.5' is not an "
                                                "integer"),
    ({"instances": [{"I2": 1}]}, "instances[0]: unknown feature 'I2'"),
    ({"instances": [{"C1": ["a", "b"]}]}, "feature C1: ['a', 'b'] is not a single number"),
    ({"instances": [{}] * 9}, "9 instances; at most 8 per request"),
    ({"inputs": {"I1": [1, 2], "C1": ["a"]}}, "the columns differ in length"),
    ({"instances": [{"b64": base64.b64encode(b"\xff\x00junk").decode()}]},
     "instances[0]: not a serialized tf.Example"),
    ({"rows": []}, "exactly one of 'instances'"),
    (b"{not json", "the body is not JSON"),
])
def test_bad_rest_requests_are_400_naming_the_feature_and_value(served, body, message):
    server, _ = served
    status, _, answer = rest(server, f"/v1/models/{NAME}:predict", body)
    assert status == 400 and message in answer["error"], answer
    assert rest(server, f"/v1/models/{NAME}:predict", {"instances": ROWS[:1]})[0] == 200


def test_unknown_model_body_over_the_limit_and_bad_grpc_input_are_refused(served):
    server, _ = served
    status, _, answer = rest(server, "/v1/models/other:predict", {"instances": ROWS})
    assert status == 404 and "'other'" in answer["error"]
    big = json.dumps({"instances": [{"C1": "x" * 1000}] * (server.options.max_body_bytes // 1000)})
    status, _, answer = rest(server, f"/v1/models/{NAME}:predict", big.encode())
    assert status == 400 and "bytes per request" in answer["error"]
    request = predict_pb2.PredictRequest()
    request.model_spec.name = NAME
    wrong = tf.train.Example(features=tf.train.Features(feature={
        "I1": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"abc"]))}))
    request.inputs["examples"].CopyFrom(tf.make_tensor_proto([wrong.SerializeToString()]))
    with grpc.insecure_channel(server.grpc_address) as channel:
        with pytest.raises(grpc.RpcError) as error:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "feature I1: a bytes_list; the model reads it as a float_list" in error.value.details()


def listening_addresses(port):
    """The local addresses of the sockets listening on `port`, read from /proc/net/tcp* (each
    32-bit word of an address in host byte order, little-endian here); an IPv4-mapped IPv6
    address is given as its IPv4 address."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                hex_address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    raw = bytes.fromhex(hex_address)
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                    address = ipaddress.ip_address(words)
                    found.append(str(getattr(address, "ipv4_mapped", None) or address))
    return found


def test_both_servers_bind_loopback_only(served):
    server, _ = served
    # (gRPC listens on an IPv6 socket bound to ::ffff:127.0.0.1: loopback only as well)
    assert listening_addresses(server.rest_port) == ["127.0.0.1"]
    assert listening_addresses(server.grpc_port) == ["127.0.0.1"]


def test_pushed_versions_carry_tf_servings_warmup_file(served, exports):
    server, version = served
    path = os.path.join(server.options.source.base, str(version))
    schema = StandInTransform().raw_metadata.schema
    assert read_warmup_requests(path) == [schema_warmup_examples(schema)]
    assert os.path.exists(os.path.join(path, WARMUP_FILE))


def test_a_version_pushed_under_load_is_swapped_in_with_no_failed_request(exports, tmp_path):
    base = str(tmp_path / "serving")
    first = push(exports[0], base)
    server = start_server(base)
    answered, failures, stop = [], [], threading.Event()
    grpc_channel = grpc.insecure_channel(server.grpc_address)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc_channel)

    def client(use_grpc):
        while not stop.is_set():
            try:
                if use_grpc:
                    answer = stub.Predict(predict_request(ROWS), timeout=30)
                    version = answer.model_spec.version.value
                    scores = tf.make_ndarray(answer.outputs["prediction"])
                else:
                    status, headers, body = rest(server, f"/v1/models/{NAME}:predict",
                                                 {"instances": ROWS})
                    assert status == 200, body
                    version, scores = int(headers["X-Model-Version"]), body["predictions"]
                answered.append((time.monotonic(), version, np.asarray(scores)))
            except Exception as error:  # noqa: BLE001 - every failure is counted
                failures.append(repr(error))

    try:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            clients = [pool.submit(client, use_grpc) for use_grpc in (True, False, True, False)]
            time.sleep(1.0)
            second = push(exports[1], base)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(v == second for _, v, _ in answered):
                time.sleep(0.05)
            time.sleep(0.5)  # more load on the new version
            stop.set()
            for done in clients:
                done.result()
        assert failures == []
        versions = [v for _, v, _ in sorted(answered, key=lambda a: a[0])]
        switch = versions.index(second)
        assert first in versions[:switch] and set(versions[:switch]) == {first}
        # a request may have chosen the old version just before the swap and answer just after
        assert versions[-1] == second
        expected = {first: signature_scores(exports[0], ROWS),
                    second: signature_scores(exports[1], ROWS)}
        assert np.abs(expected[first] - expected[second]).max() > 1e-3  # the two differ
        for _, version, scores in answered:
            np.testing.assert_allclose(scores, expected[version], rtol=0, atol=TOLERANCE)
        # both versions stay addressable (keep_versions=2)
        old = stub.Predict(predict_request(ROWS, version=first), timeout=30)
        assert old.model_spec.version.value == first
    finally:
        grpc_channel.close()
        server.stop()


def test_a_corrupt_or_partial_version_is_refused_while_the_old_one_serves(exports, tmp_path,
                                                                           caplog):
    base = str(tmp_path / "serving")
    good = push(exports[0], base)
    server = start_server(base, batch_wait_ms=0)  # and the path without batching
    try:
        corrupt = os.path.join(base, str(good + 1))
        shutil.copytree(exports[1], corrupt)
        with open(os.path.join(corrupt, "saved_model.pb"), "r+b") as f:
            f.truncate(100)
        partial = os.path.join(base, str(good + 2))
        shutil.copytree(os.path.join(exports[1], "variables"), os.path.join(partial, "variables"))
        with caplog.at_level("ERROR", logger="pipeline.serving"):
            server.versions.poll()
        refused = [r.getMessage() for r in caplog.records if "refusing version" in r.getMessage()]
        assert any(f"refusing version {good + 1}" in m and "does not load" in m
                   and f"still serving [{good}]" in m for m in refused), refused
        assert any(f"refusing version {good + 2}" in m and "no saved_model.pb" in m
                   for m in refused), refused
        status, headers, _ = rest(server, f"/v1/models/{NAME}:predict", {"instances": ROWS})
        assert (status, headers["X-Model-Version"]) == (200, str(good))
        states = {s["version"]: s["state"]
                  for s in rest(server, f"/v1/models/{NAME}")[2]["model_version_status"]}
        assert states == {str(good): "AVAILABLE", str(good + 1): "END", str(good + 2): "END"}
    finally:
        server.stop()


def test_under_a_run_root_only_recorded_pushes_are_served(tmp_path, monkeypatch):
    from pipeline.serving import versions
    for name in ("7", "8", "9", ".incoming-x"):
        os.makedirs(tmp_path / "serving" / name)
    monkeypatch.setattr(versions, "recorded_push_versions", lambda root: {"7", "8"})
    source = VersionSource(str(tmp_path / "serving"), run_root=str(tmp_path))
    assert source.candidates() == ([8, 7], [9])
    monkeypatch.setattr(versions, "recorded_push_versions", lambda root: None)
    assert source.candidates() == ([9, 8, 7], [])


class ReadyLines:
    """The command's `out`: keeps what is written; on the first line, checks the server it
    names from another thread, then sends this process SIGTERM (as a supervisor would)."""

    def __init__(self):
        self.text, self.health, self.errors = "", None, []

    def write(self, text):
        self.text += text
        threading.Thread(target=self.check_then_terminate, args=(text,)).start()

    def flush(self):
        pass

    def check_then_terminate(self, line):
        try:
            health = line.split("REST ")[1].split("/v1/")[0] + "/healthz"
            with urllib.request.urlopen(health, timeout=30) as answer:
                self.health = json.loads(answer.read())
        except Exception as error:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(error))
        finally:
            os.kill(os.getpid(), signal.SIGTERM)


def test_command_prints_one_ready_line_and_stops_cleanly_on_sigterm(served):
    """`python -m pipeline serve`'s parser, options and serve loop, in this process (a
    subprocess would import TensorFlow again, ~10 s)."""
    from pipeline.cli import build_parser
    from pipeline.serving.server import serve_from_args
    server, version = served
    args = build_parser().parse_args(["serve", "--model-dir", server.options.source.base,
                                      "--rest-port", "0", "--grpc-port", "0"])
    assert args.host == "127.0.0.1"
    out = ReadyLines()
    before = signal.getsignal(signal.SIGTERM)
    assert serve_from_args(args, out) == 0
    base_name = os.path.basename(server.options.source.base)
    assert out.text.startswith(f"Serving model '{base_name}' (version {version}): REST "
                               f"http://127.0.0.1:"), out.text
    assert out.text.count("\n") == 1 and "gRPC 127.0.0.1:" in out.text
    assert out.errors == [] and out.health["versions"] == [version]
    assert signal.getsignal(signal.SIGTERM) is before  # the test process's handler is back


def test_batcher_merges_concurrent_requests_and_fails_only_the_bad_one():
    from pipeline.serving.batching import Batcher
    calls, started, release = [], threading.Event(), threading.Event()

    def run(examples):
        calls.append(list(examples))
        if examples == [b"first"]:
            started.set()
            release.wait(10)  # holds the batcher so that the next requests queue up together
        if b"bad" in examples:
            raise ValueError("bad example")
        return {"double": np.array([[len(e) * 2.0] for e in examples])}

    batcher = Batcher(run, max_batch=4, max_wait_s=0.05)
    try:
        first = batcher.submit([b"first"])
        assert started.wait(10)
        queued = [batcher.submit(e) for e in ([b"a"], [b"bad"], [b"ccc", b"dd"], [b"eeeee"])]
        release.set()
        assert first.result(10)["double"].tolist() == [[10.0]]
        assert queued[0].result(10)["double"].tolist() == [[2.0]]
        with pytest.raises(ValueError, match="bad example"):
            queued[1].result(10)
        assert queued[2].result(10)["double"].tolist() == [[6.0], [4.0]]
        assert queued[3].result(10)["double"].tolist() == [[10.0]]
        # a, bad, ccc+dd fill the cap of 4 in one call; it fails, so each is retried alone
        assert calls == [[b"first"], [b"a", b"bad", b"ccc", b"dd"], [b"a"], [b"bad"],
                         [b"ccc", b"dd"], [b"eeeee"]]
    finally:
        batcher.close()
    assert batcher.submit([b"late"]).result(10)["double"].tolist() == [[8.0]]  # closed: inline


def test_a_root_that_is_not_a_folder_is_refused_in_one_line(tmp_path):
    from pipeline.cli import build_parser
    from pipeline.serving.server import serve_options
    args = build_parser().parse_args(["serve", "--root", str(tmp_path / "missing")])
    with pytest.raises(SystemExit) as stop:
        serve_options(args)
    assert stop.value.code == f"--root {tmp_path / 'missing'}: no such folder"
