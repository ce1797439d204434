"""`python -m pipeline serve`: the models the Pusher published, served over TF Serving's gRPC and
REST APIs (the pinned `tensorflow-serving-api` protos, TF Serving's JSON), so that a client
written for TF Serving works unchanged and a deployment can move to TF Serving or KServe.

- versions.py: the served versions: `serving/` polled as TF Serving's file-system source does;
  a new version is loaded, warmed up and swapped in atomically; a partial or corrupt one is
  refused and the others keep serving.
- batching.py: concurrent requests to one version share one signature call (bounded wait).
- inputs.py: request bodies -> serialized tf.Examples (raw feature dicts through
  components/raw_examples.py's RowEncoder, as `predict` encodes CSV rows, or serialized examples
  as TF Serving takes them).
- TF Serving's warm-up file (`assets.extra/tf_serving_warmup_requests`) is written by the Pusher
  and read here through components/serving_warmup.py.
- grpc_api.py, rest_api.py, metrics.py: the two front ends and their Prometheus metrics.
- server.py: the command: options, start-up, the ready line, shutdown on SIGTERM/SIGINT.
"""
