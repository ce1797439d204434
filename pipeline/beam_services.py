"""Beam's portable path on one machine: a job service and an SDK worker pool, each in its own
process on loopback, for `--beam-mode portable`.

The pipeline's Beam components then submit their jobs with `--runner=PortableRunner` to the job
service (the Job API that Flink, Spark and Dataflow Runner v2 serve), and the job's bundles run in
SDK worker processes that the worker pool starts (`--environment_type=EXTERNAL`), not in the
process that runs the pipeline. Both services are Beam's own entry points:
`apache_beam.runners.portability.local_job_service_main` and
`apache_beam.runners.worker.worker_pool_main`.

    with portable_beam_services(log_dir) as services:
        beam_pipeline_args = services.pipeline_args()
        ...  # run the pipeline

Both services are stopped when the block ends, also on an error or Ctrl-C: each runs in its own
process group, which is sent SIGTERM and, if still alive after a grace period, SIGKILL (the pool's
SDK worker processes are in its group)."""
import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Dict, Iterator, List, Optional

HOST = "127.0.0.1"
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOB_SERVICE_MODULE = "apache_beam.runners.portability.local_job_service_main"
WORKER_POOL_MODULE = "apache_beam.runners.worker.worker_pool_main"
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
def _sigterm_as_keyboard_interrupt():
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
    with _sigterm_as_keyboard_interrupt():
        try:
            job_port, worker_port = free_port(), free_port()
            while worker_port == job_port:
                worker_port = free_port()
            started.append(start_service(
                "job service", [python, "-m", JOB_SERVICE_MODULE, "--port", str(job_port),
                                "--staging_dir", staging_dir],
                job_port, os.path.join(log_dir, "job_service.log"), env))
            started.append(start_service(
                "worker pool", [python, "-m", WORKER_POOL_MODULE,
                                "--service_port", str(worker_port)],
                worker_port, os.path.join(log_dir, "worker_pool.log"), env))
            for service in started:
                wait_until_ready(service, start_timeout)
            yield PortableServices(*started)
        finally:
            for service in reversed(started):
                stop_service(service)
            shutil.rmtree(staging_dir, ignore_errors=True)
