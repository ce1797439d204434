"""TF Serving's REST API on tornado:

- POST /v1/models/<name>[/versions/<v>]:predict with `{"instances": [...]}` (row format) or
  `{"inputs": ...}` (columnar); answers `{"predictions": ...}` / `{"outputs": ...}`, errors
  `{"error": "..."}` with 400 (bad input) or 404 (unknown model or version). The version that
  answered is in the `X-Model-Version` header (TF Serving's body has no place for it).
- GET /v1/models/<name>[/versions/<v>]: TF Serving's model status; GET .../metadata: the
  SignatureDefs.
- GET /healthz: 200 while a version is served, else 503. GET /metrics (and TF Serving's
  /monitoring/prometheus/metrics): Prometheus.

A body over `max_body_bytes` is refused with 400 (read, not kept); one over four times that is
cut off by tornado (the connection closes)."""
import asyncio
import json
import logging
import time

import tornado.web
from tornado import httputil
from google.protobuf import json_format
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from components.raw_examples import SIGNATURE
from pipeline.serving.inputs import RequestError, outputs_as_columns, outputs_as_rows
from pipeline.serving.versions import ModelNotFound

logger = logging.getLogger(__name__)

MODEL = r"/v1/models/([^/:]+)(?:/versions/(\d+))?"


class ServingHandler(tornado.web.RequestHandler):
    def initialize(self, versions, metrics, max_body_bytes=None):
        self.versions, self.metrics = versions, metrics
        self.max_body_bytes = max_body_bytes
        self.started = time.perf_counter()

    def answer(self, method, status, body, headers=None):
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            self.set_header(key, value)
        self.finish(json.dumps(body))
        self.metrics.record("rest", method, str(status), self.started)

    def fail(self, method, error):
        if isinstance(error, RequestError):
            return self.answer(method, 400, {"error": str(error)})
        if isinstance(error, ModelNotFound):
            return self.answer(method, 404, {"error": str(error)})
        logger.error("REST %s failed", method, exc_info=error)
        return self.answer(method, 500, {"error": f"{type(error).__name__}: {error}"})

    def write_error(self, status_code, **kwargs):  # tornado's own errors, in TF Serving's form
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": httputil.responses.get(status_code, "error")}))


@tornado.web.stream_request_body
class PredictHandler(ServingHandler):
    """A body over the limit is read to its end but not kept, then refused (closing the
    connection mid-body would leave the client without the answer)."""

    def prepare(self):
        self.chunks, self.size = [], 0
        length = self.request.headers.get("Content-Length", "")
        self.too_large = length.isdigit() and int(length) > self.max_body_bytes

    def data_received(self, chunk):
        self.size += len(chunk)
        self.too_large = self.too_large or self.size > self.max_body_bytes
        if not self.too_large:
            self.chunks.append(chunk)
        else:
            self.chunks = []

    async def post(self, name, version, verb):
        if self.too_large:
            return self.answer("predict", 400, {"error": f"body over {self.max_body_bytes} "
                                                         f"bytes; at most {self.max_body_bytes} "
                                                         f"bytes per request"})
        if verb != "predict":
            return self.answer(verb, 400, {"error": f":{verb} is not served; use :predict "
                                                    f"({SIGNATURE} is a predict signature)"})
        try:
            served = self.versions.resolve(name, int(version) if version else None)
            try:
                body = json.loads(b"".join(self.chunks))
            except ValueError as error:
                raise RequestError(f"the body is not JSON: {error}") from None
            if isinstance(body, dict) and body.get("signature_name", SIGNATURE) != SIGNATURE:
                raise RequestError(f"signature {body['signature_name']!r} not found; the model "
                                   f"serves {SIGNATURE!r}")
            examples = served.encoder.from_body(body)
            if served.batcher is not None:
                outputs = await asyncio.wrap_future(served.submit(examples))
            else:  # on a worker thread: the event loop keeps taking requests meanwhile
                outputs = await asyncio.get_running_loop().run_in_executor(None, served.run,
                                                                           examples)
        except Exception as error:  # noqa: BLE001 - every failure is an answer, never a crash
            return self.fail("predict", error)
        self.metrics.examples.labels(str(served.version)).inc(len(examples))
        answer = ({"predictions": outputs_as_rows(outputs)} if "instances" in body
                  else {"outputs": outputs_as_columns(outputs)})
        self.answer("predict", 200, answer, {"X-Model-Version": str(served.version)})


def version_status(versions, name, version):
    if name != versions.name:
        versions.resolve(name)  # raises ModelNotFound
    rows = [row for row in versions.status() if version in (None, row[0])]
    if not rows:
        raise ModelNotFound(f"model {name!r}" + (f" version {version}" if version else "") +
                            ": not loaded")
    return {"model_version_status": [
        {"version": str(number), "state": state,
         "status": {"error_code": "OK" if not error else "UNKNOWN", "error_message": error}}
        for number, state, error in rows]}


class StatusHandler(ServingHandler):
    def get(self, name, version, what):
        try:
            if what == "/metadata":
                served = self.versions.resolve(name, int(version) if version else None)
                signatures = {key: json_format.MessageToDict(value)
                              for key, value in served.signature_defs.items()}
                body = {"model_spec": {"name": self.versions.name,
                                       "signature_name": "", "version": str(served.version)},
                        "metadata": {"signature_def": {"signature_def": signatures}}}
            else:
                body = version_status(self.versions, name, int(version) if version else None)
        except Exception as error:  # noqa: BLE001
            return self.fail("status", error)
        self.answer("metadata" if what else "status", 200, body)


class HealthHandler(ServingHandler):
    def get(self):
        served = self.versions.served
        if served.versions:
            return self.answer("health", 200, {"status": "SERVING", "model": self.versions.name,
                                               "versions": sorted(served.versions)})
        self.answer("health", 503, {"status": "NOT_SERVING", "model": self.versions.name,
                                    "versions": []})


class MetricsHandler(tornado.web.RequestHandler):
    def initialize(self, metrics):
        self.metrics = metrics

    def get(self):
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(self.metrics.registry))


def make_app(versions, metrics, max_body_bytes):
    shared = {"versions": versions, "metrics": metrics}
    return tornado.web.Application([
        (MODEL + r":(\w+)", PredictHandler, dict(shared, max_body_bytes=max_body_bytes)),
        (MODEL + r"(/metadata)?", StatusHandler, shared),
        (r"/healthz", HealthHandler, shared),
        (r"/(?:metrics|monitoring/prometheus/metrics)", MetricsHandler, {"metrics": metrics}),
    ])
