"""Issue 23 item 7, readers beside a run: `report`, `runs` and `predict` read ML-Metadata while a
run may be writing it. They take outputs only from executions that finished (COMPLETE or
CACHED): a running execution's declared outputs (an evaluation, a pushed model) may be
half-written. `runs` marks a run with an unfinished component."""
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd

from pipeline.reporting.metadata import ComponentRun, output_artifacts
from pipeline.reporting.runs import unfinished


def _store_with_two_evaluations(tmp_path):
    """A store with an Evaluator execution that finished and one still running, each with an
    `evaluation` output."""
    config = mlmd.ConnectionConfig()
    config.sqlite.filename_uri = str(tmp_path / "metadata.sqlite")
    config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)
    artifact_type = store.put_artifact_type(mlmd.ArtifactType(name="ModelEvaluation"))
    execution_type = store.put_execution_type(mlmd.ExecutionType(name="Evaluator"))
    executions = []
    for state, uri in ((mlmd.Execution.COMPLETE, "/eval/done"),
                       (mlmd.Execution.RUNNING, "/eval/being-written")):
        [artifact_id] = store.put_artifacts([mlmd.Artifact(type_id=artifact_type, uri=uri)])
        [execution_id] = store.put_executions([mlmd.Execution(type_id=execution_type,
                                                              last_known_state=state)])
        event = mlmd.Event(artifact_id=artifact_id, execution_id=execution_id,
                           type=mlmd.Event.DECLARED_OUTPUT if state == mlmd.Execution.RUNNING
                           else mlmd.Event.OUTPUT)
        event.path.steps.add().key = "evaluation"
        store.put_events([event])
        executions += store.get_executions_by_id([execution_id])
    return store, executions


def test_outputs_of_a_running_execution_are_not_read(tmp_path):
    store, executions = _store_with_two_evaluations(tmp_path)
    assert [a.uri for a in output_artifacts(store, executions)["evaluation"]] == ["/eval/done"]


def test_runs_marks_a_run_with_an_unfinished_component():
    def report(*states):
        return type("Report", (), {"components": [ComponentRun(f"c{i}", s, 0, 0)
                                                  for i, s in enumerate(states)]})()
    assert unfinished(report("COMPLETE", "RUNNING"))
    assert not unfinished(report("COMPLETE", "CACHED", "FAILED"))
