"""`--orchestrator local|beam` and `--beam-arg`: how Beam options combine (fast), what the CLI
hands to the runner (the pipeline compiled to TFX's IR, no run), and one small run of the bundled
sample under TFX's BeamDagRunner through the CLI (the LocalDagRunner is the other pipeline tests'
runner). No second run for the cache: with a blessed first model the Evaluator reruns anyway
(its baseline is new), so it would cost a second Evaluator for little."""
import argparse
import os
import re

import pytest
import yaml
from background_runs import register as register_background_run
from cli_testing import run_cli

from pipeline.pipeline import combine_beam_args

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPONENTS = ["CsvExampleGen", "StatisticsGen", "SchemaGen", "CurateSchema", "ExampleValidator",
              "Transform", "Trainer", "latest_blessed_model_resolver", "Evaluator", "Pusher"]
BEAM_COMPONENTS = ["CsvExampleGen", "StatisticsGen", "Transform", "Evaluator"]


def test_user_beam_args_replace_defaults_of_the_same_name():
    defaults = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    assert combine_beam_args(defaults, None) == defaults
    assert combine_beam_args(defaults, ["--direct_num_workers=8", "--job_name=x"]) == [
        "--direct_running_mode=multi_processing", "--direct_num_workers=8", "--job_name=x"]
    # another runner: the DirectRunner's options go; repeated user options all stay, in order
    assert combine_beam_args(defaults, ["--runner=FlinkRunner", "--flink_master=h:8081",
                                        "--experiments=a", "--experiments=b"]) == [
        "--runner=FlinkRunner", "--flink_master=h:8081", "--experiments=a", "--experiments=b"]
    assert combine_beam_args(defaults, ["--runner=DirectRunner"]) == defaults + [
        "--runner=DirectRunner"]
    with pytest.raises(ValueError, match="'runner=X'"):
        combine_beam_args(defaults, ["runner=X"])


def test_progress_lines_come_from_either_runner():
    import io
    import logging
    from pipeline.progress import ComponentProgress
    console = io.StringIO()
    progress = ComponentProgress(console)
    for message in ["node CsvExampleGen is running.", "node CsvExampleGen is finished.",
                    "Component Pusher is running.", "A cached execution 7 is used.",
                    "Component Pusher is finished."]:
        progress.emit(logging.LogRecord("absl", logging.INFO, __file__, 1, message, None, None))
    progress.close()
    assert [f[0::2] for f in progress.finished] == [("CsvExampleGen", "done"),
                                                   ("Pusher", "cached")]


def _parse_run_args(*argv):
    from pipeline.options import add_run_args, run_options
    parser = argparse.ArgumentParser()
    add_run_args(parser)
    return run_options(parser.parse_args(list(argv)))


def test_cli_hands_the_runner_a_pipeline_whose_beam_components_get_the_beam_args(
        tmp_path, monkeypatch):
    """run_pipeline up to the runner: the chosen runner gets the pipeline; compiled to TFX's IR
    (what both runners execute), every Beam component's executor has the combined options."""
    from tfx.dsl.compiler import compiler
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
    from tfx.orchestration.local import runner_utils
    import pipeline.reporting.summary
    import pipeline.run
    assert isinstance(pipeline.run.dag_runner("beam"), BeamDagRunner)
    captured = {}

    class Recorder:
        def run(self, tfx_pipeline):
            captured["ir"] = compiler.Compiler().compile(tfx_pipeline)

    monkeypatch.setattr(pipeline.run, "dag_runner",
                        lambda orchestrator: captured.setdefault("runner", orchestrator)
                        and Recorder())
    monkeypatch.setattr(pipeline.reporting.summary, "read_run", lambda *a, **k: "summary")
    args = _parse_run_args("--orchestrator", "beam", "--root", str(tmp_path), "--train-steps", "3",
                           "--beam-mode", "multi_processing",
                           "--beam-arg=--direct_num_workers=3", "--beam-arg=--job_name=ctr-test")
    assert pipeline.run.run_pipeline(args) == "summary"
    assert captured["runner"] == "beam"
    config = runner_utils.extract_local_deployment_config(captured["ir"])
    for node in BEAM_COMPONENTS:
        beam_spec = runner_utils.extract_executor_spec(config, node)
        assert list(beam_spec.beam_pipeline_args) == [
            "--direct_running_mode=multi_processing", "--direct_num_workers=3",
            "--job_name=ctr-test"], node
    with pytest.raises(SystemExit):  # argparse: a Beam option must start with --
        _parse_run_args("--beam-arg=runner=FlinkRunner")
    with pytest.raises(SystemExit):
        _parse_run_args("--orchestrator", "airflow")


_cli = run_cli


def run_under_beam_orchestrator(tmp):
    """The bundled 2k-row sample, 5 training steps, under BeamDagRunner. The spec's AUC gate is
    lowered so that 5 steps are blessed and pushed, and it has no slices (this test checks the
    runner, not the metrics; the e2e and README runs check slices)."""
    from components.dataset_spec import SPEC_DIR
    with open(os.path.join(SPEC_DIR, "criteo.yaml")) as f:
        raw = yaml.safe_load(f)
    raw["evaluation"].update(auc_threshold=0.0, auc_change_threshold=-1.0)
    raw["slices"] = []
    spec_path = os.path.join(tmp, "criteo_any_auc.yaml")
    with open(spec_path, "w") as f:
        yaml.safe_dump(raw, f)
    root = os.path.join(tmp, "run")
    command = ["run", "--orchestrator", "beam", "--dataset", spec_path, "--root", root,
               "--data", os.path.join(REPO, "data", "samples", raw["sample"]),
               "--train-steps", "5", "--eval-steps", "1", "--batch-size", "64",
               "--beam-mode", "in_memory", "--beam-arg=--job_name=ctr-beam-orchestrator"]
    return (root, *_cli(*command))


register_background_run("beam_run", run_under_beam_orchestrator)


@pytest.fixture(scope="module")
def beam_run(background):
    """(root, exit status, output) of the run (a background run: tests/background_runs.py)."""
    return background.result("beam_run")


def _store(root):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = os.path.join(root, "metadata.sqlite")
    return metadata_store.MetadataStore(config)


@pytest.mark.pipeline
def test_beam_orchestrator_runs_every_component_and_pushes(beam_run):
    root, code, output = beam_run
    assert code == 0, output
    for component in COMPONENTS:  # one progress line per component, from BeamDagRunner's logs
        assert re.search(rf"\] {component} +done +[\d.]+ s", output), (component, output)
    assert re.search(r"^Blessed: True$", output, re.MULTILINE), output
    assert "Traceback" not in output
    # ML-Metadata: this run's executions, one per component, all complete
    from pipeline.reporting.summary import read_run
    run_id = re.search(r"^Pipeline ctr_criteo, run (\S+) ", output, re.MULTILINE).group(1)
    report = read_run(os.path.join(root, "metadata.sqlite"), "ctr_criteo", run_id)
    assert sorted(c.node_id for c in report.components) == sorted(COMPONENTS), report.format()
    assert {c.state for c in report.components} == {"COMPLETE"}, report.format()
    store = _store(root)
    pushed = [a for a in store.get_artifacts_by_type("PushedModel")
              if a.custom_properties["pushed"].int_value == 1]
    assert len(pushed) == 1
    destination = report.pushed_model
    assert destination in {a.custom_properties["pushed_destination"].string_value
                           for a in pushed}
    assert destination.startswith(os.path.join(root, "serving")) and os.path.isfile(
        os.path.join(destination, "saved_model.pb"))
    # the Beam options reached the components (BeamDagRunner logs its deployment config)
    log = re.search(r"^Full log: (\S+)$", output, re.MULTILINE).group(1)
    with open(log) as f:
        assert "--job_name=ctr-beam-orchestrator" in f.read()

