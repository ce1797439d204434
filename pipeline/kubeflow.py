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
- The model and training options are `run`'s (pipeline.options.add_training_args), resolved the
  same way (pipeline.run.resolve_training). Batch size, epochs and steps not given are chosen from
  the input's size, which `run` counts and this command cannot (the input is not read): it takes
  the row count from `--examples`, and without it needs --batch-size and --train-steps.
No RuntimeParameter is used (reported to break V2 compilation, tensorflow/tfx#7733): every value
is a constant in the spec, so a new setting means compiling again."""
import dataclasses
import fnmatch
import logging
import os
import posixpath
import re
from typing import Optional, Tuple

from pipeline.options import (BeamOptions, TrainingOptions, add_beam_args, add_training_args,
                              beam_options, training_options)

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


@dataclasses.dataclass(frozen=True)
class CompileOptions:
    """`compile-kubeflow`: what to compile, where it runs, and the run's training options."""
    dataset: str
    data: str
    pipeline_root: str
    image: str
    output: str = DEFAULT_OUTPUT
    input_pattern: Optional[str] = None
    serving_dir: Optional[str] = None
    enable_cache: bool = True
    examples: Optional[int] = None  # rows of the input, for the data-based training defaults
    training: TrainingOptions = dataclasses.field(default_factory=TrainingOptions)
    beam: BeamOptions = dataclasses.field(default_factory=lambda: BeamOptions(
        mode="multi_processing"))


def compiled_training(options: CompileOptions, spec):
    """The TrainingConfig compiled in: `options.training` resolved as `run` resolves it, on the
    `--examples` rows (the input is on object storage and not read)."""
    from pipeline.run import resolve_training
    if options.examples is None and options.training.needs_data_size:
        raise SystemExit("compile-kubeflow does not read --data, so it cannot choose the batch "
                         "size and steps from the data's size as `run` does: give --examples N "
                         "(the input's rows), or --batch-size and --train-steps")
    return resolve_training(options.training, spec, options.examples or 0)


def compile_kubeflow(options: CompileOptions) -> str:
    """Compiles `create_pipeline` for `options` into `options.output`; returns the output path.
    The Beam options are `--beam-mode`'s DirectRunner options (every core of the container) with
    the user's `--beam-arg`s on top (`combine_beam_args`)."""
    from components.dataset_spec import load_spec
    from ctr_models.models import get_model_fn
    from pipeline.pipeline import beam_args, combine_beam_args, create_pipeline
    from tfx import v1 as tfx

    spec = load_spec(options.dataset)
    get_model_fn(options.training.model)  # an unknown model fails here, not in the cluster
    image = options.image
    if not image or any(c.isspace() for c in image):
        raise SystemExit(f"--image {image!r}: give a container image name (REGISTRY/NAME:TAG)")
    input_base, pattern = input_location(options.data, spec.format, options.input_pattern)
    schedule, training = compiled_training(options, spec)
    if schedule.chosen:
        logging.info("%s", schedule.describe())
    pipeline_root = options.pipeline_root.rstrip("/")
    paths = ClusterPaths(pipeline_root=pipeline_root,
                         serving_dir=options.serving_dir or posixpath.join(pipeline_root,
                                                                           "serving"))
    # --direct_num_workers=0: Beam's DirectRunner then uses every core of the container
    defaults = beam_args(options.beam.mode, workers=0)
    pipeline = create_pipeline(spec, input_base, paths, training, input_pattern=pattern,
                               enable_cache=options.enable_cache,
                               beam_pipeline_args=combine_beam_args(defaults, options.beam.args),
                               pipeline_name=kubeflow_pipeline_name(spec.name))
    output = os.path.abspath(options.output)
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
    """The `compile-kubeflow` subcommand's arguments: the cluster's, and `run`'s model and
    training options."""
    parser.add_argument("--dataset", required=True,
                        help="dataset spec: a name under data/specs or a YAML path")
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
    parser.add_argument("--examples", type=int, metavar="N",
                        help="rows of the input: --data is not read at compile time, so the "
                             "batch size, epochs and steps not given are chosen from N as `run` "
                             "chooses them from the files it counts. Without it, give "
                             "--batch-size and --train-steps (else the command stops with an "
                             "error)")
    add_training_args(parser, data_size_from="--examples, the input's rows")
    add_beam_args(parser, modes=("in_memory", "multi_processing"), default="multi_processing",
                  mode_help="DirectRunner mode inside the containers when no other --runner is "
                            "given (multi_processing: one worker per core of the pod)")
    parser.add_argument("--no-cache", action="store_true",
                        help="compile with caching off (every run re-runs every component)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT,
                        help=f"the compiled JSON file (default: {DEFAULT_OUTPUT})")


def compile_options(args) -> CompileOptions:
    """The parsed `compile-kubeflow` arguments."""
    return CompileOptions(dataset=args.dataset, data=args.data,
                          pipeline_root=args.pipeline_root, image=args.image, output=args.output,
                          input_pattern=args.input_pattern, serving_dir=args.serving_dir,
                          enable_cache=not args.no_cache, examples=args.examples,
                          training=training_options(args), beam=beam_options(args))
