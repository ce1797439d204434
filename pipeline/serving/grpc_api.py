"""TF Serving's gRPC API (tensorflow_serving.apis): PredictionService.Predict and
GetModelMetadata, ModelService.GetModelStatus. Every answer names the model and the version that
answered (`model_spec`), as TF Serving's do. Classify, Regress and MultiInference stay
UNIMPLEMENTED (the signature is a predict signature)."""
import logging
import time

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2,
                                     model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc)

from components.raw_examples import SIGNATURE
from pipeline.serving.inputs import RequestError
from pipeline.serving.versions import ModelNotFound
from components.serving_warmup import EXAMPLES_INPUT

logger = logging.getLogger(__name__)


def requested_version(model_spec):
    """The version a ModelSpec asks for (None: the newest); version labels are not kept."""
    if model_spec.version_label:
        raise RequestError(f"version_label {model_spec.version_label!r}: this server has no "
                           f"version labels; ask for a version number or none")
    return model_spec.version.value if model_spec.HasField("version") else None


def fill_model_spec(target, served, name):
    target.name = name
    target.version.value = served.version
    target.signature_name = SIGNATURE


class Answering:
    """Maps the server's errors to gRPC status codes and records each call's metrics."""

    def __init__(self, method, context, metrics):
        self.method, self.context, self.metrics = method, context, metrics
        self.started = time.perf_counter()

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        if kind is None:
            self.metrics.record("grpc", self.method, "OK", self.started)
            return False
        codes = {RequestError: grpc.StatusCode.INVALID_ARGUMENT,
                 ModelNotFound: grpc.StatusCode.NOT_FOUND}
        code = next((c for cls, c in codes.items() if isinstance(error, cls)), None)
        if code is None:
            logger.error("%s failed", self.method, exc_info=(kind, error, trace))
            code = grpc.StatusCode.INTERNAL
        self.metrics.record("grpc", self.method, code.name, self.started)
        self.context.abort(code, str(error))  # raises: the call ends with this status


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, versions, metrics):
        self.versions, self.metrics = versions, metrics

    def Predict(self, request, context):
        with Answering("Predict", context, self.metrics):
            served = self.versions.resolve(request.model_spec.name,
                                           requested_version(request.model_spec))
            if request.model_spec.signature_name not in ("", SIGNATURE):
                raise RequestError(f"signature {request.model_spec.signature_name!r} not found; "
                                   f"the model serves {SIGNATURE!r}")
            unknown = sorted(set(request.inputs) - {EXAMPLES_INPUT})
            if unknown or EXAMPLES_INPUT not in request.inputs:
                raise RequestError(f"inputs {sorted(request.inputs)}: {SIGNATURE} takes one "
                                   f"input {EXAMPLES_INPUT!r} (DT_STRING serialized tf.Examples)")
            examples = served.encoder.from_tensor(request.inputs[EXAMPLES_INPUT])
            wanted = list(request.output_filter) or served.outputs
            unknown = sorted(set(wanted) - set(served.outputs))
            if unknown:
                raise RequestError(f"output_filter {unknown[0]!r}: the outputs are "
                                   f"{served.outputs}")
            outputs = served.submit(examples).result()
            self.metrics.examples.labels(str(served.version)).inc(len(examples))
            response = predict_pb2.PredictResponse()
            fill_model_spec(response.model_spec, served, self.versions.name)
            for name in wanted:
                response.outputs[name].CopyFrom(tf.make_tensor_proto(outputs[name]))
            return response

    def GetModelMetadata(self, request, context):
        with Answering("GetModelMetadata", context, self.metrics):
            served = self.versions.resolve(request.model_spec.name,
                                           requested_version(request.model_spec))
            if list(request.metadata_field) != ["signature_def"]:
                raise RequestError(f"metadata_field {list(request.metadata_field)}: only "
                                   f"['signature_def'] is supported (as in TF Serving)")
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            fill_model_spec(response.model_spec, served, self.versions.name)
            signatures = get_model_metadata_pb2.SignatureDefMap()
            for key, value in served.signature_defs.items():
                signatures.signature_def[key].CopyFrom(value)
            response.metadata["signature_def"].Pack(signatures)
            return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, versions, metrics):
        self.versions, self.metrics = versions, metrics

    def GetModelStatus(self, request, context):
        with Answering("GetModelStatus", context, self.metrics):
            version = requested_version(request.model_spec)
            if request.model_spec.name != self.versions.name:
                self.versions.resolve(request.model_spec.name)  # raises ModelNotFound
            rows = [row for row in self.versions.status() if version in (None, row[0])]
            if not rows:
                raise ModelNotFound(f"model {request.model_spec.name!r} version "
                                    f"{version if version is not None else ''}: not loaded")
            response = get_model_status_pb2.GetModelStatusResponse()
            for number, state, error in rows:
                status = response.model_version_status.add(
                    version=number, state=get_model_status_pb2.ModelVersionStatus.State.Value(
                        state))
                # tensorflow.error.Code: OK 0, UNKNOWN 2 (a refused version's load failure)
                status.status.error_code = 0 if not error else 2
                status.status.error_message = error
            return response


def add_services(server, versions, metrics):
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(versions, metrics), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelService(versions, metrics), server)
