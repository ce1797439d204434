"""The TFX pipeline: ExampleGen -> StatisticsGen -> SchemaGen -> CurateSchema -> ExampleValidator
(-> DriftCheck, for retrain) -> Transform -> Trainer -> (latest blessed model) -> Evaluator ->
Pusher, all driven by one dataset spec and one model config."""
import dataclasses
import json
import os
from typing import Dict, List, Optional

# Named modules, not `tfx.v1`: tfx.v1 also imports its Google Cloud extensions (google.cloud.aiplatform),
# ~6 s of every CLI command's start-up on 2 cores, for components this project never uses.
from tfx.components import ImportExampleGen, Pusher, SchemaGen, StatisticsGen, Trainer, Transform
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy)
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, trainer_pb2, transform_pb2
from tfx.types import standard_artifacts
from tfx.types.channel import Channel

from components.dataset_spec import (TEST_SPLIT, TRAIN_SPLIT, VALIDATION_SPLIT, DatasetSpec,
                                     spec_without_gates)
from components.evaluation import Evaluator, eval_config, slice_limits
from components.history import HistoryBuilder
from components import pusher as atomic_pusher
from components import validation
from components.drift import DriftCheck
from components.schema import CurateSchema
from components.splits import UNSPLIT, SplitByColumn

PREPROCESSING_FN = "components.transform.preprocessing_fn"
RUN_FN = "components.trainer.run_fn"


@dataclasses.dataclass
class RunPaths:
    """Everything one pipeline root holds: artefacts, the MLMD store and pushed models."""
    root: str

    @property
    def pipeline_root(self):
        return os.path.join(self.root, "pipeline_root")

    @property
    def metadata_path(self):
        return os.path.join(self.root, "metadata.sqlite")

    @property
    def serving_dir(self):
        return os.path.join(self.root, "serving")


@dataclasses.dataclass(frozen=True)
class DriftGate:
    """retrain's drift check (components/drift.py): `baseline`, the last trained span's
    statistics ({"uri", "run_id", "span"}, from ML-Metadata; None on a root's first run: skew
    only); `allow` (--allow-drift) records drift instead of stopping the run."""
    baseline: Optional[Dict] = None
    allow: bool = False


@dataclasses.dataclass
class TrainingConfig:
    model: str = "DeepFM"
    model_args: Dict = dataclasses.field(default_factory=dict)
    train_steps: int = 1000
    eval_steps: int = 100
    batch_size: int = 1024
    learning_rate: float = 1e-3
    epochs: int = 1
    strategy: str = "default"
    jit_compile: bool = False
    seed: int = 0
    # epochs > 1: stop when the validation AUC stops improving and keep the best epoch's weights
    early_stopping: bool = True
    # a ctr_models.optimizers name ('lazy_adam' updates only the embedding rows a batch read)
    optimizer: str = "adam"
    # keep the parsed training batches in memory after the first pass and replay them
    cache_input: bool = False
    # the previous model to initialise from (components/warm_start.py), or None: a fresh model
    warm_start: Optional[Dict] = None

    def custom_config(self, spec):
        config = {"spec": spec_without_gates(spec), "model": self.model,
                  "model_args": self.model_args,
                  "batch_size": self.batch_size, "learning_rate": self.learning_rate,
                  "epochs": self.epochs, "strategy": self.strategy,
                  "jit_compile": self.jit_compile, "seed": self.seed,
                  "early_stopping": self.early_stopping, "optimizer": self.optimizer,
                  "cache_input": self.cache_input, "code_version": code_version()}
        if self.warm_start:
            config["warm_start"] = self.warm_start
        return config


# Source files whose code runs inside each component (the cache key must change with them,
# because run_fn and preprocessing_fn are referenced by import path, not packaged).
TRANSFORM_SOURCES = ("components/transform.py", "components/dataset_spec.py", "ctr_models/hashing.py")
TRAINER_SOURCES = ("components", "ctr_models")
HISTORY_SOURCES = ("components/history.py", "components/dataset_spec.py")
SCHEMA_SOURCES = ("components/schema.py", "components/dataset_spec.py")
SPLIT_SOURCES = ("components/splits.py", "components/dataset_spec.py")
# The executors of ExampleGen, ExampleValidator, Evaluator and Pusher are classes of these
# modules; TFX's cache key holds an executor's class path, not its source, so each gets the
# fingerprint of its module as a parameter. None of them reads the dataset spec at run time
# (what they need of it is in their other parameters), so dataset_spec.py is not among them.
FAST_CSV_SOURCES = ("components/fast_csv.py", "components/shuffled_write.py")
HEADERLESS_CSV_SOURCES = ("components/headerless_csv.py", "components/fast_csv.py",
                          "components/shuffled_write.py")
PARQUET_SOURCES = ("components/parquet_input.py", "components/fast_csv.py",
                   "components/shuffled_write.py")
VALIDATION_SOURCES = ("components/validation.py",)
DRIFT_SOURCES = ("components/drift.py",)
EVALUATOR_SOURCES = ("components/evaluation.py",)
PUSHER_SOURCES = ("components/pusher.py",)


# The checkout whose sources `code_version` fingerprints (the folder holding components/).
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def code_version(sources=TRAINER_SOURCES):
    """Fingerprint of the Python sources under `sources` (files or folders, relative to
    SOURCE_ROOT)."""
    import hashlib
    here = SOURCE_ROOT
    files = []
    for source in sources:
        path = os.path.join(here, source)
        if os.path.isfile(path):
            files.append(path)
        for dirpath, _, names in os.walk(path):
            files += [os.path.join(dirpath, n) for n in names if n.endswith(".py")]
    digest = hashlib.sha256()
    for path in sorted(set(files)):
        with open(path, "rb") as f:
            digest.update(os.path.relpath(path, here).encode() + b"\0" + f.read())
    return digest.hexdigest()[:16]


def _custom_config_with_code_version(sources, config=None):
    """ExampleGen's `custom_config` (a Struct packed in an example_gen_pb2.CustomConfig, the
    executor's free-form configuration; FileBasedExampleGen has no other free parameter) with
    `code_version`, the fingerprint of `sources`, added to the Struct that `config` holds."""
    from google.protobuf import struct_pb2
    fields = struct_pb2.Struct()
    if config is not None:
        config.custom_config.Unpack(fields)
    fields.fields["code_version"].string_value = code_version(sources)
    with_version = example_gen_pb2.CustomConfig()
    with_version.custom_config.Pack(fields)
    return with_version


def split_file_patterns(spec: DatasetSpec, data_root: str, input_pattern: str):
    """((split, pattern relative to data_root), ...) when the input files decide the splits,
    else None: the spec's `split: {files: ...}`, or `train/`, `validation/` and `test/`
    sub-folders of the data folder (of each span's folder, for a span pattern such as
    `span-{SPAN}/*`). A split's pattern is put in the folder `input_pattern` names, so
    `span-{SPAN}/*` with `train/*` reads `span-{SPAN}/train/*`."""
    folder = os.path.dirname(input_pattern)
    if spec.split_order == "files":
        return tuple((name, os.path.join(folder, pattern)) for name, pattern in spec.split_files)
    from pipeline.spans import split_folders
    if any(c in input_pattern for c in "*?[") and split_folders(data_root, input_pattern):
        leaf = os.path.basename(input_pattern) or "*"
        return tuple((name, os.path.join(folder, name, leaf))
                     for name in (TRAIN_SPLIT, VALIDATION_SPLIT, TEST_SPLIT))
    return None


def example_gen_configs(spec: DatasetSpec, data_root: str, input_pattern: str):
    """(Input, Output) configs of ExampleGen for `spec` (see "Splits" in
    components/dataset_spec.py): input splits when files decide the splits (TFX's own
    mechanism: the output splits are the input splits); one UNSPLIT output split when a column
    decides (components/splits.py splits it); else a hash split of the whole row in the spec's
    shares."""
    patterns = split_file_patterns(spec, data_root, input_pattern)
    if patterns is not None:
        return (example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name=name, pattern=p)
                                              for name, p in patterns]),
                example_gen_pb2.Output())
    input_config = example_gen_pb2.Input(splits=[
        example_gen_pb2.Input.Split(name="single_split", pattern=input_pattern)])
    shares = ((UNSPLIT, 1),) if spec.split_by is not None else spec.split
    return input_config, example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
        splits=[example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
                for name, buckets in shares]))


def _example_gen(spec: DatasetSpec, data_root: str, input_pattern: str, span=None):
    """ExampleGen for the files under `data_root` matching `input_pattern`; with `span`, the
    pattern holds a TFX span spec ({SPAN} or {YYYY}-{MM}-{DD}) and exactly that span is read
    (its Examples artifact records the span number)."""
    input_config, output = example_gen_configs(spec, data_root, input_pattern)
    ranges = {}
    if span is not None:
        from pipeline.spans import range_config
        ranges = {"range_config": range_config(span)}
    if spec.format == "tfrecord":
        return ImportExampleGen(input_base=data_root, input_config=input_config,
                                               output_config=output, **ranges)
    from tfx.components.example_gen.component import FileBasedExampleGen
    if spec.format == "parquet":  # row groups spread over the workers, the CSV path's examples
        from components import parquet_input
        return FileBasedExampleGen(
            input_base=data_root, input_config=input_config, output_config=output,
            custom_config=_custom_config_with_code_version(
                PARQUET_SOURCES, parquet_input.custom_config(spec.columns, spec.raw_columns)),
            custom_executor_spec=parquet_input.EXECUTOR_SPEC,
            **ranges).with_id("ParquetExampleGen")
    if spec.columns is not None:  # no header line: column names from the spec
        from components import headerless_csv
        return FileBasedExampleGen(
            input_base=data_root, input_config=input_config, output_config=output,
            custom_config=_custom_config_with_code_version(
                HEADERLESS_CSV_SOURCES, headerless_csv.custom_config(list(spec.columns))),
            custom_executor_spec=headerless_csv.EXECUTOR_SPEC, **ranges).with_id("CsvExampleGen")
    # TFX's CsvExampleGen with an executor that writes the same examples into the same splits,
    # converting in C++ instead of cell by cell in Python (components/fast_csv.py)
    from components import fast_csv
    return FileBasedExampleGen(
        input_base=data_root, input_config=input_config, output_config=output,
        custom_config=_custom_config_with_code_version(FAST_CSV_SOURCES),
        custom_executor_spec=fast_csv.EXECUTOR_SPEC, **ranges).with_id("CsvExampleGen")


def default_pipeline_name(spec: DatasetSpec) -> str:
    """The pipeline's name in ML-Metadata when create_pipeline is given none."""
    return f"ctr_{spec.name}"


def create_pipeline(spec: DatasetSpec, data_root: str, paths: RunPaths,
                    training: TrainingConfig, input_pattern: str = "*",
                    enable_cache: bool = True,
                    beam_pipeline_args: Optional[List[str]] = None,
                    pipeline_name: Optional[str] = None,
                    metadata_connection_config=None,
                    spans: Optional[List[int]] = None,
                    confidence_intervals: bool = False,
                    allow_anomalies: bool = False,
                    drift_gate: Optional[DriftGate] = None) -> tfx_pipeline.Pipeline:
    """The whole pipeline for `spec` reading `data_root`, writing under `paths`.

    `spans` (with a span spec in `input_pattern`, see pipeline/spans.py): the spans to train on,
    oldest first. One span: one ExampleGen reading it. Several (a rolling window): one ExampleGen
    per span, with the span in its id so that a span already ingested by an earlier run is a
    cache hit; Transform and Trainer read the union of their outputs, while statistics,
    validation and evaluation look at the newest span only.

    ExampleValidator fails the run when the data has anomalies against the curated schema
    (components/validation.py), unless `allow_anomalies`. With `drift_gate` (retrain), a
    DriftCheck after StatisticsGen fails the run when the newest span drifted from the last
    trained one (components/drift.py), unless the gate allows it; Transform waits for it."""
    from pipeline.clone import pin_this_clone
    pin_this_clone()  # Beam workers and other processes the run starts import this clone
    window_gens = []
    if spans and len(spans) > 1:
        if spec.split_by is not None:
            raise ValueError(f"dataset {spec.name}: a window of several spans is not supported "
                             f"with a split by column (split it by hash or by files)")
        if spec.behaviour is not None:
            raise ValueError(f"dataset {spec.name}: a window of several spans is not supported "
                             f"for behaviour logs (histories are built per ExampleGen output)")
        window_gens = [_example_gen(spec, data_root, input_pattern, span=s) for s in spans]
        window_gens = [g.with_id(f"{g.id}_span{s}") for g, s in zip(window_gens, spans)]
        example_gen = window_gens[-1]
    else:
        example_gen = _example_gen(spec, data_root, input_pattern,
                                   span=spans[-1] if spans else None)
    examples = example_gen.outputs["examples"]
    column_split = None
    if spec.split_by is not None:  # ExampleGen wrote one split; a column decides the splits
        column_split = SplitByColumn(examples=examples, spec=spec,
                                     code_version=code_version(SPLIT_SOURCES))
        examples = column_split.outputs["split_examples"]
    history = None
    if spec.behaviour is not None:  # event log -> rows with behaviour sequences
        history = HistoryBuilder(log=examples, spec=spec,
                                 code_version=code_version(HISTORY_SOURCES))
        examples = history.outputs["examples"]
    statistics_gen = StatisticsGen(examples=examples)
    # The schema (types, presence) is inferred without the test split: nothing about the
    # model comes from the rows that judge it.
    schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"],
                           infer_feature_shape=True, exclude_splits=[TEST_SPLIT])
    curate_schema = CurateSchema(schema=schema_gen.outputs["schema"],
                                 spec_json=json.dumps(spec_without_gates(spec), sort_keys=True),
                                 code_version=code_version(SCHEMA_SOURCES))
    schema = curate_schema.outputs["curated_schema"]
    example_validator = validation.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema,
        code_version=code_version(VALIDATION_SOURCES))
    if not allow_anomalies:  # the data gate: anomalies fail the run here, before Transform
        example_validator.executor_spec = validation.EXECUTOR_SPEC
    if window_gens:
        from tfx.types import channel_utils
        train_examples = channel_utils.union([g.outputs["examples"] for g in window_gens])
    else:
        train_examples = examples
    transform = Transform(
        examples=train_examples, schema=schema,
        preprocessing_fn=PREPROCESSING_FN,
        # vocabularies and scaling from the train split only; the test split is not
        # transformed (the Evaluator scores raw examples through the model's own Transform)
        splits_config=transform_pb2.SplitsConfig(
            analyze=[TRAIN_SPLIT], transform=[TRAIN_SPLIT, VALIDATION_SPLIT]),
        custom_config={"spec": spec_without_gates(spec),
                       "code_version": code_version(TRANSFORM_SOURCES)},
        # TF1 graph tracing and SavedModel: Transform traces the preprocessing_fn several
        # times, and tf.function tracing plus the TF2 SavedModel write cost ~25 % of its CPU
        # time (100k rows: 82 -> 62 s CPU); the Trainer's transform layer and the exported
        # signatures load the TF1 graph alike. No analyzer cache: nothing feeds it back.
        force_tf_compat_v1=True, disable_analyzer_cache=True,
        disable_statistics=True)
    transform.add_upstream_node(example_validator)  # nothing is transformed before the gate
    drift_check = None
    if drift_gate is not None:
        drift_check = DriftCheck(statistics=statistics_gen.outputs["statistics"], spec=spec,
                                 baseline=drift_gate.baseline, allow_drift=drift_gate.allow,
                                 code_version=code_version(DRIFT_SOURCES))
        transform.add_upstream_node(drift_check)  # nor before the drift gate
    trainer = Trainer(
        run_fn=RUN_FN, examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"], schema=schema,
        # fitting on train; per-epoch metrics and early stopping on validation (not test)
        train_args=trainer_pb2.TrainArgs(splits=[TRAIN_SPLIT], num_steps=training.train_steps),
        eval_args=trainer_pb2.EvalArgs(splits=[VALIDATION_SPLIT], num_steps=training.eval_steps),
        custom_config=training.custom_config(spec))
    baseline = Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = Evaluator(
        examples=examples, model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        eval_config=eval_config(spec, confidence_intervals),
        slice_top_values=json.dumps(slice_limits(spec), sort_keys=True),
        code_version=code_version(EVALUATOR_SOURCES))
    pusher = Pusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=paths.serving_dir)),
        # Pusher's custom_config is free for its executor; ours reads none of it
        custom_config={"code_version": code_version(PUSHER_SOURCES)},
        custom_executor_spec=atomic_pusher.EXECUTOR_SPEC)  # atomic, collision-free versions
    # Paths without a local store (pipeline.kubeflow.ClusterPaths): the orchestrator's own.
    if metadata_connection_config is None and paths.metadata_path:
        metadata_connection_config = metadata.sqlite_metadata_connection_config(
            paths.metadata_path)
    return tfx_pipeline.Pipeline(
        pipeline_name=pipeline_name or default_pipeline_name(spec),
        pipeline_root=paths.pipeline_root,
        components=(window_gens or [example_gen]) + ([column_split] if column_split else [])
        + ([history] if history else []) + [
            statistics_gen, schema_gen, curate_schema, example_validator]
        + ([drift_check] if drift_check else [])
        + [transform, trainer, baseline, evaluator, pusher],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [])


def beam_args(mode: str = "in_memory", workers: int = 2) -> List[str]:
    """DirectRunner options: in_memory suits small data; multi_processing uses `workers` cores
    but every worker imports TensorFlow (tens of seconds of fixed cost per stage)."""
    if mode == "multi_processing":
        return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    if mode == "in_memory":
        return ["--direct_running_mode=in_memory"]
    if mode == "portable":  # its options name the running services' ports
        raise ValueError("beam mode portable: use pipeline.beam_services.portable_beam_services"
                         "(...).pipeline_args()")
    raise ValueError(f"beam mode must be in_memory or multi_processing, got {mode!r}")


def _option_name(arg: str) -> str:
    return arg.split("=", 1)[0]


def combine_beam_args(defaults: List[str], user_args: Optional[List[str]]) -> List[str]:
    """The Beam options every Beam-powered component gets: `defaults` (from `--beam-mode`) with
    the user's `--beam-arg`s applied on top. A user option replaces every default of the same
    name (the user's own repeated options, e.g. several `--experiments`, are all kept, in order);
    a user `--runner` other than the DirectRunner drops the DirectRunner-only `--direct_*`
    defaults, which mean nothing to another runner."""
    user_args = list(user_args or [])
    for arg in user_args:
        if not arg.startswith("--") or arg == "--":
            raise ValueError(f"--beam-arg {arg!r}: Beam options look like --name=value "
                             f"(write --beam-arg=--runner=DataflowRunner)")
    names = {_option_name(arg) for arg in user_args}
    runners = [arg.split("=", 1)[1] for arg in user_args
               if _option_name(arg) == "--runner" and "=" in arg]
    other_runner = bool(runners) and "direct" not in runners[-1].lower()
    kept = [arg for arg in defaults if _option_name(arg) not in names
            and not (other_runner and arg.startswith("--direct_"))]
    return kept + user_args
