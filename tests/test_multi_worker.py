"""Multi-worker training: the Trainer's run_fn in two local worker processes
(MultiWorkerMirroredStrategy over gRPC on 127.0.0.1) against one worker, on the shared end-to-end
run's Transform output; plus fast checks of the sharding, cluster and strategy helpers."""
import glob
import json
import os
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from components.trainer import auto_shard_policy, make_strategy, num_workers
from pipeline.train_local import cluster_tasks, latest_inputs, train_local
from pipeline_testing import serving_auc
from process_watch import ListeningSampler

TRAIN_STEPS = 60
BATCH = 256
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- fast checks ----------------------------------------------------------------------------

def test_auto_shard_policy_is_file_only_with_a_file_per_worker(tmp_path):
    for i in range(3):
        (tmp_path / f"part-{i}.gz").write_bytes(b"")
    pattern = [str(tmp_path / "*")]
    policy = tf.data.experimental.AutoShardPolicy
    assert auto_shard_policy(pattern, 2) == policy.FILE
    assert auto_shard_policy(pattern, 3) == policy.FILE
    assert auto_shard_policy(pattern, 4) == policy.DATA
    assert auto_shard_policy([str(tmp_path / "part-0.gz")], 2) == policy.DATA


def test_cluster_tasks_give_every_process_its_own_loopback_port():
    tasks = cluster_tasks("multi_worker", 3)
    assert [t["task"] for t in tasks] == [{"type": "worker", "index": i} for i in range(3)]
    addresses = tasks[0]["cluster"]["worker"]
    assert all(t["cluster"] == {"worker": addresses} for t in tasks)
    assert len(set(addresses)) == 3 and all(a.startswith("127.0.0.1:") for a in addresses)
    ps = cluster_tasks("parameter_server", 2)
    assert sorted((t["task"]["type"], t["task"]["index"]) for t in ps) == [
        ("chief", 0), ("ps", 0), ("worker", 0), ("worker", 1)]
    with pytest.raises(ValueError, match="mirrored"):
        cluster_tasks("mirrored", 2)


def test_strategies_without_a_cluster(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert num_workers(make_strategy("default")) == 1
    with pytest.raises(ValueError, match="'ps' and 'worker'"):
        make_strategy("parameter_server")
    with pytest.raises(ValueError, match="Unknown strategy 'horovod'"):
        make_strategy("horovod")


def test_train_local_needs_a_run_root_with_a_transform(tmp_path):
    with pytest.raises(SystemExit, match="no metadata.sqlite"):
        latest_inputs(str(tmp_path))


# ---- two workers against one (slow: worker processes train and export) ------------------------

def _resharded(examples, out_dir, train_files=2):
    """A copy of a transformed Examples artefact whose train split has `train_files` files (FILE
    sharding for two workers) and whose validation split keeps one (DATA sharding)."""
    from tfx.types import standard_artifacts
    copy = standard_artifacts.Examples()
    copy.uri = out_dir
    copy.split_names = examples.split_names
    for split, files in (("train", train_files), ("validation", 1)):
        records = list(tf.data.TFRecordDataset(
            glob.glob(os.path.join(examples.uri, f"Split-{split}", "*")),
            compression_type="GZIP").as_numpy_iterator())
        os.makedirs(os.path.join(out_dir, f"Split-{split}"))
        for i in range(files):
            path = os.path.join(out_dir, f"Split-{split}", f"part-{i:05d}-of-{files:05d}.gz")
            with tf.io.TFRecordWriter(path, "GZIP") as writer:
                for record in records[i::files]:
                    writer.write(record)
    return copy


def _eval_auc(model_dir, raw_examples):
    return serving_auc(model_dir, raw_examples.uri)


@pytest.fixture(scope="module")
def trained(e2e_run, tmp_path_factory, monkeypatch_module):
    _, _, paths, _ = e2e_run
    out = tmp_path_factory.mktemp("multi_worker")
    # Worker processes inherit TMPDIR: their scratch SavedModels must be gone from here after.
    scratch = out / "tmp"
    scratch.mkdir()
    monkeypatch_module.setenv("TMPDIR", str(scratch))
    # One worker through the CLI (the run root's latest Transform output, found in MLMD), started
    # first and left running beside the two workers: the three processes spend much of their
    # time starting up and waiting on each other, so together they take less than one after the
    # other. Each writes only under its own --out.
    cli = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "train-local", "--root", paths.root, "--workers", "1",
         "--train-steps", str(TRAIN_STEPS), "--eval-steps", "4", "--batch-size", str(BATCH),
         "--out", str(out / "one")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Two workers, the train split in two files (sharded by FILE), eval in one (by DATA).
        inputs = latest_inputs(paths.root)
        inputs["transformed_examples"] = [_resharded(inputs["transformed_examples"][0],
                                                     str(out / "examples"))]
        # the workers' listening sockets, sampled while they run (see the test that reads them)
        with ListeningSampler(is_worker=lambda command: "--worker" in command) as sampler:
            two = train_local(paths.root, workers=2, out_dir=str(out / "two"),
                              train_steps=TRAIN_STEPS, eval_steps=4,
                              overrides={"batch_size": BATCH}, inputs=inputs, timeout=900)
        two["listening"] = sampler.sockets
        stdout, stderr = cli.communicate(timeout=900)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    cli = subprocess.CompletedProcess(cli.args, cli.returncode, stdout, stderr)
    return cli, two, out, scratch, inputs["raw_examples"][0]


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.mark.pipeline
def test_one_worker_through_the_cli(trained):
    cli, _, out, _, _ = trained
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "strategy default: 1 worker(s), 1 replica(s) in sync" in cli.stdout, cli.stdout
    assert f"{TRAIN_STEPS} steps x global batch {BATCH}" in cli.stdout, cli.stdout
    with open(out / "one" / "model_run" / "training_summary.json") as f:
        summary = json.load(f)
    assert (summary["strategy"], summary["replicas"], summary["workers"]) == ("default", 1, 1)
    assert summary["auto_shard_policy"] is None


@pytest.mark.pipeline
def test_both_workers_finish_and_only_the_chief_writes(trained):
    _, two, out, scratch, _ = trained
    assert [(r[0]["task"]["index"], r[1]) for r in two["results"]] == [(0, 0), (1, 0)]
    summary = two["summary"]
    assert (summary["strategy"], summary["replicas"], summary["workers"]) == (
        "multi_worker", 2, 2)
    assert summary["auto_shard_policy"] == {"train": "FILE", "validation": "DATA"}
    # batch_size is the global batch: the requested steps and examples, not twice as many
    assert (summary["train_steps"], summary["batch_size"]) == (TRAIN_STEPS, BATCH)
    assert len(summary["history"]["loss"]) == summary["epochs"] == 1
    # one SavedModel and one summary in the whole output: no stray worker copies
    run_dir = out / "two"
    assert sorted(glob.glob(str(run_dir / "**" / "saved_model.pb"), recursive=True)) == [
        str(run_dir / "model" / "Format-Serving" / "saved_model.pb")]
    assert glob.glob(str(run_dir / "**" / "training_summary.json"), recursive=True) == [
        str(run_dir / "model_run" / "training_summary.json")]
    assert os.listdir(run_dir / "model") == ["Format-Serving"]
    # worker 1 did export (MWMS needs every worker to save), into a scratch folder since removed
    assert "exporting the SavedModel" in open(two["results"][1][2]).read()
    assert glob.glob(str(scratch / "ctr-worker-savedmodel-*")) == []


@pytest.mark.pipeline
def test_progress_lines_report_one_workers_metrics_not_their_sum(trained):
    _, two, _, _, _ = trained
    with open(two["results"][0][2]) as f:
        steps = [line.split() for line in f if " step " in line and " auc " in line]
    assert steps
    for words in steps:
        assert 0.0 <= float(words[words.index("auc") + 1]) <= 1.0, words


@pytest.mark.pipeline
def test_two_workers_take_the_requested_steps_and_score_like_one(trained):
    _, two, out, _, raw_examples = trained
    loaded = tf.saved_model.load(two["model_dir"])
    assert int(loaded.optimizer.iterations.numpy()) == TRAIN_STEPS
    auc_one, n = _eval_auc(str(out / "one" / "model" / "Format-Serving"), raw_examples)
    auc_two, _ = _eval_auc(two["model_dir"], raw_examples)
    assert n > 1500
    assert auc_one > 0.6 and auc_two > 0.6, (auc_one, auc_two)
    assert abs(auc_two - auc_one) < 0.03, (auc_one, auc_two)


@pytest.mark.pipeline
def test_the_workers_servers_listened_where_no_other_machine_reaches(trained):
    """Issue 23 item 1: TensorFlow's gRPC servers bind every interface (TF has no bind-address
    option), so the cluster runs in a network namespace whose only interface is `lo`: while the
    two workers trained, both listened, and nothing of theirs was reachable from outside."""
    from process_watch import reachable_from_outside
    sockets = trained[1]["listening"]
    assert len({pid for pid, *_ in sockets}) == 2, sockets
    assert reachable_from_outside(sockets) == [], sockets


@pytest.mark.pipeline
def test_a_killed_train_local_cli_leaves_no_process(e2e_run, tmp_path):
    """Issue 23 item 1: after a `kill -9` of `train-local --workers 2` (once its supervisor has
    started both workers; killed before they train, so this costs little more than the CLI's
    start-up), no process of its tree is left a few seconds later."""
    from process_watch import descendants, wait_until_gone
    _, _, paths, _ = e2e_run
    cli = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "train-local", "--root", paths.root, "--workers", "2",
         "--train-steps", "1000000", "--out", str(tmp_path / "killed")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while len([p for p in descendants(cli.pid) if "--worker" in " ".join(p.cmdline())]) < 2:
            assert cli.poll() is None, cli.stdout.read().decode(errors="replace")
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.2)
        pids = [p.pid for p in descendants(cli.pid)]
        assert len(pids) == 4  # the CLI, the supervisor, two workers
        cli.kill()
        cli.wait()
        assert wait_until_gone(pids, timeout=5) == []
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
