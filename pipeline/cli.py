"""Command line: `python -m pipeline run|demo|compile ...` (see --help).

Each subcommand parses its arguments into its options (pipeline/options.py and the command's
`*_options(args)`) and calls one function with them; nothing below this layer reads argparse's
Namespace."""
import argparse
import logging
import os
import sys
import warnings

# The CLI's output is its summary: keep the stack's deprecation chatter out of it.
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)


def _short_error(error):
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if text.endswith(":") and len(lines) > 1:  # TF's "in user code:": the cause comes last
        text = lines[-1]
    return f"{type(error).__name__}: {text[:300]}"


def drift_refusal(error):
    """The message of the drift gate's DriftFound (components/drift.py) when `error` is one or
    was raised from one; else None."""
    from components.drift import DriftFound
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, DriftFound):
            return str(error)
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def run_with_progress(root, verbose, run):
    """`run(out)` (a pipeline run into `root` that prints its summary through `out`) as a person
    should see it: a line per component, the summary, the paths of the HTML report and of the full
    log (everything else is in the log; with `verbose`, the log streams to the terminal). A failure
    prints the failing component, the error and the log path; the exit status is then 1 (2 for bad
    input; retrain's drift gate: the drifted features and pipeline.retrain.DRIFT_EXIT_STATUS)."""
    from pipeline.progress import QuietRun, rename_log
    from pipeline.reporting.metadata import latest_run_id
    quiet = QuietRun(root, verbose=verbose, pipeline_root=os.path.join(root, "pipeline_root"))
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
            report = run(quiet.print)
        except SystemExit as error:
            if isinstance(error.code, str):  # a clear message about bad input
                quiet.print(f"error: {error.code}")
                return 2
            raise
        except Exception as error:  # the full traceback goes to the log, not the console
            logging.exception("Run failed")
            log = final_log_path()
            refusal = drift_refusal(error)
            if refusal is not None:  # retrain's drift gate: the whole message, its own status
                from pipeline.retrain import DRIFT_EXIT_STATUS
                quiet.print(f"DRIFT in {quiet.progress.current or 'DriftCheck'}: {refusal}")
                quiet.print(f"Full log: {log}" if log else "(log above)")
                return DRIFT_EXIT_STATUS
            quiet.print(f"FAILED in {quiet.progress.current or 'pipeline set-up'}: "
                        f"{_short_error(error)}")
            quiet.print(f"Full log: {log}" if log else "(log above)")
            return 1
        log = final_log_path()
        try:
            from pipeline.reporting.html import write_report
            html = write_report(root, report.run_id)
            quiet.print(f"Report: {html}")
        except Exception as error:  # the run itself succeeded: say so, and why there is no report
            logging.exception("HTML report failed")
            quiet.print(f"Report: not written ({_short_error(error)})")
        if log:
            quiet.print(f"Full log: {log}")
    return 0


def build_parser():
    """The CLI's argument parser (tests/test_readme_commands.py parses the README's commands
    with it)."""
    from pipeline.options import add_run_args
    parser = argparse.ArgumentParser(prog="python -m pipeline",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the pipeline on a dataset")
    add_run_args(run)
    demo_parser = sub.add_parser("demo", help="generate Criteo-format data and run everything")
    add_run_args(demo_parser)
    demo_parser.add_argument("--rows", type=int, default=100_000)
    # Beam mode: auto, like `run` (the demo's ~25 MB input runs faster in_memory)
    demo_parser.set_defaults(eval_steps=10, learning_rate=3e-3)
    compare_parser = sub.add_parser(
        "compare", help="train several models on one Transform output; write a leaderboard")
    add_run_args(compare_parser)
    compare_parser.add_argument("--models", required=True,
                                help="comma-separated model names, e.g. DeepFM,DCN,xDeepFM")
    report_parser = sub.add_parser("report", help="write the HTML report of a run")
    report_parser.add_argument("--root", required=True, help="run root")
    report_parser.add_argument("--run", help="run id (default: the latest)")
    report_parser.add_argument("--out", help="HTML file (default: <root>/reports/<run id>.html)")
    retrain_parser = sub.add_parser(
        "retrain", help="retrain on the newest span(s); bless and push only a model that is not "
                        "worse than the latest blessed one")
    from pipeline.retrain import add_retrain_args
    add_retrain_args(retrain_parser)
    runs_parser = sub.add_parser("runs", help="the run history of a run root, newest first")
    runs_parser.add_argument("--root", required=True, help="run root")
    predict_parser = sub.add_parser("predict", help="score raw CSV rows with a pushed model")
    predict_parser.add_argument("--model", required=True,
                                help="a pushed model folder, or a run root (its newest push)")
    predict_parser.add_argument("--input", required=True, help="CSV file in the dataset's format")
    predict_parser.add_argument("--out", help="output CSV (default: stdout)")
    predict_parser.add_argument("--batch-size", type=int, default=4096)
    serve_parser = sub.add_parser(
        "serve", help="serve the pushed model over TF Serving's gRPC and REST APIs (loopback)")
    from pipeline.serving.server import add_serve_args
    add_serve_args(serve_parser)
    train_local_parser = sub.add_parser(
        "train-local", help="train on a run root's latest Transform output with N local worker "
                            "processes (MultiWorkerMirroredStrategy over loopback)")
    from pipeline.train_local import add_args as add_train_local_args
    add_train_local_args(train_local_parser)
    kubeflow_parser = sub.add_parser(
        "compile-kubeflow", help="compile the pipeline for Kubeflow Pipelines v2 (YAML/JSON spec)")
    from pipeline.kubeflow import add_compile_args
    add_compile_args(kubeflow_parser)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from pipeline.clone import pin_this_clone
    pin_this_clone()  # this clone's code, in every process the command starts
    verbose = getattr(args, "verbose", False)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")
    if not verbose:
        from absl import logging as absl_logging
        absl_logging.set_verbosity(absl_logging.ERROR)
    return _reporting_errors(args, verbose)


def _reporting_errors(args, verbose):
    """Runs the subcommand; an error that escapes it is printed as `error: <message>` (the
    traceback only with --verbose), exit status 2 for bad input (SystemExit with a message, a
    ValueError such as a SpecError), else 1."""
    import traceback
    try:
        return _dispatch(args)
    except SystemExit as error:
        if not isinstance(error.code, str):
            raise
        message, status, trace = error.code, 2, traceback.format_exc()
    except ValueError as error:
        message, status, trace = str(error), 2, traceback.format_exc()
    except Exception as error:  # noqa: BLE001 - the CLI's last word on any failure
        message, status, trace = _short_error(error), 1, traceback.format_exc()
    if verbose:
        sys.stderr.write(trace)
    print(f"error: {message}", file=sys.stderr)
    return status


def _dispatch(args):
    """Runs `args.command` with its parsed options."""
    if args.command in ("run", "demo", "compare", "retrain"):
        return _pipeline_command(args)
    if args.command == "report":
        from pipeline.reporting.html import write_report
        return run_quietly(os.path.join(args.root, "logs", "report.log"), lambda person: print(
            write_report(os.path.abspath(args.root), args.run, args.out)))
    if args.command == "runs":
        from pipeline.reporting.runs import format_runs, list_runs
        return run_quietly(os.path.join(args.root, "logs", "runs.log"), lambda person: print(
            format_runs(list_runs(os.path.abspath(args.root)))))
    if args.command == "predict":
        from pipeline.predict import predict_csv
        from pipeline.progress import command_log_path
        # --model may be a run root (a serving/ folder): its logs/, else this user's own folder
        model_root = args.model if os.path.isdir(os.path.join(args.model, "serving")) else None
        return run_quietly(command_log_path("predict", model_root),
                           lambda person: predict_csv(args.model, args.input, args.out,
                                                      batch_size=args.batch_size,
                                                      progress=person))
    if args.command == "serve":
        from pipeline.serving.server import serve_from_args
        return serve_from_args(args, sys.stdout)
    if args.command == "train-local":
        from pipeline.train_local import main_from_args
        root = os.path.abspath(args.root)
        return locked(root, lambda: run_quietly(os.path.join(root, "logs", "train-local.log"),
                                                lambda person: main_from_args(args)))
    if args.command == "compile-kubeflow":
        from pipeline.kubeflow import compile_kubeflow, compile_options
        from pipeline.progress import command_log_path
        options = compile_options(args)
        return run_quietly(command_log_path("compile-kubeflow"),
                           lambda person: print(compile_kubeflow(options)))
    return 0


def _pipeline_command(args):
    """run, demo, compare and retrain: a pipeline run into a root, under its lock, shown by
    run_with_progress. Bad options (a --model-arg without '=', an unknown dataset) stop here."""
    blocked_after = None  # retrain's --lock-timeout
    if args.command == "run":
        from pipeline.options import run_options
        from pipeline.run import run as command
        options = root_options = run_options(args)
    elif args.command == "demo":
        from pipeline.run import demo as command, demo_options
        options = demo_options(args)
        root_options = options.run
    elif args.command == "compare":
        from pipeline.compare import compare as command, compare_options
        options = compare_options(args)
        root_options = options.run
    else:
        from pipeline.retrain import lock_timeout, retrain_cli as command, retrain_options
        options = retrain_options(args)
        root_options = options.run
        blocked_after = lock_timeout(options)
    root = root_options.root
    return locked(root, lambda: run_with_progress(root, root_options.verbose,
                                                  lambda out: command(options, out)),
                  blocked_after=blocked_after)


def locked(root, command, blocked_after=None):
    """`command()` holding the run root's lock (pipeline/lock.py); every subcommand that writes
    into a root (run, demo, compare, retrain, train-local) goes through here. When another run
    holds it: one line naming the holder and exit status 3, nothing else done; an unwritable or
    nearly full root: one line saying so, exit status 2. With `blocked_after` (retrain's
    --lock-timeout), a holder older than that many seconds: exit status 4 (a failure)."""
    from pipeline.lock import RootBlocked, RootLocked, RootUnusable, root_lock
    try:
        with root_lock(root, blocked_after=blocked_after):
            return command()
    except RootBlocked as error:
        print(f"error: {error.code}", file=sys.stderr)
        return 4
    except RootLocked as error:
        print(f"error: {error.code}", file=sys.stderr)
        return 3
    except RootUnusable as error:
        print(f"error: {error.code}", file=sys.stderr)
        return 2


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
            person.write(f"error: {error.code}\n")
            return 2
        raise
    except ValueError as error:
        logging.exception("failed")
        person.write(f"error: {error}\n")
        return 2
    except Exception as error:
        logging.exception("failed")
        person.write(f"error: {_short_error(error)}\nFull log: {log_path}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
