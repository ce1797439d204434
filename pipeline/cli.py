"""Command line: `python -m pipeline run|demo|compile ...` (see --help)."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import warnings  # noqa: E402

# The CLI's output is its summary: keep the stack's deprecation chatter out of it.
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)

import argparse  # noqa: E402
import glob  # noqa: E402
import gzip  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402

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
    weights = dict(spec.split)
    train_fraction = weights["train"] / sum(weights.values())
    return max(1, math.ceil(examples * train_fraction * epochs / batch_size))


def _add_run_args(parser):
    parser.add_argument("--dataset", default="criteo",
                        help="dataset spec: a name under data/specs or a YAML path")
    parser.add_argument("--model", default="DeepFM", help="registered ctr_models model name")
    parser.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="model constructor argument (Python literal or string); repeatable")
    parser.add_argument("--data", help="CSV/TFRecord file or folder (default: the bundled sample)")
    parser.add_argument("--root", help="run folder holding pipeline_root/, metadata.sqlite, "
                                       "serving/ (default: runs/<dataset>)")
    parser.add_argument("--train-steps", type=int,
                        help="training steps (default: --epochs passes over the training split)")
    parser.add_argument("--eval-steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=1,
                        help="passes over the training split (when --train-steps is not given)")
    parser.add_argument("--strategy", default="default",
                        choices=["default", "mirrored", "multi_worker", "one_device"])
    parser.add_argument("--jit-compile", action="store_true",
                        help="compile the training step with XLA (measure first: slower on CPU)")
    parser.add_argument("--beam-mode", default="auto",
                        choices=["auto", "in_memory", "multi_processing"],
                        help="DirectRunner mode; auto = multi_processing for inputs over 100 MB "
                             "(below that, worker start-up costs more than it saves)")
    parser.add_argument("--no-cache", action="store_true", help="re-run every component")
    parser.add_argument("--verbose", action="store_true",
                        help="stream the full log to the terminal (default: one line per "
                             "component; the log goes to <root>/logs/<run id>.log)")


def default_data(spec):
    """The spec's bundled sample under data/samples."""
    from data.generators import SAMPLES_DIR
    if not spec.sample:
        raise SystemExit(f"Dataset {spec.name} bundles no sample: pass --data")
    return os.path.join(SAMPLES_DIR, spec.sample)


def run_pipeline(args, data=None):
    from components.dataset_spec import load_spec
    from components.model_builder import parse_model_args
    from pipeline.pipeline import RunPaths, TrainingConfig, beam_args, create_pipeline
    from pipeline.report import read_run
    from tfx import v1 as tfx

    spec = load_spec(args.dataset)
    data = data or args.data or default_data(spec)
    input_base, pattern = resolve_input(data, spec)
    size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(input_base, pattern)))
    mode = args.beam_mode
    if mode == "auto":
        mode = "multi_processing" if size > 100 * 2**20 else "in_memory"
    paths = RunPaths(os.path.abspath(args.root or os.path.join("runs", spec.name)))
    train_steps = args.train_steps or default_train_steps(
        count_examples(input_base, pattern, spec.format, header=spec.columns is None), spec,
        args.epochs, args.batch_size)
    training = TrainingConfig(model=args.model, model_args=parse_model_args(args.model_arg),
                              train_steps=train_steps, eval_steps=args.eval_steps,
                              batch_size=args.batch_size, learning_rate=args.learning_rate,
                              epochs=args.epochs, strategy=args.strategy,
                              jit_compile=args.jit_compile)
    # Fail before any component runs if the model or its arguments are wrong.
    from ctr_models.models import get_model_fn
    get_model_fn(training.model)
    pipeline = create_pipeline(spec, input_base, paths, training, input_pattern=pattern,
                               enable_cache=not args.no_cache, beam_pipeline_args=beam_args(mode))
    logging.info("Running %s on %s/%s (%.1f MB, beam %s) into %s", pipeline.pipeline_info
                 .pipeline_name, input_base, pattern, size / 2**20, mode, paths.root)
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return read_run(paths.metadata_path, pipeline.pipeline_info.pipeline_name)


def demo(args, out=print):
    from data.generators import write_criteo
    root = os.path.abspath(args.root or os.path.join("runs", "demo"))
    data_dir = os.path.join(root, "data")
    if not glob.glob(os.path.join(data_dir, "*.csv")):
        write_criteo(data_dir, rows=args.rows, seed=0)
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


def _default_root(args):
    if not args.root:
        from components.dataset_spec import load_spec
        name = "demo" if args.command == "demo" else load_spec(args.dataset).name
        args.root = os.path.join("runs", name)
    args.root = os.path.abspath(args.root)
    return args.root


def _short_error(error):
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if text.endswith(":") and len(lines) > 1:  # TF's "in user code:": the cause comes last
        text = lines[-1]
    return f"{type(error).__name__}: {text[:300]}"


def run_with_progress(args, run):
    """`run(args, out)` (a pipeline run that prints its summary through `out`) as a person should
    see it: a line per component, the summary, the paths of the HTML report and of the full log
    (everything else is in the log). A failure prints the failing component, the error and the
    log path; the exit status is then 1 (2 for bad input)."""
    from pipeline.progress import QuietRun, rename_log
    from pipeline.runs import latest_run_id
    root = _default_root(args)
    quiet = QuietRun(root, verbose=args.verbose,
                     pipeline_root=os.path.join(root, "pipeline_root"))
    with quiet:
        started_ms = int(quiet.progress.start * 1000)
        if quiet.log_path:
            quiet.print(f"Log: {quiet.log_path}")

        def final_log_path():
            run_id = latest_run_id(os.path.join(root, "metadata.sqlite"), since_ms=started_ms)
            if quiet.log_path and run_id:
                quiet.log_path = rename_log(quiet.log_path, run_id)
            return quiet.log_path

        try:
            report = run(args, quiet.print)
        except SystemExit as error:
            if isinstance(error.code, str):  # a clear message about bad input
                quiet.print(f"Error: {error.code}")
                return 2
            raise
        except Exception as error:  # the full traceback goes to the log, not the console
            logging.exception("Run failed")
            log = final_log_path()
            quiet.print(f"FAILED in {quiet.progress.current or 'pipeline set-up'}: "
                        f"{_short_error(error)}")
            quiet.print(f"Full log: {log}" if log else "(log above)")
            return 1
        log = final_log_path()
        try:
            from pipeline.html_report import write_report
            html = write_report(root, report.run_id)
            quiet.print(f"Report: {html}")
        except Exception as error:  # the run itself succeeded: say so, and why there is no report
            logging.exception("HTML report failed")
            quiet.print(f"Report: not written ({_short_error(error)})")
        if log:
            quiet.print(f"Full log: {log}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the pipeline on a dataset")
    _add_run_args(run)
    demo_parser = sub.add_parser("demo", help="generate Criteo-format data and run everything")
    _add_run_args(demo_parser)
    demo_parser.add_argument("--rows", type=int, default=100_000)
    demo_parser.set_defaults(beam_mode="multi_processing", eval_steps=10, learning_rate=3e-3)
    compare_parser = sub.add_parser(
        "compare", help="train several models on one Transform output; write a leaderboard")
    _add_run_args(compare_parser)
    compare_parser.add_argument("--models", required=True,
                                help="comma-separated model names, e.g. DeepFM,DCN,xDeepFM")
    report_parser = sub.add_parser("report", help="write the HTML report of a run")
    report_parser.add_argument("--root", required=True, help="run root")
    report_parser.add_argument("--run", help="run id (default: the latest)")
    report_parser.add_argument("--out", help="HTML file (default: <root>/reports/<run id>.html)")
    runs_parser = sub.add_parser("runs", help="the run history of a run root, newest first")
    runs_parser.add_argument("--root", required=True, help="run root")
    predict_parser = sub.add_parser("predict", help="score raw CSV rows with a pushed model")
    predict_parser.add_argument("--model", required=True,
                                help="a pushed model folder, or a run root (its newest push)")
    predict_parser.add_argument("--input", required=True, help="CSV file in the dataset's format")
    predict_parser.add_argument("--out", help="output CSV (default: stdout)")
    predict_parser.add_argument("--batch-size", type=int, default=4096)
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", False)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")
    if not verbose:
        from absl import logging as absl_logging
        absl_logging.set_verbosity(absl_logging.ERROR)
    if args.command == "run":
        return run_with_progress(args, _run)
    if args.command == "demo":
        return run_with_progress(args, demo)
    if args.command == "compare":
        from pipeline.compare import compare
        return run_with_progress(args, compare)
    if args.command == "report":
        from pipeline.html_report import write_report
        return run_quietly(os.path.join(args.root, "logs", "report.log"), lambda person: print(
            write_report(os.path.abspath(args.root), args.run, args.out)))
    if args.command == "runs":
        from pipeline.runs import format_runs, list_runs
        return run_quietly(os.path.join(args.root, "logs", "runs.log"), lambda person: print(
            format_runs(list_runs(os.path.abspath(args.root)))))
    if args.command == "predict":
        import tempfile
        from pipeline.predict import predict_csv
        return run_quietly(os.path.join(tempfile.gettempdir(), "ctr-pipeline", "predict.log"),
                           lambda person: predict_csv(args.model, args.input, args.out,
                                                      batch_size=args.batch_size,
                                                      progress=person))
    return 0


def run_quietly(log_path, command):
    """Runs `command(person)` with stderr (TensorFlow's chatter, warnings, tracebacks) going to
    `log_path` for the rest of the process (`person`: the original stderr); bad input (SystemExit, ValueError naming the
    row/field) is printed as one line (exit 2), anything else as one line and the log path (1)."""
    from pipeline.progress import redirect_stderr_to
    person = redirect_stderr_to(log_path)
    try:
        command(person)
    except SystemExit as error:
        if isinstance(error.code, str):
            person.write(f"Error: {error.code}\n")
            return 2
        raise
    except ValueError as error:
        logging.exception("failed")
        person.write(f"Error: {error}\n")
        return 2
    except Exception as error:
        logging.exception("failed")
        person.write(f"FAILED: {_short_error(error)}\nFull log: {log_path}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
