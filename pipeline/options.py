"""The options of the commands that build the pipeline (`run`, `demo`, `compare`, `retrain`,
`compile-kubeflow`), declared once here and parsed once into frozen dataclasses.

The command layer (pipeline/cli.py and each command's `*_options(args)`) is the only code that
reads an argparse Namespace; every function below it takes `RunOptions`, `TrainingOptions` or
`BeamOptions`. `run` and `compile-kubeflow` declare their training options with the same
`add_training_args`, so the same flags give the same `TrainingOptions`, and both resolve them with
`pipeline.run.resolve_training` (the data-based defaults of `training_schedule`).

Parsing imports no TensorFlow or TFX: `--help` and argparse's errors stay fast, and TensorFlow's
start-up lines fall into the run's log (pipeline.progress.QuietRun), not on the console."""
import argparse
import ast
import dataclasses
import os
from typing import Dict, Optional, Tuple

# ctr_models.optimizers.OPTIMIZER_NAMES, spelled out so that parsing arguments imports no
# TensorFlow (tests/test_early_stopping.py checks they are the same).
OPTIMIZER_NAMES = ("adam", "lazy_adam", "adagrad", "ftrl", "sgd")
STRATEGIES = ("default", "mirrored", "multi_worker", "one_device")
RUN_BEAM_MODES = ("auto", "in_memory", "multi_processing", "portable")
ORCHESTRATORS = ("local", "beam")

# Training defaults when --batch-size / --epochs / --train-steps are not given (pipeline.run.
# training_schedule). The batch is the largest power of two in [MIN_BATCH, MAX_BATCH] that gives a
# pass over the training split at least MIN_STEPS_PER_EPOCH steps; then as many passes as reach
# MIN_STEPS, but at most MAX_EPOCHS (CTR models with large id vocabularies overfit after a pass
# or two), and at most MAX_STEPS steps in all. Measured on the bundled 2k-row criteo sample
# (BENCHMARKS.md, "Training defaults"): the old default, one pass at batch 1024, was 2 steps (eval
# AUC 0.565); at batch 64, eval AUC peaks at ~2 passes (~0.70) and falls to 0.59 after 11.
MIN_BATCH, MAX_BATCH = 32, 1024
MIN_STEPS_PER_EPOCH = 25
MIN_STEPS = 50
MAX_EPOCHS = 2
MAX_STEPS = 10_000


def parse_model_args(pairs):
    """['k=v', ...] -> dict; values are Python literals when they parse ('(64, 32)', '0.1',
    'True'), else strings ('matrix')."""
    args = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"--model-arg expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            args[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            args[key.strip()] = value.strip()
    return args


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """The model and how to train it, as given. `batch_size`, `epochs` and `train_steps` are None
    when not given: pipeline.run.resolve_training then chooses them from the data's size."""
    model: str = "DeepFM"
    model_args: Dict = dataclasses.field(default_factory=dict)  # parsed --model-arg literals
    batch_size: Optional[int] = None
    epochs: Optional[int] = None
    train_steps: Optional[int] = None
    eval_steps: int = 50
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    seed: int = 0
    early_stopping: bool = True
    cache_input: bool = False
    jit_compile: bool = False
    strategy: str = "default"

    @property
    def needs_data_size(self) -> bool:
        """Whether the schedule depends on the number of input rows: the batch size or the
        number of steps is not given."""
        return self.batch_size is None or self.train_steps is None


@dataclasses.dataclass(frozen=True)
class BeamOptions:
    """How the Beam-powered components run: `mode` (DirectRunner mode, or auto/portable for a
    local run) and the user's `--beam-arg` options, applied on top of the mode's."""
    mode: str = "auto"
    args: Tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """One pipeline run: the dataset spec, the input, the run root (absolute) and how to train
    and run it."""
    dataset: str
    root: str
    data: Optional[str] = None  # None: the spec's bundled sample
    window: Optional[int] = None
    span_range: Optional[str] = None
    training: TrainingOptions = dataclasses.field(default_factory=TrainingOptions)
    beam: BeamOptions = dataclasses.field(default_factory=BeamOptions)
    orchestrator: str = "local"
    enable_cache: bool = True
    allow_anomalies: bool = False
    confidence_intervals: bool = False
    verbose: bool = False


def beam_option(value):
    """argparse type of --beam-arg: one Beam option, --name or --name=value."""
    if not value.startswith("--") or len(value) < 3:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a Beam option: write --beam-arg=--name=value")
    return value


def add_training_args(parser, data_size_from="the training split's size"):
    """The model and training options (`run`, `demo`, `compare`, `retrain` and
    `compile-kubeflow` alike). `data_size_from` says, in the --help, where the data-based
    defaults get the data's size."""
    parser.add_argument("--model", default="DeepFM", help="registered ctr_models model name")
    parser.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="model constructor argument (Python literal or string); repeatable")
    parser.add_argument("--train-steps", type=int,
                        help="training steps (default: --epochs passes over the training split)")
    parser.add_argument("--eval-steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int,
                        help=f"global batch size (default: from {data_size_from}, a power of 2 "
                             f"in {MIN_BATCH}..{MAX_BATCH} giving an epoch at least "
                             f"{MIN_STEPS_PER_EPOCH} steps)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int,
                        help=f"passes over the training split (default: enough for "
                             f"{MIN_STEPS} steps, 1 to {MAX_EPOCHS}; at most {MAX_STEPS:,} steps "
                             f"in all)")
    parser.add_argument("--strategy", default="default", choices=STRATEGIES)
    parser.add_argument("--no-early-stopping", dest="early_stopping", action="store_false",
                        help="with several epochs, train them all and keep the last epoch's "
                             "weights (default: stop once the validation AUC has not improved "
                             "for an epoch and keep the best epoch's weights)")
    parser.add_argument("--optimizer", default="adam", choices=OPTIMIZER_NAMES,
                        help="the Trainer's optimizer (lazy_adam: Adam updating only the embedding "
                             "rows a batch read; BENCHMARKS.md, 'Trainer throughput')")
    parser.add_argument("--cache-input", action="store_true",
                        help="keep the parsed training batches in memory after the first pass and "
                             "replay them in a new order each pass (faster later epochs; a batch's "
                             "rows stay those of the first pass)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the Trainer's initialisation and input shuffling: the same "
                             "data, spec and seed train the same model")
    parser.add_argument("--jit-compile", action="store_true",
                        help="compile the training step with XLA (measure first: slower on CPU)")


def add_beam_args(parser, modes=RUN_BEAM_MODES, default="auto", mode_help=None):
    """--beam-mode (one of `modes`) and --beam-arg."""
    parser.add_argument("--beam-mode", default=default, choices=list(modes),
                        help=mode_help or (
                            "DirectRunner mode; auto = multi_processing for inputs over 100 MB "
                            "(below that, worker start-up costs more than it saves); portable = "
                            "PortableRunner against a Beam job service and SDK worker pool that "
                            "the run starts on loopback (logs in <root>/logs/beam_services)"))
    parser.add_argument("--beam-arg", action="append", default=[], type=beam_option,
                        metavar="--NAME=VALUE",
                        help="Beam pipeline option for every Beam-powered component (ExampleGen, "
                             "StatisticsGen, Transform, Evaluator, HistoryBuilder), written "
                             "--beam-arg=--runner=DataflowRunner; repeatable. It replaces the "
                             "--beam-mode option of the same name; a --runner other than the "
                             "DirectRunner drops the --direct_* options")


def add_run_args(parser):
    """The options of a local pipeline run (`run`, `demo`, `compare`, `retrain`)."""
    parser.add_argument("--dataset", default="criteo",
                        help="dataset spec: a name under data/specs or a YAML path")
    add_training_args(parser)
    parser.add_argument("--data", help="CSV/TFRecord file or folder (default: the bundled "
                                       "sample); a folder of span-<N>/ sub-folders or a pattern "
                                       "with {SPAN} (or {YYYY}-{MM}-{DD}, {VERSION}) reads spans: "
                                       "the newest one unless --window/--span-range")
    parser.add_argument("--window", type=int,
                        help="spans: train on the newest K spans (a rolling window)")
    parser.add_argument("--span-range", metavar="A:B",
                        help="spans: train on spans A..B (inclusive)")
    parser.add_argument("--root", help="run folder holding pipeline_root/, metadata.sqlite, "
                                       "serving/ (default: runs/<dataset>)")
    add_beam_args(parser)
    parser.add_argument("--orchestrator", default="local", choices=ORCHESTRATORS,
                        help="TFX runner that walks the DAG: local = LocalDagRunner, beam = "
                             "BeamDagRunner (each component a step of a Beam pipeline); same "
                             "MLMD store, caching and summary")
    parser.add_argument("--no-cache", action="store_true", help="re-run every component")
    parser.add_argument("--allow-anomalies", action="store_true",
                        help="train even when ExampleValidator finds data anomalies (default: "
                             "the run stops there, naming them)")
    parser.add_argument("--confidence-intervals", action="store_true",
                        help="95%% jackknife intervals for every metric and slice in the report "
                             "(the Evaluator then takes several times longer)")
    parser.add_argument("--verbose", action="store_true",
                        help="stream the full log to the terminal (default: one line per "
                             "component; the log goes to <root>/logs/<run id>.log)")


def training_options(args) -> TrainingOptions:
    """The parsed `add_training_args` options. `--model-arg` values are parsed here, once
    (parse_model_args: Python literals, never code); a pair without '='
    raises ValueError."""
    return TrainingOptions(
        model=args.model, model_args=parse_model_args(args.model_arg),
        batch_size=args.batch_size, epochs=args.epochs, train_steps=args.train_steps,
        eval_steps=args.eval_steps, learning_rate=args.learning_rate, optimizer=args.optimizer,
        seed=args.seed, early_stopping=args.early_stopping, cache_input=args.cache_input,
        jit_compile=args.jit_compile, strategy=args.strategy)


def beam_options(args) -> BeamOptions:
    """The parsed `add_beam_args` options."""
    return BeamOptions(mode=args.beam_mode, args=tuple(args.beam_arg))


def default_root(dataset: str) -> str:
    """runs/<the spec's name>, absolute (a bad dataset raises components.dataset_spec.
    SpecError)."""
    from components.dataset_spec import load_spec
    return os.path.abspath(os.path.join("runs", load_spec(dataset).name))


def run_options(args, root: Optional[str] = None) -> RunOptions:
    """The parsed `add_run_args` options; the root is --root, else `root`, else runs/<dataset>,
    made absolute."""
    return RunOptions(
        dataset=args.dataset, root=os.path.abspath(args.root or root or
                                                   default_root(args.dataset)),
        data=args.data, window=args.window, span_range=args.span_range,
        training=training_options(args), beam=beam_options(args),
        orchestrator=args.orchestrator, enable_cache=not args.no_cache,
        allow_anomalies=args.allow_anomalies, confidence_intervals=args.confidence_intervals,
        verbose=args.verbose)
