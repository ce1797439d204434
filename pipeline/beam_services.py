"""Beam's portable path on one machine: a job service and an SDK worker pool, each in its own
process on loopback, for `--beam-mode portable`.

The pipeline's Beam components then submit their jobs with `--runner=PortableRunner` to the job
service (the Job API that Flink, Spark and Dataflow Runner v2 serve), and the job's bundles run in
SDK worker processes that the worker pool starts (`--environment_type=EXTERNAL`), not in the
process that runs the pipeline. The services run this module (`python -m pipeline.beam_services
job-service|worker-pool`): Beam's job service (`local_job_service_main.run`) and an SDK worker
pool of our own, because Beam's (`worker_pool_main`) binds every interface and pastes the text of
each StartWorker request into a `python -c` command. Here every gRPC server listens on 127.0.0.1
(pipeline.lifeline.bind_grpc_servers_to_loopback: also the artifact staging, control, data, state
and logging servers that the job service opens per job), the pool starts each SDK worker as
`python -m pipeline.beam_services sdk-worker` with the request's loopback control endpoint and
worker id as checked arguments, and every service and worker exits when its parent does (a
`kill -9` of the CLI leaves nothing running: pipeline.lifeline.exit_with_parent).

    with portable_beam_services(log_dir) as services:
        beam_pipeline_args = services.pipeline_args()
        ...  # run the pipeline

Both services are stopped when the block ends, also on an error or Ctrl-C: each runs in its own
process group, which is sent SIGTERM and, if still alive after a grace period, SIGKILL (the pool's
SDK worker processes are in its group)."""
import argparse
import contextlib
import dataclasses
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterator, List, Optional

from pipeline.lifeline import (
    PARENT_PID_ENV, bind_grpc_servers_to_loopback, exit_with_parent, is_loopback_endpoint)

HOST = "127.0.0.1"
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THIS_MODULE = "pipeline.beam_services"
# an SDK worker id as Beam's job service makes them ("worker_12"); anything else is refused
WORKER_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
# the longest a Beam job (one component's Beam pipeline) may run; see pipeline_args
JOB_SERVER_TIMEOUT_S = 24 * 3600


class ServiceStartError(RuntimeError):
    """A service exited or did not accept connections in time; the message has its log's tail."""


@dataclasses.dataclass
class Service:
    name: str
    process: subprocess.Popen
    port: int
    log_path: str

    @property
    def endpoint(self) -> str:
        return f"{HOST}:{self.port}"


@dataclasses.dataclass
class PortableServices:
    job_service: Service
    worker_pool: Service

    @property
    def services(self) -> List[Service]:
        return [self.job_service, self.worker_pool]

    def pipeline_args(self) -> List[str]:
        """Beam options that send a pipeline to these services."""
        return ["--runner=PortableRunner",
                f"--job_endpoint={self.job_service.endpoint}",
                # PortableRunner applies this timeout (default 60 s) to the job's state stream
                # too: a job running longer (Transform does) would fail with DEADLINE_EXCEEDED.
                f"--job_server_timeout={JOB_SERVER_TIMEOUT_S}",
                "--environment_type=EXTERNAL",
                f"--environment_config={self.worker_pool.endpoint}"]


def free_port(host: str = HOST) -> int:
    """A port nothing listens on now (the OS picks it; another process may still take it before
    the service binds it: the start then fails with the service's own error)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def accepts_connections(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(path: str, lines: int = 20) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:]).rstrip()
    except OSError:
        return "(no log)"


def service_env(base: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The services' environment: the project importable (the SDK workers unpickle the
    components' DoFns), tf_keras chosen before TensorFlow loads, and this interpreter's folder
    first on PATH (the worker pool starts SDK workers with a bare `python`)."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(
        [PROJECT_ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env["TF_USE_LEGACY_KERAS"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env[PARENT_PID_ENV] = str(os.getpid())  # the services exit when this process is gone
    return env


def start_service(name: str, command: List[str], port: int, log_path: str,
                  env: Dict[str, str]) -> Service:
    """Starts `command` in its own process group, stdout and stderr to `log_path`."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT,
                                   start_new_session=True)
    logging.info("Started %s (pid %d) on %s:%d, log %s", name, process.pid, HOST, port, log_path)
    return Service(name, process, port, log_path)


def wait_until_ready(service: Service, timeout: float) -> None:
    """Returns once `service` accepts connections on its port; raises ServiceStartError if it
    exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        code = service.process.poll()
        if code is not None:
            raise ServiceStartError(
                f"Beam {service.name} exited with status {code} before listening on "
                f"{service.endpoint}; {service.log_path} ends with:\n{log_tail(service.log_path)}")
        if accepts_connections(service.port):
            return
        if time.monotonic() > deadline:
            raise ServiceStartError(
                f"Beam {service.name} (pid {service.process.pid}) did not listen on "
                f"{service.endpoint} within {timeout:.0f} s; {service.log_path} ends with:\n"
                f"{log_tail(service.log_path)}")
        time.sleep(0.2)


def stop_service(service: Service, grace: float = 10.0) -> None:
    """SIGTERM to the service's process group, SIGKILL after `grace` seconds; reaps the leader."""
    pgid = service.process.pid  # start_new_session: the leader's pid is the group id
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break  # the whole group is gone
        deadline = time.monotonic() + wait
        while group_alive(service) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not group_alive(service):
            break
    else:
        logging.warning("Beam %s: process group %d still alive after SIGKILL", service.name, pgid)
    try:
        service.process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        logging.warning("Beam %s (pid %d) did not exit", service.name, service.process.pid)


def group_alive(service: Service) -> bool:
    """Whether any process of the service's group still exists (the leader, our child, is reaped
    first so that its zombie does not count)."""
    service.process.poll()
    try:
        os.killpg(service.process.pid, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.contextmanager
def sigterm_as_keyboard_interrupt():
    """A SIGTERM to this process ends the block like Ctrl-C does (so the services are stopped),
    where signal handlers can be set (the main thread)."""
    if sys.platform == "win32" or not _in_main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _in_main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def portable_beam_services(log_dir: str, start_timeout: float = 120.0,
                           python: str = sys.executable) -> Iterator[PortableServices]:
    """A Beam job service and an SDK worker pool on free loopback ports, logging to `log_dir`
    (job_service.log, worker_pool.log), ready when the block starts and stopped when it ends."""
    os.makedirs(log_dir, exist_ok=True)
    env = service_env()
    started: List[Service] = []
    # the jobs' staged artifacts (TFX adds an sdist of itself to every Beam job) are thrown away
    staging_dir = tempfile.mkdtemp(prefix="beam-staging-")
    with sigterm_as_keyboard_interrupt():
        try:
            job_port, worker_port = free_port(), free_port()
            while worker_port == job_port:
                worker_port = free_port()
            started.append(start_service(
                "job service", [python, "-m", THIS_MODULE, "job-service", "--port",
                                str(job_port), "--staging-dir", staging_dir],
                job_port, os.path.join(log_dir, "job_service.log"), env))
            started.append(start_service(
                "worker pool", [python, "-m", THIS_MODULE, "worker-pool", "--port",
                                str(worker_port)],
                worker_port, os.path.join(log_dir, "worker_pool.log"), env))
            for service in started:
                wait_until_ready(service, start_timeout)
            yield PortableServices(*started)
        finally:
            for service in reversed(started):
                stop_service(service)
            shutil.rmtree(staging_dir, ignore_errors=True)


# ---- the services' own processes (python -m pipeline.beam_services ...) ----------------------

def run_job_service(port: int, staging_dir: str) -> None:
    """Beam's local job service on 127.0.0.1:`port`, with every server it opens on loopback."""
    from apache_beam.runners.portability import local_job_service_main
    bind_grpc_servers_to_loopback()
    local_job_service_main.run(["--port", str(port), "--staging_dir", staging_dir])


def sdk_worker_command(control_url: str, worker_id: str) -> List[str]:
    """The command of one SDK worker; raises ValueError unless the control endpoint is on
    loopback and the worker id is a plain name (both come from a gRPC request)."""
    if not is_loopback_endpoint(control_url):
        raise ValueError(f"control endpoint {control_url!r} is not a loopback host:port")
    if not WORKER_ID.match(worker_id):
        raise ValueError(f"worker id {worker_id!r} is not a plain name")
    return [sys.executable, "-m", THIS_MODULE, "sdk-worker", "--control", control_url,
            "--worker-id", worker_id]


def worker_pool_servicer():
    """A BeamFnExternalWorkerPool servicer that starts SDK workers as child processes of this
    one (they are in its process group, and each exits when this process does)."""
    from apache_beam.portability.api import beam_fn_api_pb2, beam_fn_api_pb2_grpc

    class WorkerPool(beam_fn_api_pb2_grpc.BeamFnExternalWorkerPoolServicer):
        def __init__(self):
            self.workers: Dict[str, subprocess.Popen] = {}
            self.lock = threading.Lock()

        def StartWorker(self, request, context):
            try:
                command = sdk_worker_command(request.control_endpoint.url, request.worker_id)
            except ValueError as error:
                logging.error("StartWorker refused: %s", error)
                return beam_fn_api_pb2.StartWorkerResponse(error=str(error))
            env = dict(os.environ, **{PARENT_PID_ENV: str(os.getpid())})
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, env=env)
            logging.info("Starting SDK worker %s for control server %s (pid %d)",
                         request.worker_id, request.control_endpoint.url, process.pid)
            with self.lock:
                self.workers[request.worker_id] = process
            return beam_fn_api_pb2.StartWorkerResponse()

        def StopWorker(self, request, context):
            with self.lock:
                process = self.workers.pop(request.worker_id, None)
            if process is not None:
                logging.info("Stopping SDK worker %s", request.worker_id)
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            return beam_fn_api_pb2.StopWorkerResponse()

    return WorkerPool()


def run_worker_pool(port: int) -> None:
    """The SDK worker pool on 127.0.0.1:`port` until SIGTERM."""
    import grpc
    from apache_beam.portability.api import beam_fn_api_pb2_grpc
    server = grpc.server(ThreadPoolExecutor(max_workers=16), options=[
        ("grpc.http2.max_pings_without_data", 0), ("grpc.http2.max_ping_strikes", 0)])
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(
        worker_pool_servicer(), server)
    server.add_insecure_port(f"{HOST}:{port}")
    server.start()
    logging.info("Listening for worker requests on %s:%d", HOST, port)
    server.wait_for_termination()


def run_sdk_worker(control_url: str, worker_id: str) -> None:
    from apache_beam.runners.worker.sdk_worker import SdkHarness
    # Beam's worker pool's settings: no state cache, no time-based data buffering
    SdkHarness(control_url, worker_id=worker_id, state_cache_size=0,
               data_buffer_time_limit_ms=-1).run()


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {THIS_MODULE}", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    job = commands.add_parser("job-service")
    job.add_argument("--port", type=int, required=True)
    job.add_argument("--staging-dir", required=True)
    pool = commands.add_parser("worker-pool")
    pool.add_argument("--port", type=int, required=True)
    worker = commands.add_parser("sdk-worker")
    worker.add_argument("--control", required=True)
    worker.add_argument("--worker-id", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    exit_with_parent()
    # SIGTERM (stop_service) exits through Python, so that a service's own cleanup runs
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    if args.command == "job-service":
        run_job_service(args.port, args.staging_dir)
    elif args.command == "worker-pool":
        run_worker_pool(args.port)
    else:
        sdk_worker_command(args.control, args.worker_id)  # the same checks as the pool's
        run_sdk_worker(args.control, args.worker_id)


if __name__ == "__main__":
    main()
