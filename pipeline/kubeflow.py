"""`python -m pipeline compile-kubeflow`: the pipeline that `python -m pipeline run` runs, compiled
for Kubeflow Pipelines v2 (and Vertex AI Pipelines) by TFX's KubeflowV2DagRunner into one JSON
file (a `PipelineJob` whose `pipelineSpec` is KFP's PipelineSpec proto).

What differs from a local run, and why:
- Every component runs in a container of one image (`--image`, the spec's default image: the
  top-level Dockerfile builds it with the project installed, so `components.transform.
  preprocessing_fn`, `components.trainer.run_fn` and the custom executors import there).
- Paths are on object storage and are not read at compile time: the input pattern comes from
  `--input-pattern` or from the spec's format (`*.csv`, `*.tfrecord`), or from `--data` when it
  names a file; pushed models go under `<pipeline root>/serving` unless `--serving-dir` is given.
- ML-Metadata is the cluster's store: no metadata connection is compiled in (the local run's
  `metadata.sqlite` does not exist there).
- Pipeline names on Kubeflow are `[a-z0-9][a-z0-9-]*`: `ctr_criteo` becomes `ctr-criteo`.
- Beam options (`--beam-arg`) go to every component's container arguments, on top of the
  `--beam-mode` DirectRunner options (same precedence as `run`: `pipeline.combine_beam_args`).
No RuntimeParameter is used (reported to break V2 compilation, tensorflow/tfx#7733): every value
is a constant in the spec, so a new setting means compiling again."""
import dataclasses
import fnmatch
import logging
import os
import posixpath
import re
from typing import List, Optional, Tuple

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

DEFAULT_OUTPUT = "pipeline.json"


@dataclasses.dataclass
class ClusterPaths:
    """Where the pipeline writes on a cluster: artefacts under `pipeline_root`, pushed models
    under `serving_dir`. No `metadata_path`: the orchestrator's ML-Metadata store is used."""
    pipeline_root: str
    serving_dir: str
    metadata_path: Optional[str] = None


def kubeflow_pipeline_name(dataset_name: str) -> str:
    """`ctr-<dataset>` in the characters Kubeflow accepts ([a-z0-9][a-z0-9-]{0,127})."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"ctr-{dataset_name}".lower()).strip("-")
    return name[:128]


def _is_uri(path: str) -> bool:
    return "://" in path


def input_location(data: str, spec_format: str,
                   input_pattern: Optional[str] = None) -> Tuple[str, str]:
    """(input_base, file pattern) for ExampleGen without reading `data` (it lives on object
    storage): `data` names a file when its name matches the format's extensions, else a folder
    read with `input_pattern` or the format's first pattern (`*.csv`, `*.tfrecord`)."""
    from pipeline.run import DATA_EXTENSIONS
    if not _is_uri(data) and not os.path.isabs(data):
        raise SystemExit(f"--data {data}: give a URI (gs://..., s3://...) or an absolute path "
                         f"that the cluster's containers can read")
    data = data.rstrip("/")
    if input_pattern:
        return data, input_pattern
    name = posixpath.basename(data)
    if any(fnmatch.fnmatch(name, pattern) for pattern in DATA_EXTENSIONS[spec_format]):
        return posixpath.dirname(data), name
    return data, DATA_EXTENSIONS[spec_format][0]


def compile_kubeflow(dataset: str, data: str, pipeline_root: str, image: str, output: str,
                     training, beam_pipeline_args: Optional[List[str]] = None,
                     input_pattern: Optional[str] = None, serving_dir: Optional[str] = None,
                     enable_cache: bool = True) -> str:
    """Compiles `create_pipeline` for dataset spec `dataset` (name or YAML path) and
    `training` (a TrainingConfig) into `output`; returns the output path.

    `beam_pipeline_args` are passed as they are (combine them with `combine_beam_args` first)."""
    from components.dataset_spec import load_spec
    from ctr_models.models import get_model_fn
    from pipeline.pipeline import create_pipeline
    from tfx import v1 as tfx

    spec = load_spec(dataset)
    get_model_fn(training.model)  # an unknown model fails here, not in the cluster
    if not image or any(c.isspace() for c in image):
        raise SystemExit(f"--image {image!r}: give a container image name (REGISTRY/NAME:TAG)")
    input_base, pattern = input_location(data, spec.format, input_pattern)
    pipeline_root = pipeline_root.rstrip("/")
    paths = ClusterPaths(pipeline_root=pipeline_root,
                         serving_dir=serving_dir or posixpath.join(pipeline_root, "serving"))
    pipeline = create_pipeline(spec, input_base, paths, training, input_pattern=pattern,
                               enable_cache=enable_cache,
                               beam_pipeline_args=list(beam_pipeline_args or []),
                               pipeline_name=kubeflow_pipeline_name(spec.name))
    output = os.path.abspath(output)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=os.path.dirname(output), output_filename=os.path.basename(output))
    runner.run(pipeline)
    logging.info("Compiled %s (%s on %s/%s, image %s) into %s",
                 pipeline.pipeline_info.pipeline_name, training.model, input_base, pattern, image,
                 output)
    return output


def add_compile_args(parser):
    """The `compile-kubeflow` subcommand's arguments."""
    from pipeline.run import _beam_option
    parser.add_argument("--dataset", required=True,
                        help="dataset spec: a name under data/specs or a YAML path")
    parser.add_argument("--model", default="DeepFM", help="registered ctr_models model name")
    parser.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="model constructor argument (Python literal or string); repeatable")
    parser.add_argument("--image", required=True,
                        help="container image every component runs in (docker build -t IMAGE .)")
    parser.add_argument("--pipeline-root", required=True,
                        help="artefact root on storage the cluster reads/writes (gs://, s3://)")
    parser.add_argument("--data", required=True,
                        help="input folder or file (gs://..., s3://...); not read at compile time")
    parser.add_argument("--input-pattern",
                        help="file pattern under --data (default: from the spec's format, e.g. "
                             "*.csv)")
    parser.add_argument("--serving-dir",
                        help="where the Pusher writes models (default: <pipeline root>/serving)")
    parser.add_argument("--beam-arg", action="append", default=[], type=_beam_option,
                        metavar="--NAME=VALUE",
                        help="Beam option for every component (--beam-arg=--runner="
                             "DataflowRunner); repeatable; replaces --beam-mode options")
    parser.add_argument("--beam-mode", default="multi_processing",
                        choices=["in_memory", "multi_processing"],
                        help="DirectRunner mode inside the containers when no other --runner is "
                             "given (multi_processing: one worker per core of the pod)")
    parser.add_argument("--train-steps", type=int, default=1000)
    parser.add_argument("--eval-steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--strategy", default="default",
                        choices=["default", "mirrored", "multi_worker", "one_device"])
    parser.add_argument("--no-cache", action="store_true",
                        help="compile with caching off (every run re-runs every component)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT,
                        help=f"the compiled JSON file (default: {DEFAULT_OUTPUT})")


def compile_from_args(args) -> str:
    """`compile-kubeflow` from parsed arguments; returns the written file."""
    from components.model_builder import parse_model_args
    from pipeline.pipeline import TrainingConfig, beam_args, combine_beam_args
    training = TrainingConfig(model=args.model, model_args=parse_model_args(args.model_arg),
                              train_steps=args.train_steps, eval_steps=args.eval_steps,
                              batch_size=args.batch_size, learning_rate=args.learning_rate,
                              epochs=args.epochs, strategy=args.strategy)
    # --direct_num_workers=0: Beam's DirectRunner then uses every core of the container
    defaults = beam_args(args.beam_mode, workers=0)
    return compile_kubeflow(args.dataset, args.data, args.pipeline_root, args.image, args.output,
                            training, combine_beam_args(defaults, args.beam_arg),
                            input_pattern=args.input_pattern, serving_dir=args.serving_dir,
                            enable_cache=not args.no_cache)
