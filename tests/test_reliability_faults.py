"""Reliability, part B (issue 12): the data gate, faults (SIGKILL and resume, atomic pushes),
concurrency (the root lock), the clone a run executes, unusable roots, cache keys, Keras
selection and `make clean`. Part A (bad input) is tests/test_reliability.py.

Two pipeline runs on a tiny spec (400 rows, 2 training steps), shared by several assertions: a
run SIGKILLed in the Trainer and resumed, and a run on anomalous data stopped by the gate. The
rest is checked at function level."""
import json
import os
import pathlib
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from background_runs import register as register_background_run
from cli_testing import REPO

TINY_SPEC = """\
name: tiny_faults
format: csv
labels:
  - {name: label, column: label, task: binary}
dense: [n1, n2]
sparse: [{name: c1, max_categories: 40}, c2]
evaluation: {auc_threshold: 0.0, auc_change_threshold: -1.0}
split: {train: 4, eval: 1}
"""


def _write_csv(path, rows=400, seed=0, bad=False):
    """label depends on c1 and n1; `bad`: 150 distinct c1 values (the spec allows 40). (Text in
    a dense column or a missing label are rejected before any component by the input checks of
    part A; the gate's own test of those anomalies is test_gate_executor_fails_...)"""
    rng = random.Random(seed)
    with open(path, "w") as f:
        f.write("label,n1,n2,c1,c2\n")
        for i in range(rows):
            c1 = rng.randrange(150 if bad else 20)
            n1 = rng.randrange(10)
            label = int((c1 % 3 == 0) ^ (n1 > 7) ^ (rng.random() < 0.1))
            f.write(f"{label},{n1},{rng.random():.4f},id{c1},s{rng.randrange(5)}\n")


def _env(**extra):
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def _cli(root, data, spec, *extra):
    return [sys.executable, "-m", "pipeline", "run", "--dataset", spec, "--data", data,
            "--root", root, "--model", "DeepFM", "--model-arg", "dnn_hidden_units=(8,)",
            "--train-steps", "2", "--eval-steps", "1", "--batch-size", "32", *extra]


# -- pipeline runs ---------------------------------------------------------------------------

def _tiny(folder):
    """(folder, the tiny spec, a good CSV, an anomalous CSV), written under `folder`."""
    base = pathlib.Path(folder)
    spec = base / "tiny_faults.yaml"
    spec.write_text(TINY_SPEC)
    good, bad = base / "good", base / "bad"
    good.mkdir()
    bad.mkdir()
    _write_csv(good / "rows.csv")
    _write_csv(bad / "rows.csv", bad=True)
    return base, str(spec), str(good / "rows.csv"), str(bad / "rows.csv")


def run_killed_and_resumed(folder):
    """Run 1 is SIGKILLed (with its whole process group) once the Trainer has started; run 2,
    same command and root, must complete (a background run: tests/background_runs.py)."""
    base, spec, good, _ = _tiny(folder)
    root = str(base / "root")
    started = time.time()
    proc = subprocess.Popen(_cli(root, good, spec), cwd=REPO, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    seen = []
    killed_in = None
    for line in proc.stdout:
        seen.append(line)
        if "Trainer" in line and "running" in line:
            time.sleep(3)  # inside run_fn: building the model or training
            os.killpg(proc.pid, signal.SIGKILL)
            killed_in = "Trainer"
            break
    proc.wait(timeout=60)
    proc.stdout.close()
    assert killed_in == "Trainer", "".join(seen)
    first_seconds = time.time() - started
    assert not os.path.isdir(os.path.join(root, "serving")) or not [
        n for n in os.listdir(os.path.join(root, "serving")) if n.isdigit()]
    result = subprocess.run(_cli(root, good, spec), cwd=REPO, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1800)
    return root, proc.returncode, result, first_seconds


def run_on_anomalous_data(folder):
    """The tiny spec's run on the anomalous CSV (a background run: tests/background_runs.py)."""
    base, spec, _, bad = _tiny(folder)
    root = str(base / "bad_root")
    return root, subprocess.run(_cli(root, bad, spec), cwd=REPO, env=_env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1800)


register_background_run("killed_and_resumed", run_killed_and_resumed)
register_background_run("anomalous_run", run_on_anomalous_data)


@pytest.fixture(scope="module")
def killed_and_resumed(background):
    from pipeline.reporting.summary import read_run
    root, killed_status, result, first_seconds = background.result("killed_and_resumed")
    report = read_run(os.path.join(root, "metadata.sqlite"), "ctr_tiny_faults")
    return root, killed_status, result, report, first_seconds


@pytest.fixture(scope="module")
def anomalous_run(background):
    return background.result("anomalous_run")


@pytest.mark.pipeline
def test_a_run_killed_in_the_trainer_resumes_from_the_cache(killed_and_resumed):
    root, killed_status, resumed, report, _ = killed_and_resumed
    assert killed_status == -signal.SIGKILL
    assert resumed.returncode == 0, resumed.stdout
    states = {c.node_id: c.state for c in report.components}
    # everything the killed run finished is reused, the killed Trainer runs again
    for node in ("CsvExampleGen", "StatisticsGen", "SchemaGen", "CurateSchema",
                 "ExampleValidator", "Transform"):
        assert states[node] == "CACHED", report.format()
    assert states["Trainer"] == states["Evaluator"] == states["Pusher"] == "COMPLETE"
    assert report.blessed is True and report.pushed_model


@pytest.mark.pipeline
def test_the_resumed_run_pushes_one_complete_version_and_no_leftovers(killed_and_resumed):
    root, _, _, report, _ = killed_and_resumed
    serving = os.path.join(root, "serving")
    assert os.listdir(serving) == [os.path.basename(report.pushed_model)]  # no .incoming-*
    assert os.path.isfile(os.path.join(report.pushed_model, "saved_model.pb"))
    assert os.listdir(os.path.join(report.pushed_model, "variables"))
    # MLMD: the killed Trainer execution never completed and produced no model
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = os.path.join(root, "metadata.sqlite")
    store = metadata_store.MetadataStore(config)
    types = {t.id: t.name for t in store.get_execution_types()}
    trainers = [e for e in store.get_executions() if types[e.type_id].endswith(".Trainer")]
    states = [metadata_store_pb2.Execution.State.Name(e.last_known_state) for e in trainers]
    assert len(trainers) == 2 and states.count("COMPLETE") == 1, states
    models = store.get_artifacts_by_type("Model")
    live = [m for m in models if m.state == metadata_store_pb2.Artifact.LIVE]
    assert [m.uri for m in live] == [report.model_uri]


@pytest.mark.pipeline
def test_anomalies_stop_the_run_before_transform_naming_them(anomalous_run):
    root, result = anomalous_run
    assert result.returncode == 1, result.stdout
    failed = [line for line in result.stdout.splitlines() if "ExampleValidator" in line
              and "AnomaliesFound: data anomalies, training stopped:" in line]
    assert failed, result.stdout
    # the full message (in the log) names every anomalous feature and what was found
    log = open(os.path.join(result.stdout.split("Full log: ")[1].split()[0])).read()
    assert re.search(r"train/c1: High number of unique values \(Expected no more than 40 "
                     r"unique values but found 1[0-4]\d\.\)", log), log[-3000:]
    assert "--allow-anomalies" in log
    from pipeline.reporting.summary import read_run
    report = read_run(os.path.join(root, "metadata.sqlite"), "ctr_tiny_faults")
    ran = {c.node_id for c in report.components}
    assert not ran & {"Transform", "Trainer", "Evaluator", "Pusher"}, report.format()
    assert not os.path.exists(os.path.join(root, "serving"))


# -- the gate, at function level ---------------------------------------------------------------

def _curated_anomalies(frame, spec):
    import tensorflow_data_validation as tfdv
    from components.schema import curate
    stats = tfdv.generate_statistics_from_dataframe(frame)
    schema = curate(tfdv.infer_schema(stats, infer_feature_shape=True), spec)
    return stats, schema, tfdv.validate_statistics(stats, schema)


def test_gate_executor_fails_only_without_the_override(tmp_path):
    """The gate's executor on statistics with anomalies: raises naming them; TFX's own
    executor (what --allow-anomalies selects) records them and goes on."""
    import pandas as pd
    from tfx.components.example_validator import executor as tfx_validator
    from tfx.types import standard_artifacts
    from tfx.utils import io_utils
    from components import validation
    from components.dataset_spec import DatasetSpec
    spec = DatasetSpec.from_dict({"name": "t", "labels": [{"name": "label", "column": "y"}],
                                  "dense": ["n"], "sparse": [{"name": "c", "max_categories": 3}]})
    clean = pd.DataFrame({"y": [0, 1] * 20, "n": list(range(40)), "c": ["a", "b"] * 20})
    stats, schema, anomalies = _curated_anomalies(clean, spec)
    assert not anomalies.anomaly_info
    bad = pd.DataFrame({"y": [0, 1] * 20, "n": ["x"] * 40, "c": [f"v{i}" for i in range(40)]})
    import tensorflow_data_validation as tfdv
    bad_stats = tfdv.generate_statistics_from_dataframe(bad)

    def artifacts(name):
        statistics = standard_artifacts.ExampleStatistics()
        statistics.uri = str(tmp_path / name / "stats")
        statistics.split_names = '["train"]'
        os.makedirs(os.path.join(statistics.uri, "Split-train"))
        with open(os.path.join(statistics.uri, "Split-train", "FeatureStats.pb"), "wb") as f:
            f.write(bad_stats.SerializeToString())
        schema_artifact = standard_artifacts.Schema()
        schema_artifact.uri = str(tmp_path / name / "schema")
        io_utils.write_pbtxt_file(os.path.join(schema_artifact.uri, "schema.pbtxt"), schema)
        out = standard_artifacts.ExampleAnomalies()
        out.uri = str(tmp_path / name / "anomalies")
        return ({"statistics": [statistics], "schema": [schema_artifact]},
                {"anomalies": [out]}, {"exclude_splits": "[]"})

    with pytest.raises(validation.AnomaliesFound) as raised:
        validation.Executor().Do(*artifacts("gated"))
    message = str(raised.value)
    assert "train/n: Unexpected data type (Expected data of type: INT but got STRING)" in message
    assert "train/c: High number of unique values (Expected no more than 3 unique values but " \
           "found 40.)" in message
    assert "--allow-anomalies" in message
    tfx_validator.Executor().Do(*artifacts("allowed"))  # the override: recorded, no error
    assert os.path.isfile(str(tmp_path / "allowed" / "anomalies" / "Split-train" /
                              "SchemaDiff.pb"))


def test_pipeline_gates_by_default_and_the_flag_selects_tfx_validator():
    from components import validation
    pipeline_gated, _ = _pipeline()
    pipeline_allowed, _ = _pipeline(allow_anomalies=True)
    gated = _node(pipeline_gated, "ExampleValidator")
    allowed = _node(pipeline_allowed, "ExampleValidator")
    assert gated.executor_spec.executor_class is validation.Executor
    assert allowed.executor_spec.executor_class is not validation.Executor
    # Transform waits for the gate even though it does not read the anomalies
    assert "ExampleValidator" in {n.id for n in _node(pipeline_gated, "Transform").upstream_nodes}


# -- cache keys: each component gets what it reads --------------------------------------------

def _pipeline(spec_changes=None, allow_anomalies=False):
    from components.dataset_spec import load_spec
    from pipeline.pipeline import RunPaths, TrainingConfig, create_pipeline
    import dataclasses
    spec = load_spec("criteo")
    if spec_changes:
        spec = dataclasses.replace(spec, evaluation=dataclasses.replace(spec.evaluation,
                                                                        **spec_changes))
    paths = RunPaths("/nonexistent/root")
    pipeline = create_pipeline(spec, "/nonexistent/data", paths, TrainingConfig(train_steps=2),
                               input_pattern="*.csv", allow_anomalies=allow_anomalies)
    return pipeline, spec


def _node(pipeline, node_id):
    return next(c for c in pipeline.components if c.id == node_id)


def test_a_new_threshold_reruns_only_the_evaluator_and_pusher():
    base, _ = _pipeline()
    changed, spec = _pipeline({"auc_threshold": 0.7, "auc_change_threshold": -0.05})
    for node in ("CurateSchema", "Transform", "Trainer"):
        assert _node(base, node).exec_properties == _node(changed, node).exec_properties, node
    for node in ("Transform", "Trainer"):  # the gates and slices are the Evaluator's
        config = json.loads(_node(base, node).exec_properties["custom_config"])["spec"]
        assert "evaluation" not in config and "auc_threshold" not in config["labels"][0], node
        from components.dataset_spec import spec_from_config
        assert spec_from_config(config).raw_columns == spec.raw_columns  # still a whole spec
    assert (_node(base, "Evaluator").exec_properties["eval_config"]
            != _node(changed, "Evaluator").exec_properties["eval_config"])


def test_curate_schema_cache_key_follows_its_code():
    from pipeline.pipeline import SCHEMA_SOURCES, code_version
    base, _ = _pipeline()
    assert "components/schema.py" in SCHEMA_SOURCES
    assert _node(base, "CurateSchema").exec_properties["code_version"] == code_version(
        SCHEMA_SOURCES)
    assert code_version(SCHEMA_SOURCES) != code_version(("components/dataset_spec.py",))


# -- pushes -------------------------------------------------------------------------------------

def _fake_model(path, tag):
    os.makedirs(os.path.join(path, "variables"))
    with open(os.path.join(path, "saved_model.pb"), "w") as f:
        f.write(tag)
    with open(os.path.join(path, "variables", "variables.index"), "w") as f:
        f.write(tag)


def _tree(path):
    out = {}
    for dirpath, _, names in os.walk(path):
        for n in names:
            with open(os.path.join(dirpath, n)) as f:
                out[os.path.relpath(os.path.join(dirpath, n), path)] = f.read()
    return out


def test_two_pushes_in_one_second_get_two_versions_and_never_overwrite(tmp_path):
    from components.pusher import push_atomically
    serving = str(tmp_path / "serving")
    _fake_model(str(tmp_path / "a"), "model a")
    _fake_model(str(tmp_path / "b"), "model b")
    v1, p1 = push_atomically(str(tmp_path / "a"), serving, now=1_700_000_000)
    v2, p2 = push_atomically(str(tmp_path / "b"), serving, now=1_700_000_000)
    assert (v1, v2) == ("1700000000", "1700000001")
    assert _tree(p1) == {"saved_model.pb": "model a", "variables/variables.index": "model a"}
    assert _tree(p2)["saved_model.pb"] == "model b"
    # a clock that went backwards still gives a newer version
    v3, _ = push_atomically(str(tmp_path / "a"), serving, now=1_000)
    assert v3 == "1700000002"
    assert sorted(os.listdir(serving)) == ["1700000000", "1700000001", "1700000002"]


def test_a_push_killed_mid_copy_leaves_no_version_and_is_cleaned_up(tmp_path, monkeypatch):
    from components import pusher
    serving = str(tmp_path / "serving")
    _fake_model(str(tmp_path / "m"), "m")

    def dies_after_the_variables(src, dst, **kwargs):
        os.makedirs(os.path.join(dst, "variables"))
        raise KeyboardInterrupt  # stands in for SIGKILL halfway through the copy

    monkeypatch.setattr(pusher.io_utils, "copy_dir", dies_after_the_variables)
    with pytest.raises(KeyboardInterrupt):
        pusher.push_atomically(str(tmp_path / "m"), serving)
    assert [n for n in os.listdir(serving) if n.isdigit()] == []  # no half-written version
    os.makedirs(os.path.join(serving, ".incoming-deadbeef", "variables"))  # as after SIGKILL
    monkeypatch.undo()
    version, path = pusher.push_atomically(str(tmp_path / "m"), serving)
    assert os.listdir(serving) == [version]
    assert _tree(path)["saved_model.pb"] == "m"


def test_pusher_executor_records_the_version_it_wrote(tmp_path):
    """TFX's executor skipped the copy when the second's folder existed and still recorded
    a push there; ours pushes beside it and records the new folder in MLMD properties."""
    from tfx.proto import pusher_pb2
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils
    from components.pusher import Executor
    serving = str(tmp_path / "serving")
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    _fake_model(os.path.join(model.uri, "Format-Serving"), "new")
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", 1)
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=serving))
    now = str(int(time.time()))
    _fake_model(os.path.join(serving, now), "old")  # a push earlier in this second
    for extra in range(2):
        _fake_model(os.path.join(serving, str(int(now) + 1 + extra)), "old")
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    Executor().Do({"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]},
                  {"push_destination": proto_utils.proto_to_json(destination)})
    version = pushed.get_string_custom_property("pushed_version")
    assert int(version) >= int(now) + 3
    assert pushed.get_string_custom_property("pushed_destination") == os.path.join(serving,
                                                                                    version)
    assert _tree(os.path.join(serving, version))["saved_model.pb"] == "new"
    assert _tree(os.path.join(serving, now))["saved_model.pb"] == "old"
    # not blessed: nothing pushed
    blessing.set_int_custom_property("blessed", 0)
    before = sorted(os.listdir(serving))
    Executor().Do({"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]},
                  {"push_destination": proto_utils.proto_to_json(destination)})
    assert sorted(os.listdir(serving)) == before
    assert pushed.get_int_custom_property("pushed") == 0


# -- concurrency and unusable roots -------------------------------------------------------------

@pytest.mark.parametrize("command", [
    ["run"], ["demo"], ["compare", "--models", "DeepFM,DCN"], ["retrain", "--data", "/none"],
    ["train-local"]])
def test_every_command_that_writes_a_root_refuses_a_held_root(tmp_path, capsys, command):
    from pipeline.cli import main
    from pipeline.lock import root_lock
    root = str(tmp_path / "root")
    with root_lock(root, command="the other run"):
        status = main(command[:1] + ["--root", root] + command[1:])
    assert status == 3
    err = capsys.readouterr().err
    assert f"rror: {root} is in use by another run (pid {os.getpid()}" in err
    assert "command: the other run); nothing done." in err


def test_an_unwritable_root_is_refused_before_any_work(tmp_path, capsys):
    from pipeline.cli import main
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    root = str(blocker / "root")
    assert main(["run", "--root", root]) == 2
    err = capsys.readouterr().err
    assert f"rror: run root {root} is not writable (Not a directory" in err
    assert "nothing done. Choose another --root" in err


def test_a_full_root_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    from pipeline import lock
    from pipeline.cli import main
    monkeypatch.setattr(lock, "MIN_FREE_BYTES", 10 * 2**50)  # more than any disk has
    root = str(tmp_path / "root")
    assert main(["compare", "--root", root, "--models", "DeepFM"]) == 2
    err = capsys.readouterr().err
    assert f"rror: run root {root} has only " in err
    assert "MB free on its disk (a run needs at least 10737418240 MB); nothing done." in err
    assert not os.path.exists(os.path.join(root, "pipeline_root"))


# -- which clone runs ---------------------------------------------------------------------------

PROBE = """
import os, sys
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from tfx.utils import import_utils
import pipeline.pipeline  # create_pipeline's module; the CLI pins the clone the same way
from pipeline.clone import pin_this_clone
pin_this_clone()
out = {"main": __import__("components").CLONE_MARKER, "pid": os.getpid(),
       "run_fn": import_utils.import_func_from_module("components.trainer", "run_fn").__code__
                 .co_filename,
       "preprocessing_fn": import_utils.import_func_from_module(
           "components.transform", "preprocessing_fn").__code__.co_filename}

def marker(_):
    import components
    return getattr(components, "CLONE_MARKER", components.__file__)

opts = PipelineOptions(["--direct_running_mode=multi_processing", "--direct_num_workers=2"])
with beam.Pipeline(options=opts) as p:
    (p | beam.Create([1, 2]) | beam.Map(marker)
       | beam.Map(lambda m: open(os.environ["PROBE_OUT"] + "." + str(os.getpid()), "w").write(m)))
print("PROBE " + repr(out))
"""


def test_a_run_executes_the_code_of_its_own_clone_in_every_process(tmp_path):
    """A copy of the project (another clone) with a marker in `components`, run with the
    shared interpreter: the main process, TFX's module imports and Beam's multi_processing
    workers (started by the DirectRunner in their own processes) all import the copy."""
    clone = tmp_path / "clone_b"
    for package in ("pipeline", "components", "ctr_models"):
        shutil.copytree(os.path.join(REPO, package), clone / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    with open(clone / "components" / "__init__.py", "a") as f:
        f.write('\nCLONE_MARKER = "clone_b"\n')
    probe_out = str(tmp_path / "worker")
    env = _env(PROBE_OUT=probe_out)
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=str(clone), env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    out = eval(result.stdout.split("PROBE ")[-1].strip())  # our own repr of a dict of str
    assert out["main"] == "clone_b"
    assert out["run_fn"] == str(clone / "components" / "trainer.py")
    assert out["preprocessing_fn"] == str(clone / "components" / "transform.py")
    workers = [f for f in os.listdir(tmp_path) if f.startswith("worker.")]
    assert workers and all(open(tmp_path / f).read() == "clone_b" for f in workers)
    assert all(int(f.split(".")[1]) != out["pid"] for f in workers)  # other processes


def test_code_from_another_clone_is_refused_naming_both(tmp_path):
    from pipeline.clone import pin_this_clone
    clone_a, clone_b = tmp_path / "a", tmp_path / "b"
    for clone in (clone_a, clone_b):
        (clone / "pipeline").mkdir(parents=True)
        (clone / "pipeline" / "clone.py").write_text("")
        (clone / ".venv" / "bin").mkdir(parents=True)
    environ = {"PYTHONPATH": "/elsewhere"}
    # B's interpreter, started outside B: the venv's hook supplied A's code
    with pytest.raises(SystemExit, match=f"interpreter of the clone {clone_b}, but the project's "
                                         f"code was imported from {clone_a}"):
        pin_this_clone(str(clone_a), executable=str(clone_b / ".venv" / "bin" / "python"),
                       path=["/usr/lib/python3.11"], environ=environ)
    # started inside A (on sys.path): A's code, and A goes first on PYTHONPATH for subprocesses
    pin_this_clone(str(clone_a), executable=str(clone_a / ".venv" / "bin" / "python"),
                   path=[str(clone_a)], environ=environ)
    assert environ["PYTHONPATH"] == os.pathsep.join([str(clone_a), "/elsewhere"])


# -- Keras selection, make clean ----------------------------------------------------------------

def test_a_users_tf_use_legacy_keras_0_is_overridden(tmp_path):
    code = ("import pipeline.cli, os, tensorflow as tf; "
            "print('KERAS', os.environ['TF_USE_LEGACY_KERAS'], tf.keras.__name__, "
            "tf.keras.Model.__module__)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, text=True,
                            env=_env(TF_USE_LEGACY_KERAS="0"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=300)
    line = [x for x in result.stdout.splitlines() if x.startswith("KERAS")]
    assert line, result.stdout[-2000:]
    _, value, module, model_module = line[0].split()
    # Keras 2 (tf_keras), which TF-Transform's layers need, not Keras 3
    assert value == "1" and module.startswith("tf_keras") and model_module.startswith("tf_keras")


def test_make_clean_removes_the_venv_link_and_its_stamp(tmp_path):
    shutil.copy(os.path.join(REPO, "Makefile"), tmp_path)
    shutil.copy(os.path.join(REPO, "constraints.txt"), tmp_path)
    (tmp_path / "venv-cache").mkdir()
    os.symlink(tmp_path / "venv-cache", tmp_path / ".venv")
    (tmp_path / ".venv.stamp").write_text(str(tmp_path))
    result = subprocess.run(["make", "clean"], cwd=tmp_path, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=60)
    assert result.returncode == 0, result.stdout
    assert not os.path.lexists(tmp_path / ".venv")
    assert not os.path.exists(tmp_path / ".venv.stamp")
    assert (tmp_path / "venv-cache").is_dir()  # the shared venv itself stays
