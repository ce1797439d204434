"""`python -m pipeline retrain`: one scheduled retraining step on the newest span(s).

    python -m pipeline retrain --root R --dataset D --data BASE [--window k] [--warm-start]

BASE holds `span-<N>/` folders (or is a pattern with {SPAN} / {YYYY}-{MM}-{DD}). The run takes
the root's lock (a second retrain or run on the same root exits at once, naming the holder),
trains on the newest span (or the newest k), evaluates the candidate on the newest span against
the latest blessed model (the pipeline's LatestBlessedModelStrategy resolver), blesses it only
when the spec's thresholds hold and AUC does not drop by more than the spec's
auc_change_threshold, and pushes it as a new version under R/serving when blessed.

`--warm-start` initialises the model from the last pushed model (components/warm_start.py: rows
of recomputed vocabularies are remapped by token; another model or feature set trains fresh, with
the reason logged).

Drift gate (components/drift.py): the newest span's statistics are compared with those of the last
span a model was trained on (found in the root's ML-Metadata); a span that drifted beyond the
spec's `drift` thresholds stops the run before Transform (the CLI exits with DRIFT_EXIT_STATUS),
naming each drifted feature and its distance; `--allow-drift` trains anyway and records it."""
import dataclasses
import json
import logging
import os
import time
from typing import Dict, List, Optional

from pipeline.options import RunOptions

log = logging.getLogger(__name__)
# --lock-timeout's default: a daily retrain that still holds the lock after 6 h is taken as hung
LOCK_TIMEOUT_S = 6 * 3600
# the CLI's exit status when the drift gate refused the new span (1: failure, 2: bad input,
# 3: root in use, 4: root blocked for longer than --lock-timeout)
DRIFT_EXIT_STATUS = 5


@dataclasses.dataclass
class RetrainResult:
    """What one retrain did: spans trained on, verdict, pushed version, time, cache hits."""
    report: object  # pipeline.reporting.summary.RunReport
    spans: List[int]
    seconds: float
    cached: List[str]  # components served from the cache
    warm_start: Optional[Dict] = None  # the Trainer's warm-start summary
    skipped: bool = False  # nothing new: the spans were trained by an earlier run (its report)

    @property
    def pushed_version(self) -> Optional[str]:
        return os.path.basename(self.report.pushed_model) if self.report.pushed_model else None

    def format(self) -> str:
        auc = (self.report.overall or {}).get("auc")
        lines = [f"Retrained on span(s) {', '.join(map(str, self.spans))} in {self.seconds:.0f} s",
                 f"  test AUC (newest span): {'-' if auc is None else f'{auc:.4f}'}",
                 f"  blessed: {self.report.blessed}",
                 f"  pushed version: {self.pushed_version or 'none (the previous one stays)'}",
                 f"  cached: {', '.join(self.cached) or 'nothing'}"]
        if self.warm_start is not None:
            lines.append("  warm start: " + (
                f"from {self.warm_start.get('source')}" if self.warm_start.get("warm_started")
                else f"not possible ({self.warm_start.get('reason')}): fresh model"))
        return "\n".join(lines)


def _store(metadata_path):
    from pipeline.reporting.metadata import open_store as read_only_store
    return read_only_store(metadata_path)


def _props(artifact_or_execution, name):
    for props in (artifact_or_execution.custom_properties, artifact_or_execution.properties):
        if name in props:
            value = props[name]
            for field in ("string_value", "int_value", "double_value"):
                if value.HasField(field):
                    return getattr(value, field)
    return None


def last_pushed_model(root: str) -> Optional[dict]:
    """The newest model pushed from `root`, as components/warm_start.py's `warm_start` config:
    pushed folder, the Transform output it was trained with, its model, model_args and spec
    (from the Trainer execution recorded in MLMD). None when nothing was pushed yet."""
    from ml_metadata.proto import metadata_store_pb2 as mlmd
    metadata_path = os.path.join(root, "metadata.sqlite")
    if not os.path.exists(metadata_path):
        return None
    store = _store(metadata_path)
    pushed = [a for a in store.get_artifacts_by_type("PushedModel")
              if _props(a, "pushed") and _props(a, "pushed_destination")
              and os.path.isdir(_props(a, "pushed_destination"))]
    if not pushed:
        return None
    pushed = max(pushed, key=lambda a: (a.create_time_since_epoch, a.id))
    events = store.get_events_by_artifact_ids([pushed.id])
    pusher_id = next(e.execution_id for e in events if e.type == mlmd.Event.OUTPUT)
    pusher_inputs = [e for e in store.get_events_by_execution_ids([pusher_id])
                     if e.type == mlmd.Event.INPUT and e.path.steps[0].key == "model"]
    model_id = pusher_inputs[0].artifact_id
    trainer_id = next(e.execution_id for e in store.get_events_by_artifact_ids([model_id])
                      if e.type == mlmd.Event.OUTPUT)
    trainer = store.get_executions_by_id([trainer_id])[0]
    graph_ids = [e.artifact_id for e in store.get_events_by_execution_ids([trainer_id])
                 if e.type == mlmd.Event.INPUT and e.path.steps[0].key == "transform_graph"]
    config = json.loads(_props(trainer, "custom_config") or "{}")
    destination = _props(pushed, "pushed_destination")
    return {"model_dir": destination,
            "transform_graph": store.get_artifacts_by_id(graph_ids)[0].uri,
            "model": config.get("model"), "model_args": config.get("model_args") or {},
            "spec": config.get("spec"), "source": os.path.basename(destination)}


def _already_trained(root: str, spans: List[int]):
    """The newest finished run (evaluated) of `root` if it trained on exactly `spans`, else
    None."""
    if not os.path.exists(os.path.join(root, "metadata.sqlite")):
        return None
    from pipeline.reporting.runs import list_runs
    finished = [e for e in list_runs(root) if e.report.blessed is not None]
    if finished and finished[0].report.spans == list(spans):
        return finished[0]
    return None


@dataclasses.dataclass(frozen=True)
class RetrainOptions:
    """`retrain`: a run on the newest span(s), from the last pushed model with `warm_start`;
    `force` retrains spans an earlier run already trained on."""
    run: RunOptions
    warm_start: bool = False
    force: bool = False
    # seconds another run may hold the root's lock before this one fails (exit 4) instead of
    # stepping aside (exit 3): a hung holder then shows as a failed scheduled run
    lock_timeout: float = None  # None: LOCK_TIMEOUT_S
    # train on a span that drifted from the last trained one (the drift is recorded and logged)
    allow_drift: bool = False


def retrain_unlocked(options: RetrainOptions, out=print) -> RetrainResult:
    """One retraining run (the caller holds the root's lock): see the module docstring."""
    from pipeline.run import run_pipeline
    from pipeline.spans import find_span_input
    run = options.run
    if not run.data:
        raise SystemExit("retrain needs --data: a folder of span-<N>/ folders or a {SPAN} pattern")
    span_input = find_span_input(run.data, run.window, run.span_range)
    if span_input is None:
        raise SystemExit(f"--data {run.data}: retrain reads spans: give a folder of span-<N>/ "
                         f"folders or a pattern with {{SPAN}} or {{YYYY}}-{{MM}}-{{DD}}")
    done = _already_trained(run.root, span_input.spans)
    if done is not None and not options.force:
        # A cold rerun would be a full cache hit; a warm one would train the last pushed model on
        # the same spans a second time. Neither is wanted from a schedule.
        out(f"Nothing to do: span(s) {', '.join(map(str, span_input.spans))} already trained in "
            f"run {done.run_id} (blessed: {done.report.blessed}); --force retrains")
        return RetrainResult(report=done.report, spans=done.report.spans, seconds=0.0,
                             cached=[], skipped=True)
    warm_start = None
    if options.warm_start:
        warm_start = last_pushed_model(run.root)
        if warm_start is None:
            out("Warm start: nothing pushed yet in this root; training a fresh model")
    out(f"Spans available: {span_input.available[0]}..{span_input.available[-1]}; "
        f"training on {', '.join(map(str, span_input.spans))}")
    start = time.time()
    report = run_pipeline(run, warm_start=warm_start, allow_drift=options.allow_drift)
    seconds = time.time() - start
    result = RetrainResult(
        report=report, spans=report.spans, seconds=seconds,
        cached=[c.node_id for c in report.components if c.state == "CACHED"],
        warm_start=(report.training or {}).get("warm_start"))
    return result


def retrain(options: RetrainOptions, out=print) -> RetrainResult:
    """Takes `<root>/.lock` (pipeline.lock.RootLocked at once when another run holds it: nothing
    is done) and retrains."""
    from pipeline.lock import root_lock
    with root_lock(options.run.root, command=_command(options),
                   blocked_after=lock_timeout(options)):
        return retrain_unlocked(options, out)


def lock_timeout(options: RetrainOptions) -> float:
    return LOCK_TIMEOUT_S if options.lock_timeout is None else options.lock_timeout


def _command(options: RetrainOptions):
    run = options.run
    return (f"retrain --dataset {run.dataset} --data {run.data}"
            + (f" --window {run.window}" if run.window else "")
            + (" --warm-start" if options.warm_start else "")
            + (" --allow-drift" if options.allow_drift else ""))


def add_retrain_args(parser):
    """`retrain`'s options: the run options plus --warm-start (--root and --data required)."""
    from pipeline.options import add_run_args
    add_run_args(parser)
    parser.add_argument("--warm-start", action="store_true",
                        help="initialise from the last pushed model's weights (embedding rows "
                             "remapped by token; another model/feature set trains fresh)")
    parser.add_argument("--force", action="store_true",
                        help="run even when the newest finished run trained on the same spans")
    parser.add_argument("--allow-drift", action="store_true",
                        help="train even when the new span drifted from the last trained one "
                             "beyond the spec's drift thresholds (without it: exit "
                             f"{DRIFT_EXIT_STATUS}, before Transform)")
    parser.add_argument("--lock-timeout", type=float, default=LOCK_TIMEOUT_S, metavar="SECONDS",
                        help="when another run holds the root: exit 3 (skipped) if it has held "
                             "it for less than this, else exit 4 (failed: it may hang); "
                             f"default {LOCK_TIMEOUT_S} (6 h)")
    for action in parser._actions:
        if action.dest in ("root", "data"):
            action.required = True


def retrain_options(args) -> RetrainOptions:
    """The parsed `add_retrain_args` arguments."""
    from pipeline.options import run_options
    return RetrainOptions(run=run_options(args), warm_start=args.warm_start, force=args.force,
                          lock_timeout=args.lock_timeout, allow_drift=args.allow_drift)


def retrain_cli(options: RetrainOptions, out=print):
    """The CLI's retrain (run under the lock by pipeline.cli): the run summary, then the
    retraining verdict."""
    result = retrain_unlocked(options, out)
    if result.skipped:
        return result.report
    out(result.report.format(worst=3, timings=False))
    out("")
    out(result.format())
    return result.report
