"""`python -m pipeline train-local --root R --workers 2`: the Trainer's `run_fn` on the latest
Transform output of a run root, in N local worker processes that train one model together
(MultiWorkerMirroredStrategy over gRPC on 127.0.0.1), the way a cluster would run the Trainer.

Each worker is a process of its own (`python -m pipeline.train_local --worker CONFIG`) with its
TF_CONFIG ({"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}}) set before
TensorFlow starts; it rebuilds the Trainer's FnArgs from the Transform artefacts (the same
`fn_args_utils.get_common_fn_args` the Trainer executor uses) and calls `run_fn`. The model, the
training settings and the steps default to the root's latest Trainer execution (MLMD), so one
and two workers can be compared on the same data and steps. Output (not recorded in MLMD):
<out>/model/Format-Serving (the chief's SavedModel), <out>/model_run/training_summary.json,
<out>/logs/<task>-<i>.log.

`--strategy parameter_server` runs one coordinator (`chief`, which calls run_fn), `--workers`
workers and one parameter server; workers and the parameter server only serve
(`tf.distribute.Server`) and are stopped when the coordinator is done.

TensorFlow's gRPC server has no bind-address option: it listens on every interface (and accepts
remote ops, file reads and writes included). A cluster therefore runs inside a supervisor process
(`python -m pipeline.train_local --supervise JOB`) that first moves into a network namespace of
its own whose only interface is loopback (pipeline.lifeline.enter_private_network), then starts
the workers there: nothing they open is reachable from outside it. Where the system forbids
namespaces the supervisor says so in the log and runs the cluster anyway (README, Reliability).
The supervisor exits when the CLI does, taking its process group (the workers) with it, and
each worker exits when the supervisor does."""
import argparse
import datetime
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Dict, List, Optional

from components.dataset_spec import TRAIN_SPLIT, VALIDATION_SPLIT
from pipeline.lifeline import PARENT_PID_ENV, enter_private_network, exit_with_parent

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRANSFORM_TYPE = "tfx.components.transform.component.Transform"
TRAINER_TYPE = "tfx.components.trainer.component.Trainer"
SUMMARY_FILE = "training_summary.json"
# Trainer settings a caller may override (custom_config keys).
OVERRIDABLE = ("model", "model_args", "batch_size", "learning_rate", "epochs", "jit_compile")


def free_ports(count: int) -> List[int]:
    """`count` distinct free TCP ports on 127.0.0.1 (held open together, so all differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def cluster_tasks(strategy: str, workers: int) -> List[Dict]:
    """One TF_CONFIG per process, on free loopback ports. multi_worker: `workers` workers (worker
    0 is the chief); parameter_server: a coordinator (chief), `workers` workers and one ps."""
    if strategy == "multi_worker":
        jobs = {"worker": workers}
    elif strategy == "parameter_server":
        jobs = {"chief": 1, "worker": workers, "ps": 1}
    else:
        raise ValueError(f"--strategy {strategy!r}: several processes need multi_worker or "
                         f"parameter_server")
    ports = iter(free_ports(sum(jobs.values())))
    cluster = {job: [f"127.0.0.1:{next(ports)}" for _ in range(n)] for job, n in jobs.items()}
    return [{"cluster": cluster, "task": {"type": job, "index": i}}
            for job, n in jobs.items() for i in range(n)]


def _store(root):
    from pipeline.reporting.metadata import open_store
    path = os.path.join(root, "metadata.sqlite")
    if not os.path.exists(path):
        raise SystemExit(f"--root {root}: no metadata.sqlite (not a run root?)")
    return open_store(path)


def _latest_execution(store, type_name):
    from ml_metadata.proto import metadata_store_pb2
    done = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)
    try:
        executions = store.get_executions_by_type(type_name)
    except Exception:  # the type is unknown to this store: no such component ever ran
        executions = []
    executions = [e for e in executions if e.last_known_state in done]
    return max(executions, key=lambda e: (e.create_time_since_epoch, e.id)) if executions else None


def _artifacts_by_key(store, execution, event_type):
    """{event key: [TFX Artifact]} for the artefacts `execution` read (INPUT) or wrote (OUTPUT)."""
    from tfx.types import artifact_utils, standard_artifacts  # noqa: F401 (registers the types)
    events = [e for e in store.get_events_by_execution_ids([execution.id])
              if e.type == event_type]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    types = {t.id: t for t in store.get_artifact_types_by_id(
        list({a.type_id for a in artifacts.values()}))}
    out = {}
    for event in events:
        key = next(step.key for step in event.path.steps if step.key)
        artifact = artifacts[event.artifact_id]
        out.setdefault(key, []).append(
            artifact_utils.deserialize_artifact(types[artifact.type_id], artifact))
    return out


def _json_property(execution, name, default=None):
    value = execution.custom_properties.get(name)
    return json.loads(value.string_value) if value is not None and value.string_value else default


def latest_inputs(root: str) -> Dict:
    """What the Trainer of `root`'s latest pipeline run read, from MLMD: the latest completed
    Transform's transformed examples, transform graph and schema, the raw examples it read, and
    the latest Trainer's custom_config and train/eval steps (None when no Trainer ran yet)."""
    from ml_metadata.proto import metadata_store_pb2
    store = _store(root)
    transform = _latest_execution(store, TRANSFORM_TYPE)
    if transform is None:
        raise SystemExit(f"--root {root}: no completed Transform in its metadata: run "
                         f"`python -m pipeline run --root {root}` first")
    outputs = _artifacts_by_key(store, transform, metadata_store_pb2.Event.OUTPUT)
    inputs = _artifacts_by_key(store, transform, metadata_store_pb2.Event.INPUT)
    trainer = _latest_execution(store, TRAINER_TYPE)
    custom_config = dict(_json_property(transform, "custom_config", {}))
    train_steps = eval_steps = None
    if trainer is not None:
        custom_config = dict(_json_property(trainer, "custom_config", {}))
        train_steps = _json_property(trainer, "train_args", {}).get("num_steps")
        eval_steps = _json_property(trainer, "eval_args", {}).get("num_steps")
    return {"transformed_examples": outputs["transformed_examples"],
            "transform_graph": outputs["transform_graph"], "schema": inputs["schema"],
            "raw_examples": inputs["examples"], "custom_config": custom_config,
            "train_steps": train_steps, "eval_steps": eval_steps}


def worker_config(inputs: Dict, out_dir: str, train_steps: int, eval_steps: int,
                  custom_config: Dict) -> Dict:
    """What every worker process needs (JSON-serialisable: TFX artefacts as JSON)."""
    from tfx.utils import json_utils
    return {"artifacts": json_utils.dumps({"examples": inputs["transformed_examples"],
                                           "transform_graph": inputs["transform_graph"],
                                           "schema": inputs["schema"]}),
            "train_steps": int(train_steps), "eval_steps": int(eval_steps),
            "custom_config": custom_config,
            "model_uri": os.path.join(out_dir, "model"),
            "model_run_dir": os.path.join(out_dir, "model_run")}


def fn_args_from_config(config: Dict):
    """The Trainer executor's FnArgs for `config` (see worker_config)."""
    from tfx.components.trainer import fn_args_utils
    from tfx.proto import trainer_pb2
    from tfx.utils import json_utils, path_utils, proto_utils
    input_dict = json_utils.loads(config["artifacts"])
    exec_properties = {
        # the pipeline's Trainer's splits (pipeline/pipeline.py): fit on train, early stopping
        # and per-epoch metrics on validation; the test split is the Evaluator's alone
        "train_args": proto_utils.proto_to_json(trainer_pb2.TrainArgs(
            splits=[TRAIN_SPLIT], num_steps=config["train_steps"])),
        "eval_args": proto_utils.proto_to_json(trainer_pb2.EvalArgs(
            splits=[VALIDATION_SPLIT], num_steps=config["eval_steps"])),
        "custom_config": json_utils.dumps(config["custom_config"])}
    fn_args = fn_args_utils.get_common_fn_args(input_dict, exec_properties)
    fn_args.serving_model_dir = path_utils.serving_model_dir(config["model_uri"])
    fn_args.model_run_dir = config["model_run_dir"]
    fn_args.transform_output = fn_args.transform_graph_path
    return fn_args


def run_worker(config: Dict):
    """One process of the cluster in TF_CONFIG (or the only one when there is none): the
    parameter-server strategy's workers and ps serve until stopped; everyone else runs run_fn."""
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task_type = tf_config.get("task", {}).get("type")
    if config["custom_config"].get("strategy") == "parameter_server" and task_type in ("worker",
                                                                                       "ps"):
        import tensorflow as tf
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        server = tf.distribute.Server(resolver.cluster_spec(), job_name=resolver.task_type,
                                      task_index=resolver.task_id, protocol="grpc", start=True)
        server.join()
        return
    from components.trainer import run_fn
    run_fn(fn_args_from_config(config))


def launch(config: Dict, tasks: List[Optional[Dict]], log_dir: str, timeout: float = 1800):
    """Runs one worker process per TF_CONFIG in `tasks` (None: no TF_CONFIG) on `config`; waits
    for the processes that train (all but parameter-server workers/ps), then stops the rest.
    Returns [(task, exit code, log path)]; a failure or the timeout stops every process.
    A cluster (several tasks) runs in a supervisor process in a private network namespace."""
    os.makedirs(log_dir, exist_ok=True)
    config_path = os.path.join(log_dir, "worker_config.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    if tasks == [None]:
        return start_and_wait(config, config_path, tasks, log_dir, timeout)
    job_path = os.path.join(log_dir, "cluster_job.json")
    results_path = os.path.join(log_dir, "cluster_results.json")
    with open(job_path, "w") as f:
        json.dump({"config_path": config_path, "tasks": tasks, "log_dir": log_dir,
                   "timeout": timeout, "results_path": results_path}, f)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO_ROOT] + [p for p in os.environ.get(
        "PYTHONPATH", "").split(os.pathsep) if p]), **{PARENT_PID_ENV: str(os.getpid())})
    log_path = os.path.join(log_dir, "supervisor.log")
    with open(log_path, "w") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "pipeline.train_local", "--supervise", job_path], env=env,
            cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)  # its group: the supervisor and the workers
    try:
        code = supervisor.wait()
    finally:
        if supervisor.poll() is None:  # Ctrl-C here: the supervisor stops its workers
            supervisor.terminate()
            supervisor.wait()
    if code != 0 or not os.path.exists(results_path):
        raise RuntimeError(f"the cluster supervisor exited with status {code}: see {log_path}\n"
                           f"{_tail(log_path)}")
    with open(results_path) as f:
        return [tuple(result) for result in json.load(f)]


def supervise(job_path: str) -> None:
    """The cluster supervisor's process: a private network, then the workers (launch)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with open(job_path) as f:
        job = json.load(f)
    try:
        enter_private_network()  # before any thread starts (unshare needs one thread)
        logging.info("the cluster runs in a network namespace whose only interface is lo")
    except OSError as error:
        logging.warning("no private network namespace (%s): the workers' TensorFlow gRPC servers "
                        "listen on every interface of this machine", error)
    exit_with_parent()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    with open(job["config_path"]) as f:
        config = json.load(f)
    results = start_and_wait(config, job["config_path"], job["tasks"], job["log_dir"],
                             job["timeout"])
    with open(job["results_path"], "w") as f:
        json.dump(results, f)


def start_and_wait(config: Dict, config_path: str, tasks: List[Optional[Dict]], log_dir: str,
                   timeout: float):
    """launch's work, in this process: the worker processes, started and waited for."""
    serving_only = config["custom_config"].get("strategy") == "parameter_server"
    procs = []
    for task in tasks:
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1",
                   PYTHONPATH=os.pathsep.join([REPO_ROOT] + [p for p in os.environ.get(
                       "PYTHONPATH", "").split(os.pathsep) if p]),
                   **{PARENT_PID_ENV: str(os.getpid())})  # a worker exits when this one does
        env.pop("TF_CONFIG", None)
        name = "worker-0"
        if task is not None:
            env["TF_CONFIG"] = json.dumps(task)
            name = f"{task['task']['type']}-{task['task']['index']}"
        log_path = os.path.join(log_dir, f"{name}.log")
        log = open(log_path, "w")
        proc = subprocess.Popen([sys.executable, "-m", "pipeline.train_local", "--worker",
                                 config_path], env=env, cwd=REPO_ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
        log.close()
        waits = not (serving_only and task and task["task"]["type"] in ("worker", "ps"))
        procs.append((task, proc, log_path, waits))
    deadline = time.time() + timeout
    try:
        while any(p.poll() is None for _, p, _, waits in procs if waits):
            if any(p.poll() not in (None, 0) for _, p, _, _ in procs):
                break  # one failed: the others would wait for it forever
            if time.time() > deadline:
                logging.error("workers still running after %.0f s: stopping them", timeout)
                break
            time.sleep(0.5)
    finally:
        for _, proc, _, _ in procs:
            if proc.poll() is None:
                proc.terminate()
        for _, proc, _, _ in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return [(task, proc.returncode, log_path) for task, proc, log_path, _ in procs]


def train_local(root: str, workers: int = 2, strategy: Optional[str] = None,
                out_dir: Optional[str] = None, train_steps: Optional[int] = None,
                eval_steps: Optional[int] = None, overrides: Optional[Dict] = None,
                timeout: float = 1800, inputs: Optional[Dict] = None) -> Dict:
    """Trains on `root`'s latest Transform output (or `inputs`, shaped like latest_inputs') with
    `workers` local processes (strategy: multi_worker for several, default for one, or
    parameter_server) and returns
    {"summary": training summary, "out_dir", "model_dir", "results": [(task, exit code, log)]}.
    Raises RuntimeError naming the failed task and its log when a process fails."""
    if workers < 1:
        raise SystemExit(f"--workers {workers}: give at least 1")
    strategy = strategy or ("multi_worker" if workers > 1 else "default")
    root = os.path.abspath(root)
    inputs = inputs or latest_inputs(root)
    custom_config = dict(inputs["custom_config"])
    if "spec" not in custom_config:
        raise SystemExit(f"--root {root}: the latest Transform has no dataset spec in its "
                         f"custom_config")
    custom_config.update({k: v for k, v in (overrides or {}).items() if v is not None})
    unknown = set(overrides or {}) - set(OVERRIDABLE)
    if unknown:
        raise ValueError(f"cannot override {sorted(unknown)}: only {OVERRIDABLE}")
    custom_config.setdefault("model", "DeepFM")
    custom_config["strategy"] = strategy
    train_steps = train_steps or inputs["train_steps"] or 100
    eval_steps = eval_steps or inputs["eval_steps"] or 50
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = os.path.abspath(out_dir or os.path.join(root, "train_local", f"{stamp}-{workers}w"))
    config = worker_config(inputs, out_dir, train_steps, eval_steps, custom_config)
    tasks = cluster_tasks(strategy, workers) if (workers > 1 or strategy ==
                                                  "parameter_server") else [None]
    results = launch(config, tasks, os.path.join(out_dir, "logs"), timeout=timeout)
    serving_only = strategy == "parameter_server"
    failed = [(task, code, log) for task, code, log in results
              if code != 0 and not (serving_only and task["task"]["type"] in ("worker", "ps"))]
    if failed:  # the first that failed by itself, not one stopped because of it
        task, code, log = sorted(failed, key=lambda r: r[1] < 0)[0]
        name = "the worker" if task is None else f"{task['task']['type']} {task['task']['index']}"
        how = (f"exited with status {code}" if code > 0 else
               f"was stopped by signal {-code} (not done after --timeout {timeout:.0f} s, or "
               f"killed)")
        raise RuntimeError(f"{name} {how}: see {log}\n{_tail(log)}")
    with open(os.path.join(config["model_run_dir"], SUMMARY_FILE)) as f:
        summary = json.load(f)
    return {"summary": summary, "out_dir": out_dir, "results": results,
            "model_dir": os.path.join(config["model_uri"], "Format-Serving")}


def _tail(path, lines=15):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def format_result(result: Dict) -> str:
    """What the CLI prints: the cluster, the steps and batch, speed, final metrics, paths."""
    s = result["summary"]
    lines = [f"Trained {s['model']} with strategy {s['strategy']}: {s['workers']} worker(s), "
             f"{s['replicas']} replica(s) in sync"
             + (f", input sharded by {s['auto_shard_policy']}" if s.get("auto_shard_policy")
                else ""),
             f"{s.get('steps_run', s['train_steps'])} steps x global batch {s['batch_size']} in "
             f"{s['train_seconds']} s ({s['examples_per_second']:,.0f} examples/s)"
             + (f"; stopped early after epoch {stop['stopped_epoch']} of {s['epochs']}"
                if (stop := s.get("early_stopping") or {}).get("stopped_epoch") else "")
             + (f", kept epoch {stop['best_epoch']}" if stop.get("best_epoch") else "")]
    for label, task in s.get("tasks", {}).items():
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in task.items()
                            if k.startswith(("train_", "validation_")))
        lines.append(f"{label}: {metrics}")
    lines.append(f"Model: {result['model_dir']}")
    lines.append(f"Summary: {os.path.join(result['out_dir'], 'model_run', SUMMARY_FILE)}")
    lines.append(f"Worker logs: {os.path.join(result['out_dir'], 'logs')}")
    return "\n".join(lines)


def add_args(parser):
    parser.add_argument("--root", required=True, help="run root with a completed Transform")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes")
    parser.add_argument("--strategy", choices=["multi_worker", "parameter_server", "default"],
                        help="default: multi_worker for several workers, default for one")
    parser.add_argument("--model", help="model name (default: the latest Trainer's)")
    parser.add_argument("--train-steps", type=int, help="default: the latest Trainer's")
    parser.add_argument("--eval-steps", type=int, help="default: the latest Trainer's")
    parser.add_argument("--batch-size", type=int,
                        help="GLOBAL batch, split between workers (default: the latest Trainer's)")
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--out", help="output folder (default: <root>/train_local/<time>-<n>w)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for the workers")


def main_from_args(args, out=print):
    result = train_local(args.root, workers=args.workers, strategy=args.strategy,
                         out_dir=args.out, train_steps=args.train_steps,
                         eval_steps=args.eval_steps, timeout=args.timeout,
                         overrides={"model": args.model, "batch_size": args.batch_size,
                                    "learning_rate": args.learning_rate})
    out(format_result(result))
    return result


def _worker_main(config_path):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    exit_with_parent()
    with open(config_path) as f:
        run_worker(json.load(f))


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__)
    role = cli.add_mutually_exclusive_group(required=True)
    role.add_argument("--worker", help="worker config JSON (written by launch)")
    role.add_argument("--supervise", help="cluster job JSON (written by launch)")
    parsed = cli.parse_args()
    if parsed.supervise:
        supervise(parsed.supervise)
    else:
        _worker_main(parsed.worker)
