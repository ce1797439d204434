"""Prometheus metrics of a model server (prometheus_client), in a registry of its own so that
several servers in one process (tests) do not collide. Served at GET /metrics and at TF Serving's
/monitoring/prometheus/metrics."""
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class ServingMetrics:
    def __init__(self, model_name: str):
        self.registry = CollectorRegistry()
        self.model_name = model_name
        self.requests = Counter("serving_requests", "Requests answered, by API, method and "
                                "status code", ["api", "method", "code"], registry=self.registry)
        self.errors = Counter("serving_request_errors", "Requests answered with an error",
                              ["api", "method", "code"], registry=self.registry)
        self.latency = Histogram("serving_request_latency_seconds", "Request latency in the "
                                 "server (body parsed to answer written)", ["api", "method"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.examples = Counter("serving_examples", "Examples scored", ["version"],
                                registry=self.registry)
        self.batch_size = Histogram("serving_batch_size", "Examples per signature call when "
                                    "batching", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512,
                                                         1024, 4096), registry=self.registry)
        self.loaded_versions = Gauge("serving_loaded_versions", "Versions loaded and served",
                                     ["model"], registry=self.registry)
        self.latest_version = Gauge("serving_latest_version", "The version answering "
                                    "unversioned requests", ["model"], registry=self.registry)

    def record(self, api: str, method: str, code: str, started: float):
        """One answered request (`started`: its time.perf_counter() on arrival)."""
        self.latency.labels(api, method).observe(time.perf_counter() - started)
        self.requests.labels(api, method, code).inc()
        if code not in ("OK", "200"):
            self.errors.labels(api, method, code).inc()

    def served_changed(self, served):
        self.loaded_versions.labels(self.model_name).set(len(served.versions))
        if served.versions:
            self.latest_version.labels(self.model_name).set(max(served.versions))
