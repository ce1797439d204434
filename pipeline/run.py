"""`python -m pipeline run|demo`: resolve the input, build the pipeline from the dataset spec and
the training settings, run it, and return the run summary (the CLI prints it)."""
import dataclasses
import glob
import gzip
import logging
import math
import os
from typing import Optional

from pipeline.options import (MAX_BATCH, MAX_EPOCHS, MAX_STEPS, MIN_BATCH, MIN_STEPS,
                              MIN_STEPS_PER_EPOCH, RunOptions, TrainingOptions)

DATA_EXTENSIONS = {"csv": ("*.csv", "*.txt", "*.csv.gz"),
                   "parquet": ("*.parquet", "*.pq"),
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


def _parquet_columns(path):
    """A Parquet file's column names (its footer only)."""
    import pyarrow.parquet as pq
    return pq.ParquetFile(path).schema_arrow.names


def _file_columns(path, spec):
    if spec.format == "parquet":
        return _parquet_columns(path)
    return _csv_header(path, spec)


def resolve_input(data, spec):
    """`--data` (a file or a folder) -> (input_base, file pattern) for ExampleGen.

    In a folder, CSV (or Parquet) files whose header lacks a column the spec reads are left out
    (a folder of mixed samples, like DeepCTR's, then still works); a clear error names what is
    missing."""
    data = os.path.abspath(data)
    if os.path.isfile(data):
        return os.path.dirname(data), os.path.basename(data)
    if not os.path.isdir(data):
        raise SystemExit(f"--data {data}: no such file or folder")
    from pipeline.spans import split_folders
    try:
        if split_folders(data):  # train/, validation/, test/ decide the splits
            return data, "*"
    except ValueError as error:
        raise SystemExit(f"--data {data}: {error}") from None
    problems = []
    for pattern in DATA_EXTENSIONS[spec.format]:
        files = sorted(glob.glob(os.path.join(data, pattern)))
        if not files:
            continue
        if spec.format not in ("csv", "parquet"):
            return data, pattern
        missing = {f: [c for c in spec.raw_columns if c not in _file_columns(f, spec)]
                   for f in files}
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
    """Number of examples in the input files (CSV: lines minus headers, when they have one;
    Parquet: the rows its footer counts)."""
    files = sorted(glob.glob(os.path.join(input_base, pattern)))
    if spec_format == "parquet":
        import pyarrow.parquet as pq
        return sum(pq.ParquetFile(path).metadata.num_rows for path in files)
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
    others chosen from the training split's size (MIN_BATCH ... MAX_STEPS, pipeline/options.py)."""
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


def dag_runner(orchestrator):
    """The TFX runner for `--orchestrator`: both compile the same pipeline to TFX's IR and launch
    every component with TFX's launcher against the pipeline's MLMD store (same caching)."""
    if orchestrator == "local":
        from tfx.orchestration.local.local_dag_runner import LocalDagRunner
        return LocalDagRunner()
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


def resolve_training(training: TrainingOptions, spec, examples: int, warm_start=None):
    """(TrainingSchedule, pipeline.pipeline.TrainingConfig) for `training` on `examples` input
    rows: the batch size, epochs and steps not given are chosen by training_schedule. `run` and
    `compile-kubeflow` both resolve their options here, so the same flags and data size train the
    same model. `warm_start`: the previous model to initialise from (pipeline.retrain)."""
    from pipeline.pipeline import TrainingConfig
    schedule = training_schedule(examples, spec, training.batch_size, training.epochs,
                                 training.train_steps)
    config = TrainingConfig(model=training.model, model_args=dict(training.model_args),
                            train_steps=schedule.train_steps, eval_steps=training.eval_steps,
                            batch_size=schedule.batch_size, learning_rate=training.learning_rate,
                            epochs=schedule.epochs, strategy=training.strategy,
                            jit_compile=training.jit_compile, seed=training.seed,
                            early_stopping=training.early_stopping, optimizer=training.optimizer,
                            cache_input=training.cache_input, warm_start=warm_start)
    return schedule, config


def run_pipeline(options: RunOptions, warm_start: Optional[dict] = None,
                 allow_drift: Optional[bool] = None):
    """Checks the input and the model, runs the pipeline of `options` and returns its summary
    (pipeline.reporting.summary.RunReport). `warm_start`: the previous model to initialise the Trainer from
    (pipeline.retrain), None for a fresh model. `allow_drift` (retrain): None, no drift check;
    else the run checks drift from the last trained span (its statistics found in the root's
    ML-Metadata) and stops before Transform on drift unless `allow_drift` is True."""
    from components.dataset_spec import SpecError, load_spec

    try:
        spec = load_spec(options.dataset)
    except SpecError as error:
        raise SystemExit(str(error)) from None
    data = options.data or default_data(spec)
    from pipeline.spans import find_span_input
    span_input = find_span_input(data, options.window, options.span_range)
    if span_input is None:
        input_base, pattern = resolve_input(data, spec)
        from pipeline.spans import input_files
        files = input_files(input_base, pattern)  # with the files of split folders
    else:  # a span spec in the pattern: ExampleGen reads the selected spans only
        input_base, pattern = span_input.input_base, span_input.pattern
        files = [f for s in span_input.spans for f in span_input.files(s)]
    # Bad input and a model that cannot be built stop here, before any component runs.
    from pipeline.input_check import check_input, check_model
    training = options.training
    try:
        check_input(spec, {data: files} if span_input is None else
                    {f"{data} span {s}": span_input.files(s) for s in span_input.spans})
        check_model(spec, training.model, training.model_args)
    except ValueError as error:  # InputCheckError
        raise SystemExit(str(error)) from None
    # TFX is imported only now: importing it takes ~10 s, and bad input should not wait for it.
    from pipeline.pipeline import (DriftGate, RunPaths, beam_args, combine_beam_args,
                                   create_pipeline, default_pipeline_name)
    from pipeline.reporting.summary import read_run
    from pipeline.tfx_packaging import skip_self_packaging_for_local_runners
    size = sum(os.path.getsize(p) for p in files)
    mode = options.beam.mode
    if mode == "auto":
        mode = "multi_processing" if size > 100 * 2**20 else "in_memory"
    paths = RunPaths(options.root)
    given = (training.batch_size, training.epochs, training.train_steps)
    examples = (0 if None not in given else  # all given: no need to read large inputs
                sum(count_examples(os.path.dirname(f), os.path.basename(f), spec.format,
                                   header=spec.columns is None) for f in files))
    schedule, training_config = resolve_training(training, spec, examples, warm_start)
    if schedule.chosen:
        logging.info("%s", schedule.describe())
    drift_gate = None
    if allow_drift is not None:
        from pipeline.reporting.metadata import last_trained_statistics
        drift_gate = DriftGate(baseline=last_trained_statistics(
            paths.metadata_path, default_pipeline_name(spec)), allow=allow_drift)
    with _beam_services(mode, paths) as services:
        pipeline_args = services.pipeline_args() if services else beam_args(mode)
        pipeline = create_pipeline(spec, input_base, paths, training_config,
                                   input_pattern=pattern, enable_cache=options.enable_cache,
                                   beam_pipeline_args=combine_beam_args(pipeline_args,
                                                                        options.beam.args),
                                   spans=span_input.spans if span_input else None,
                                   confidence_intervals=options.confidence_intervals,
                                   allow_anomalies=options.allow_anomalies,
                                   drift_gate=drift_gate)
        logging.info("Running %s on %s/%s (%.1f MB, beam %s) into %s", pipeline.pipeline_info
                     .pipeline_name, input_base, pattern, size / 2**20, mode, paths.root)
        skip_self_packaging_for_local_runners()  # see pipeline/tfx_packaging.py
        dag_runner(options.orchestrator).run(pipeline)
    return read_run(paths.metadata_path, pipeline.pipeline_info.pipeline_name,
                    schedule=schedule)


def _beam_services(mode, paths):
    """For `portable`: the job service and worker pool, running for the block; else nothing.
    Beam's gRPC servers in this process (multi_processing's control, data and logging servers)
    listen on loopback from here on."""
    from pipeline.lifeline import bind_grpc_servers_to_loopback
    bind_grpc_servers_to_loopback()
    if mode != "portable":
        import contextlib
        return contextlib.nullcontext()
    from pipeline.beam_services import portable_beam_services
    return portable_beam_services(os.path.join(paths.root, "logs", "beam_services"))


DEMO_ROOT = os.path.join("runs", "demo")


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    """`demo`: a run on `rows` generated Criteo-format rows, written under <root>/data."""
    run: RunOptions
    rows: int = 100_000


def demo_options(args) -> DemoOptions:
    """The parsed `demo` arguments (the run options with root runs/demo by default)."""
    from pipeline.options import run_options
    return DemoOptions(run=run_options(args, root=DEMO_ROOT), rows=args.rows)


def demo(options: DemoOptions, out=print):
    """Generates the data (again only when --rows changes), runs the pipeline on it and prints the summary and
    the planted click model's oracle AUC."""
    from data.generators import write_criteo
    data_dir = os.path.join(options.run.root, "data")
    # kept only when written before for the same --rows (a record beside it says so)
    write_criteo(data_dir, rows=options.rows, seed=0, reuse=True)
    report = run_pipeline(dataclasses.replace(options.run, data=data_dir))
    oracle = os.path.join(data_dir, "oracle.json")
    out(report.format(worst=3, timings=False))
    if os.path.exists(oracle):
        import json
        with open(oracle) as f:
            info = json.load(f)
        out(f"Oracle AUC of the planted click model on all rows: {info.get('oracle_auc'):.4f}")
    return report


def run(options: RunOptions, out=print):
    """`run`: the pipeline run and its summary, printed through `out`."""
    report = run_pipeline(options)
    out(report.format(worst=3, timings=False))
    return report
