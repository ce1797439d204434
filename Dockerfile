# The image every component of the compiled Kubeflow pipeline runs in (`python -m pipeline
# compile-kubeflow --image IMAGE`): the pinned stack and this project, so that the module paths in
# the spec (components.transform.preprocessing_fn, components.trainer.run_fn, the custom
# executors) import. Not built in CI. Build and push:
#
#     docker build -t REGISTRY/ctr-pipeline:TAG .
#     docker push REGISTRY/ctr-pipeline:TAG
#
# bookworm: glibc 2.36, the system the stack is verified on (README "Stack notes").
FROM python:3.11-slim-bookworm

# TF_USE_LEGACY_KERAS before TensorFlow is first imported in any process (TFX's container entry
# point imports TFX before the module code); PYTHONPATH makes the project importable from its
# source even where the editable install's path hooks are not consulted.
ENV TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/opt/ctr-pipeline

WORKDIR /opt/ctr-pipeline

# The stack first (its own layer: rebuilt only when the pins change), exactly as the Makefile
# installs it: every pinned package, resolved under constraints.txt. tfx 1.16 declares
# Requires-Python <3.11, hence --ignore-requires-python. The Makefile's NO_DEPS packages (deepctr,
# used only by the parity tests) are left out: their declared dependencies clash with the pins.
COPY constraints.txt ./
RUN pip install --upgrade pip \
 && pip install --ignore-requires-python -c constraints.txt \
        $(sed -n 's/^\([A-Za-z][A-Za-z0-9_.-]*\)[=<>].*/\1/p' constraints.txt | grep -vxF deepctr)

# The project without what .dockerignore leaves out (the venv, run roots, benchmarks/).
COPY . .
RUN pip install --ignore-requires-python --no-deps --no-build-isolation -e . \
 && python -c "import components.transform, components.trainer, components.schema, \
components.history, components.headerless_csv, pipeline.pipeline"

# Beam's SDK harness (same Beam version as constraints.txt), so that the same image is also the
# SDK worker image of Dataflow (--sdk_container_image=IMAGE), Flink and Spark
# (--environment_type=DOCKER --environment_config=IMAGE). Kubeflow gives every task its own
# command (TFX's kubeflow_v2_run_executor), which replaces this entry point; by hand:
#     docker run --rm --entrypoint python IMAGE -m pipeline --help
COPY --from=apache/beam_python3.11_sdk:2.61.0 /opt/apache/beam /opt/apache/beam
ENTRYPOINT ["/opt/apache/beam/boot"]
