"""`python -m pipeline run --beam-mode portable` end to end on the bundled Criteo sample: the Beam
components' jobs go to a Beam job service the CLI starts, their bundles run in SDK worker
processes of a worker pool it starts, the run summary is the usual one, the model is pushed, and
no service or worker process outlives the run."""
import glob
import os
import re
import subprocess
import sys

import pytest
from background_runs import register as register_background_run

pytestmark = pytest.mark.pipeline

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--beam-mode", "portable", "--train-steps", "60", "--eval-steps", "2",
        "--batch-size", "256", "--learning-rate", "3e-3",
        "--model-arg", "dnn_hidden_units=(64,32)", "--model-arg", "l2_reg_embedding=1e-3"]
# The criteo spec with a lower AUC gate: this test is about the runner, and the pushed model is
# part of its check; 60 unseeded steps scored eval AUC 0.62 on the sample's 206 eval rows, too
# close to the spec's 0.6 for a test that must not flake. No slices either: nothing here checks
# them (the e2e and README runs do), and each is more metrics for the Evaluator's Beam job.
AUC_GATE = 0.55
COMPONENTS = ["CsvExampleGen", "StatisticsGen", "SchemaGen", "CurateSchema", "ExampleValidator",
              "Transform", "Trainer", "latest_blessed_model_resolver", "Evaluator", "Pusher"]
# the components whose executors run Beam pipelines (each submits at least one job)
BEAM_COMPONENTS = ["CsvExampleGen", "StatisticsGen", "Transform", "Evaluator"]


def _process_groups():
    """{pid: process group id} of every live (non-zombie) process."""
    groups = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            groups[int(stat.split("/")[2])] = int(fields[2])
    return groups


def run_portable(base):
    """The run's output, the services' logs and the processes alive right after it (a
    background run: tests/background_runs.py; the fixture reads the run's summary)."""
    import pathlib
    root = os.path.join(base, "run")
    spec = pathlib.Path(base) / "criteo.yaml"
    with open(os.path.join(REPO, "data", "specs", "criteo.yaml")) as f:
        text = f.read()
    assert "auc_threshold: 0.6," in text and "\nslices: [C6, C9]\n" in text
    spec.write_text(text.replace("auc_threshold: 0.6,", f"auc_threshold: {AUC_GATE},")
                    .replace("\nslices: [C6, C9]\n", "\nslices: []\n"))
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONUNBUFFERED="1")
    result = subprocess.run([sys.executable, "-m", "pipeline", "run", "--root", root,
                             "--dataset", str(spec), *ARGS],
                            cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=2400)
    logs = {name: open(os.path.join(root, "logs", "beam_services", f"{name}.log")).read()
            for name in ("job_service", "worker_pool")}
    run_log = open(_path_after("Full log", result.stdout)).read()
    return dict(root=root, code=result.returncode, output=result.stdout, logs=logs,
                run_log=run_log, groups_after=_process_groups())


register_background_run("portable_run", run_portable)


@pytest.fixture(scope="module")
def portable_run(background):
    from pipeline.reporting.summary import read_run
    run = background.result("portable_run")
    return dict(run, report=read_run(os.path.join(run["root"], "metadata.sqlite"), "ctr_criteo"))


def _path_after(label, output):
    match = re.search(rf"^{label}: (\S+)$", output, re.MULTILINE)
    assert match, (label, output)
    return match.group(1)


def test_every_component_ran_and_the_model_was_pushed(portable_run):
    assert portable_run["code"] == 0, portable_run["output"]
    report = portable_run["report"]
    assert sorted(c.node_id for c in report.components) == sorted(COMPONENTS)
    assert {c.state for c in report.components} == {"COMPLETE"}
    assert report.overall["auc"] >= AUC_GATE
    assert report.blessed is True and report.pushed_model
    assert os.path.isfile(os.path.join(report.pushed_model, "saved_model.pb"))
    # artifacts land in the run root's pipeline_root, as with the DirectRunner
    pipeline_root = os.path.join(portable_run["root"], "pipeline_root")
    for component in BEAM_COMPONENTS:
        assert os.listdir(os.path.join(pipeline_root, component)), component
    assert glob.glob(os.path.join(pipeline_root, "CsvExampleGen", "examples", "*", "Split-train",
                                  "*.gz"))
    assert glob.glob(os.path.join(pipeline_root, "Transform", "transformed_examples", "*",
                                  "Split-train", "*.gz"))


def test_the_console_shows_a_line_per_component_and_the_summary(portable_run):
    output = portable_run["output"]
    for component in COMPONENTS:
        assert re.search(rf"^\[\s*\d+:\d\d\] {component}\s+done", output, re.MULTILINE), component
    assert "Evaluation (test split):" in output and "Blessed: True" in output


def test_the_beam_work_went_through_the_job_service_and_the_worker_pool(portable_run):
    job_service, worker_pool = portable_run["logs"]["job_service"], portable_run["logs"]["worker_pool"]
    jobs = re.findall(r"Running job '(job-[0-9a-f-]+)'", job_service)
    done = re.findall(r"Completed job in [\d.]+ seconds with state DONE", job_service)
    assert len(jobs) >= len(BEAM_COMPONENTS) and len(done) == len(jobs)
    # every job asked the worker pool for a worker, which started an SDK worker process for that
    # job's control server (an EXTERNAL environment: the job service runs no bundle itself)
    control_ports = re.findall(r"starting control server on port (\d+)", job_service)
    assert len(control_ports) == len(jobs)
    started = re.findall(r"Starting SDK worker \S+ for control server localhost:(\d+) ",
                         worker_pool)
    assert sorted(started) == sorted(control_ports)


def test_no_service_or_worker_process_is_left(portable_run):
    pids = [int(p) for p in re.findall(r"Started (?:job service|worker pool) \(pid (\d+)\)",
                                       portable_run["run_log"])]
    assert len(pids) == 2
    groups = portable_run["groups_after"]
    # each service led its own process group; the SDK workers were in the worker pool's
    assert not [pid for pid, group in groups.items() if pid in pids or group in pids]
