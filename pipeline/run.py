"""`python -m pipeline run|demo`: resolve the input, build the pipeline from the dataset spec and
the training settings, run it, and return the run summary (the CLI prints it)."""
import dataclasses
import glob
import gzip
import logging
import math
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

# ctr_models.optimizers.OPTIMIZER_NAMES, spelled out so that parsing arguments imports no
# TensorFlow (tests/test_early_stopping.py checks they are the same).
OPTIMIZER_NAMES = ("adam", "lazy_adam", "adagrad", "ftrl", "sgd")
DATA_EXTENSIONS = {"csv": ("*.csv", "*.txt", "*.csv.gz"),
                   "tfrecord": ("*.tfrecord", "*.tfrecords", "*.tfrecord.gz", "*.gz")}


def _csv_header(path, spec=None):
    """A CSV file's column names: its first line, or for a spec with `columns` (files without a
    header line) those names when the first line has as many cells."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        first = f.readline().strip().split(",")
    if spec is not None and spec.columns is not None:
        return list(spec.columns) if len(first) == len(spec.columns) else []
    return first


def resolve_input(data, spec):
    """`--data` (a file or a folder) -> (input_base, file pattern) for ExampleGen.

    In a folder, CSV files whose header lacks a column the spec reads are left out (a folder of
    mixed samples, like DeepCTR's, then still works); a clear error names what is missing."""
    data = os.path.abspath(data)
    if os.path.isfile(data):
        return os.path.dirname(data), os.path.basename(data)
    if not os.path.isdir(data):
        raise SystemExit(f"--data {data}: no such file or folder")
    problems = []
    for pattern in DATA_EXTENSIONS[spec.format]:
        files = sorted(glob.glob(os.path.join(data, pattern)))
        if not files:
            continue
        if spec.format != "csv":
            return data, pattern
        missing = {f: [c for c in spec.raw_columns if c not in _csv_header(f, spec)] for f in files}
        matching = [f for f in files if not missing[f]]
        if len(matching) == len(files):
            return data, pattern
        if len(matching) == 1:
            return data, os.path.basename(matching[0])
        if matching:
            raise SystemExit(f"--data {data}: several {pattern} files match dataset {spec.name} "
                             f"beside others that do not; pass one file or a folder of matching "
                             f"files")
        problems += [f"{os.path.basename(f)} lacks {m[:5]}" for f, m in missing.items()]
    if problems:
        raise SystemExit(f"--data {data}: no file has the columns of dataset {spec.name}: "
                         + "; ".join(problems))
    raise SystemExit(f"--data {data}: no {spec.format} files ({', '.join(DATA_EXTENSIONS[spec.format])})")


def count_examples(input_base, pattern, spec_format, header=True):
    """Number of examples in the input files (CSV: lines minus headers, when they have one)."""
    files = sorted(glob.glob(os.path.join(input_base, pattern)))
    if spec_format == "csv":
        total = 0
        for path in files:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rb") as f:
                total += max(0, sum(1 for _ in f) - int(header))
        return total
    import tensorflow as tf
    compression = "GZIP" if all(p.endswith(".gz") for p in files) else ""
    return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type=compression))


def default_train_steps(examples, spec, epochs, batch_size):
    """Steps for `epochs` passes over the training split."""
    return max(1, math.ceil(train_rows(examples, spec) * epochs / batch_size))


def train_rows(examples, spec):
    """The expected size of the training split of `examples` rows (ExampleGen splits by hash in
    the spec's `split` proportions, so the real split differs by a few rows)."""
    weights = dict(spec.split)
    return round(examples * weights["train"] / sum(weights.values()))


# Training defaults when --batch-size / --epochs / --train-steps are not given (TrainingSchedule).
# The batch is the largest power of two in [MIN_BATCH, MAX_BATCH] that gives a pass over the
# training split at least MIN_STEPS_PER_EPOCH steps; then as many passes as reach MIN_STEPS, but
# at most MAX_EPOCHS (CTR models with large id vocabularies overfit after a pass or two), and at
# most MAX_STEPS steps in all. Measured on the bundled 2k-row criteo sample (BENCHMARKS.md,
# "Training defaults"): the old default, one pass at batch 1024, was 2 steps (eval AUC 0.565);
# at batch 64, eval AUC peaks at ~2 passes (~0.70) and falls to 0.59 after 11.
MIN_BATCH, MAX_BATCH = 32, 1024
MIN_STEPS_PER_EPOCH = 25
MIN_STEPS = 50
MAX_EPOCHS = 2
MAX_STEPS = 10_000


@dataclasses.dataclass
class TrainingSchedule:
    """Batch size, epochs and steps of a run, and which of them were chosen from the data."""
    batch_size: int
    epochs: int
    train_steps: int
    train_rows: int  # expected rows of the training split; 0 when not counted
    chosen: tuple = ()  # names of the settings chosen here rather than given
    capped: bool = False  # steps cut to MAX_STEPS

    def describe(self):
        """'' when everything was given; else one line saying what was chosen and why."""
        if not self.chosen:
            return ""
        passes = self.train_steps * self.batch_size / max(1, self.train_rows)
        why = []
        if "batch_size" in self.chosen:
            why.append(f"batch {self.batch_size} (a power of 2 in {MIN_BATCH}..{MAX_BATCH}, "
                       f">= {MIN_STEPS_PER_EPOCH} steps per epoch)")
        if "epochs" in self.chosen:
            if self.capped:
                why.append(f"{self.train_steps:,} steps (at most {MAX_STEPS:,}: "
                           f"{passes:.2g} of an epoch)")
            else:
                why.append(f"{self.epochs} epoch{'s' * (self.epochs > 1)} = "
                           f"{self.train_steps:,} steps (as many as reach {MIN_STEPS} steps, at "
                           f"most {MAX_EPOCHS})")
        elif "train_steps" in self.chosen:
            why.append(f"{self.train_steps:,} steps for {self.epochs} epoch"
                       f"{'s' * (self.epochs > 1)}")
        return (f"Defaults for ~{self.train_rows:,} training rows: " + ", ".join(why)
                + "; set --batch-size/--epochs/--train-steps to override")


def training_schedule(examples, spec, batch_size=None, epochs=None, train_steps=None):
    """The batch size, epochs and steps for `examples` input rows: given values are kept, the
    others chosen from the training split's size (see MIN_BATCH ... MAX_STEPS above)."""
    rows = train_rows(examples, spec)  # 0 when not counted (everything given)
    chosen = []
    if batch_size is None:
        chosen.append("batch_size")
        batch_size = MIN_BATCH
        while batch_size * 2 <= min(MAX_BATCH, rows / MIN_STEPS_PER_EPOCH):
            batch_size *= 2
    steps_per_epoch = max(1, math.ceil(rows / batch_size))
    capped = False
    if train_steps is not None:
        epochs = epochs or 1
    elif epochs is not None:
        chosen.append("train_steps")
        train_steps = epochs * steps_per_epoch
    else:
        chosen.append("epochs")
        epochs = min(MAX_EPOCHS, max(1, math.ceil(MIN_STEPS / steps_per_epoch)))
        train_steps = epochs * steps_per_epoch
        if train_steps > MAX_STEPS:
            epochs, train_steps, capped = 1, MAX_STEPS, True
    return TrainingSchedule(batch_size=batch_size, epochs=epochs, train_steps=train_steps,
                            train_rows=rows, chosen=tuple(chosen), capped=capped)


def _add_run_args(parser):
    parser.add_argument("--dataset", default="criteo",
                        help="dataset spec: a name under data/specs or a YAML path")
    parser.add_argument("--model", default="DeepFM", help="registered ctr_models model name")
    parser.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="model constructor argument (Python literal or string); repeatable")
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
    parser.add_argument("--train-steps", type=int,
                        help="training steps (default: --epochs passes over the training split)")
    parser.add_argument("--eval-steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int,
                        help=f"global batch size (default: from the training split's size, a "
                             f"power of 2 in {MIN_BATCH}..{MAX_BATCH} giving an epoch at least "
                             f"{MIN_STEPS_PER_EPOCH} steps)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int,
                        help=f"passes over the training split (default: enough for "
                             f"{MIN_STEPS} steps, 1 to {MAX_EPOCHS}; at most {MAX_STEPS:,} steps "
                             f"in all)")
    parser.add_argument("--strategy", default="default",
                        choices=["default", "mirrored", "multi_worker", "one_device"])
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
    parser.add_argument("--beam-mode", default="auto",
                        choices=["auto", "in_memory", "multi_processing", "portable"],
                        help="DirectRunner mode; auto = multi_processing for inputs over 100 MB "
                             "(below that, worker start-up costs more than it saves); portable = "
                             "PortableRunner against a Beam job service and SDK worker pool that "
                             "the run starts on loopback (logs in <root>/logs/beam_services)")
    parser.add_argument("--beam-arg", action="append", default=[], type=_beam_option,
                        metavar="--NAME=VALUE",
                        help="Beam pipeline option for every Beam-powered component (ExampleGen, "
                             "StatisticsGen, Transform, Evaluator, HistoryBuilder), written "
                             "--beam-arg=--runner=DataflowRunner; repeatable. It replaces the "
                             "--beam-mode option of the same name; a --runner other than the "
                             "DirectRunner drops the --direct_* options")
    parser.add_argument("--orchestrator", default="local", choices=["local", "beam"],
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


def _beam_option(value):
    """argparse type of --beam-arg: one Beam option, --name or --name=value."""
    import argparse
    if not value.startswith("--") or len(value) < 3:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a Beam option: write --beam-arg=--name=value")
    return value


def dag_runner(orchestrator):
    """The TFX runner for `--orchestrator`: both compile the same pipeline to TFX's IR and launch
    every component with TFX's launcher against the pipeline's MLMD store (same caching)."""
    if orchestrator == "local":
        from tfx import v1 as tfx
        return tfx.orchestration.LocalDagRunner()
    if orchestrator == "beam":
        # Not in tfx.v1: the IR-based runner lives in tfx.orchestration.beam. Its own Beam
        # pipeline (one step per component) runs here on the DirectRunner; the components' Beam
        # jobs use the pipeline's beam_pipeline_args.
        from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
        return BeamDagRunner()
    raise ValueError(f"orchestrator must be local or beam, got {orchestrator!r}")


def default_data(spec):
    """The spec's bundled sample under data/samples."""
    from data.generators import SAMPLES_DIR
    if not spec.sample:
        raise SystemExit(f"Dataset {spec.name} bundles no sample: pass --data")
    return os.path.join(SAMPLES_DIR, spec.sample)


def run_pipeline(args, data=None):
    from components.dataset_spec import SpecError, load_spec
    from components.model_builder import parse_model_args
    from pipeline.pipeline import (RunPaths, TrainingConfig, beam_args, combine_beam_args,
                                   create_pipeline)
    from pipeline.reporting.summary import read_run

    try:
        spec = load_spec(args.dataset)
    except SpecError as error:
        raise SystemExit(str(error)) from None
    data = data or args.data or default_data(spec)
    from pipeline.spans import find_span_input
    span_input = find_span_input(data, getattr(args, "window", None),
                                 getattr(args, "span_range", None))
    if span_input is None:
        input_base, pattern = resolve_input(data, spec)
        files = glob.glob(os.path.join(input_base, pattern))
    else:  # a span spec in the pattern: ExampleGen reads the selected spans only
        input_base, pattern = span_input.input_base, span_input.pattern
        files = [f for s in span_input.spans for f in span_input.files(s)]
    # Bad input and a model that cannot be built stop here, before any component runs.
    from pipeline.input_check import check_input, check_model
    try:
        check_input(spec, {data: files} if span_input is None else
                    {f"{data} span {s}": span_input.files(s) for s in span_input.spans})
        check_model(spec, args.model, parse_model_args(args.model_arg))
    except ValueError as error:  # InputCheckError, or a --model-arg without '='
        raise SystemExit(str(error)) from None
    size = sum(os.path.getsize(p) for p in files)
    mode = args.beam_mode
    if mode == "auto":
        mode = "multi_processing" if size > 100 * 2**20 else "in_memory"
    paths = RunPaths(os.path.abspath(args.root or os.path.join("runs", spec.name)))
    given = (args.batch_size, args.epochs, args.train_steps)
    examples = (0 if None not in given else  # all given: no need to read large inputs
                sum(count_examples(os.path.dirname(f), os.path.basename(f), spec.format,
                                   header=spec.columns is None) for f in files))
    schedule = training_schedule(examples, spec, *given)
    if schedule.chosen:
        logging.info("%s", schedule.describe())
    training = TrainingConfig(model=args.model, model_args=parse_model_args(args.model_arg),
                              train_steps=schedule.train_steps, eval_steps=args.eval_steps,
                              batch_size=schedule.batch_size, learning_rate=args.learning_rate,
                              epochs=schedule.epochs, strategy=args.strategy,
                              jit_compile=args.jit_compile, seed=getattr(args, "seed", 0),
                              early_stopping=getattr(args, "early_stopping", True),
                              optimizer=getattr(args, "optimizer", "adam"),
                              cache_input=getattr(args, "cache_input", False),
                              warm_start=getattr(args, "warm_start_config", None))
    with _beam_services(mode, paths) as services:
        pipeline_args = services.pipeline_args() if services else beam_args(mode)
        pipeline = create_pipeline(spec, input_base, paths, training, input_pattern=pattern,
                                   enable_cache=not args.no_cache,
                                   beam_pipeline_args=combine_beam_args(pipeline_args,
                                                                        args.beam_arg),
                                   spans=span_input.spans if span_input else None,
                                   confidence_intervals=args.confidence_intervals,
                                   allow_anomalies=getattr(args, "allow_anomalies", False))
        logging.info("Running %s on %s/%s (%.1f MB, beam %s) into %s", pipeline.pipeline_info
                     .pipeline_name, input_base, pattern, size / 2**20, mode, paths.root)
        dag_runner(args.orchestrator).run(pipeline)
    return read_run(paths.metadata_path, pipeline.pipeline_info.pipeline_name,
                    schedule=schedule)


def _beam_services(mode, paths):
    """For `portable`: the job service and worker pool, running for the block; else nothing."""
    if mode != "portable":
        import contextlib
        return contextlib.nullcontext()
    from pipeline.beam_services import portable_beam_services
    return portable_beam_services(os.path.join(paths.root, "logs", "beam_services"))


def demo(args, out=print):
    from data.generators import write_criteo
    root = os.path.abspath(args.root or os.path.join("runs", "demo"))
    data_dir = os.path.join(root, "data")
    # kept only when written before for the same --rows (a record beside it says so)
    write_criteo(data_dir, rows=args.rows, seed=0, reuse=True)
    args.root = root
    report = run_pipeline(args, data=data_dir)
    oracle = os.path.join(data_dir, "oracle.json")
    out(report.format(worst=3, timings=False))
    if os.path.exists(oracle):
        import json
        with open(oracle) as f:
            info = json.load(f)
        out(f"Oracle AUC of the planted click model on all rows: {info.get('oracle_auc'):.4f}")
    return report


def _run(args, out=print):
    report = run_pipeline(args)
    out(report.format(worst=3, timings=False))
    return report
