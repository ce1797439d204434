"""What a run root's ML-Metadata store recorded: its runs, each run's component executions (node,
state, times), their output artefacts and the Trainer's configuration. Read-only: nothing here
writes to the store."""
import dataclasses
import json
import os
from typing import Dict, List, Optional, Tuple

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

METADATA_FILE = "metadata.sqlite"  # in a run root (pipeline.pipeline.RunPaths)
STATE_NAMES = {v: k for k, v in metadata_store_pb2.Execution.State.items()}


@dataclasses.dataclass
class ComponentRun:
    """One component's execution in a run, with ML-Metadata's times (ms since the epoch)."""
    node_id: str
    state: str  # COMPLETE, CACHED, FAILED, ... (STATE_NAMES)
    started_ms: int
    ended_ms: int  # the execution's last update

    @property
    def seconds(self) -> float:
        return (self.ended_ms - self.started_ms) / 1000.0

    @property
    def started(self) -> float:
        """Seconds since the epoch."""
        return self.started_ms / 1000.0

    @property
    def ended(self) -> float:
        """Seconds since the epoch."""
        return self.ended_ms / 1000.0


def open_store(metadata_path: str) -> metadata_store.MetadataStore:
    """The SQLite store at `metadata_path`, opened read-only."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def root_metadata_path(root: str) -> str:
    """The metadata store of run root `root`; exits with a message when there is none."""
    path = os.path.join(root, METADATA_FILE)
    if not os.path.exists(path):
        raise SystemExit(f"{root}: no {METADATA_FILE} (not a run root?)")
    return path


def latest_run(store, pipeline_name: str, run_id: Optional[str] = None):
    """The newest pipeline_run context of `pipeline_name` (or the one named `run_id`); ValueError
    when there is none."""
    runs = [c for c in store.get_contexts_by_type("pipeline_run")
            if run_id is None or c.name == run_id]
    pipeline_ctx = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline_ctx is not None:
        members = {e.id for e in store.get_executions_by_context(pipeline_ctx.id)}
        runs = [r for r in runs
                if any(e.id in members for e in store.get_executions_by_context(r.id))]
    if not runs:
        raise ValueError(f"No run {run_id or ''} of pipeline {pipeline_name!r} in the metadata "
                         f"store")
    return max(runs, key=lambda c: (c.create_time_since_epoch, c.id))


def latest_run_id(metadata_path: str, since_ms: int = 0) -> Optional[str]:
    """The newest run of any pipeline recorded in `metadata_path` that started at or after
    `since_ms` (epoch ms); None when there is none (or no store yet)."""
    if not os.path.exists(metadata_path):
        return None
    runs = [r for r in open_store(metadata_path).get_contexts_by_type("pipeline_run")
            if r.create_time_since_epoch >= since_ms]
    return max(runs, key=lambda r: (r.create_time_since_epoch, r.id)).name if runs else None


def runs_by_pipeline(store) -> List[Tuple[str, object]]:
    """[(pipeline name, pipeline_run context)] for every run in the store."""
    out = []
    for pipeline in store.get_contexts_by_type("pipeline"):
        members = {e.id for e in store.get_executions_by_context(pipeline.id)}
        for run in store.get_contexts_by_type("pipeline_run"):
            if any(e.id in members for e in store.get_executions_by_context(run.id)):
                out.append((pipeline.name, run))
    return out


def pipeline_of_run(store, run_id: str) -> Optional[str]:
    """The name of the pipeline that ran `run_id`; None when the store has no such run."""
    return next((name for name, run in runs_by_pipeline(store) if run.name == run_id), None)


def run_executions(store, run) -> list:
    """The executions of a pipeline_run context, in the order they started."""
    return sorted(store.get_executions_by_context(run.id),
                  key=lambda e: (e.create_time_since_epoch, e.id))


def node_id(store, execution) -> str:
    """The pipeline node (component id) that ran `execution`."""
    for ctx in store.get_contexts_by_execution(execution.id):
        if store.get_context_types_by_id([ctx.type_id])[0].name == "node":
            return ctx.name.split(".", 1)[-1]
    return str(execution.type)


def component_runs(store, executions) -> List[ComponentRun]:
    """One ComponentRun per execution, in the given order."""
    return [ComponentRun(node_id(store, e),
                         STATE_NAMES.get(e.last_known_state, str(e.last_known_state)),
                         e.create_time_since_epoch, e.last_update_time_since_epoch)
            for e in executions]


# execution states whose outputs are written in full (a RUNNING execution's declared outputs
# are being written: a reader running beside a run must not read them)
FINISHED_STATES = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)


def output_artifacts(store, executions) -> Dict[str, list]:
    """output key -> artefacts, across the given executions that finished (COMPLETE or
    CACHED): what a running or failed execution declared may be half-written."""
    ids = [e.id for e in executions if e.last_known_state in FINISHED_STATES]
    events = [ev for ev in store.get_events_by_execution_ids(ids)
              if ev.type in (metadata_store_pb2.Event.OUTPUT,
                             metadata_store_pb2.Event.DECLARED_OUTPUT)]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([ev.artifact_id for ev in events])}
    by_key = {}
    for ev in events:
        key = ev.path.steps[0].key if ev.path.steps else ""
        by_key.setdefault(key, []).append(artifacts[ev.artifact_id])
    return by_key


def artifact_property(artifact, name):
    """An artefact's custom property `name` (int or string), None when it has none."""
    if name in artifact.custom_properties:
        value = artifact.custom_properties[name]
        return value.int_value if value.HasField("int_value") else value.string_value
    return None


def trainer_config(executions) -> dict:
    """The Trainer's custom_config (model, arguments, spec) from its execution properties; {}
    when none of `executions` is a Trainer's."""
    for execution in executions:
        for props in (execution.custom_properties, execution.properties):
            if "custom_config" in props and "run_fn" in props:
                try:
                    return json.loads(props["custom_config"].string_value)
                except ValueError:
                    return {}
    return {}


def input_base(store, run) -> str:
    """The input folder that the run's ExampleGen read ('' when not recorded)."""
    for execution in store.get_executions_by_context(run.id):
        if "input_base" in execution.properties:
            return execution.properties["input_base"].string_value
        if "input_base" in execution.custom_properties:
            return execution.custom_properties["input_base"].string_value
    return ""


def trained_spans(store, executions) -> List[int]:
    """The span numbers of the Examples that Transform (hence the Trainer) read, when ExampleGen
    read a span-based input (pipeline/spans.py: it then has a RangeConfig; its driver records
    the resolved pattern, without the span spec); else []."""
    span_based, transform = False, []
    for e in executions:
        node = node_id(store, e)
        ranges = e.custom_properties.get("range_config")
        if "ExampleGen" in node and ranges is not None and ranges.string_value.strip():
            span_based = True
        if node == "Transform":
            transform.append(e.id)
    if not span_based or not transform:
        return []
    ids = [ev.artifact_id for ev in store.get_events_by_execution_ids(transform)
           if ev.type == metadata_store_pb2.Event.INPUT and ev.path.steps
           and ev.path.steps[0].key == "examples"]
    spans = (artifact_property(a, "span") for a in store.get_artifacts_by_id(ids))
    return sorted({int(span) for span in spans if span is not None})


def last_trained_statistics(metadata_path: str, pipeline_name: str) -> Optional[dict]:
    """The statistics of the last span a model was trained on: the StatisticsGen output of the
    newest run of `pipeline_name` whose Trainer finished (COMPLETE, or CACHED: the model was the
    same), as {"uri", "run_id", "span"} (span: the newest span that run trained on, None for
    input without spans); None when no run of the pipeline trained a model yet. A run stopped
    before training (by a data gate, or killed) is passed over."""
    if not os.path.exists(metadata_path):
        return None
    store = open_store(metadata_path)
    runs = sorted((run for name, run in runs_by_pipeline(store) if name == pipeline_name),
                  key=lambda r: (r.create_time_since_epoch, r.id), reverse=True)
    for run in runs:
        executions = run_executions(store, run)
        outputs = output_artifacts(store, executions)
        if outputs.get("model") and outputs.get("statistics"):
            spans = trained_spans(store, executions)
            return {"uri": outputs["statistics"][-1].uri, "run_id": run.name,
                    "span": spans[-1] if spans else None}
    return None
