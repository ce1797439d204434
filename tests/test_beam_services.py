"""The portable-runner services' manager (pipeline/beam_services.py): ports, start-up errors, and
that every process it started is gone afterwards."""
import os
import signal
import socket
import sys
import time

import pytest

from pipeline import beam_services
from pipeline.beam_services import (
    PortableServices, Service, ServiceStartError, accepts_connections, free_port,
    portable_beam_services, service_env, start_service, stop_service, wait_until_ready)


def _alive(pid):
    """Whether `pid` runs (a zombie does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _python(tmp_path, name, code):
    """`code` as a service command; its log in tmp_path."""
    return [sys.executable, "-c", code], str(tmp_path / f"{name}.log")


def test_free_port_can_be_bound_on_loopback():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        assert accepts_connections(port)
    assert not accepts_connections(port)


def test_service_env_makes_the_project_importable_and_picks_tf_keras():
    env = service_env({"PATH": "/usr/bin", "PYTHONPATH": "/elsewhere"})
    assert env["PYTHONPATH"].split(os.pathsep) == [beam_services.PROJECT_ROOT, "/elsewhere"]
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    assert env["TF_USE_LEGACY_KERAS"] == "1"
    assert os.path.isdir(os.path.join(env["PYTHONPATH"].split(os.pathsep)[0], "components"))


def test_a_service_that_exits_at_start_up_is_reported_with_its_log_tail(tmp_path):
    command, log = _python(tmp_path, "dies", "import sys; print('port already in use: 1234', "
                                              "file=sys.stderr); sys.exit(3)")
    service = start_service("job service", command, free_port(), log, os.environ.copy())
    with pytest.raises(ServiceStartError) as error:
        wait_until_ready(service, timeout=30)
    assert "exited with status 3" in str(error.value)
    assert "port already in use: 1234" in str(error.value)
    stop_service(service)


def test_a_service_that_never_listens_times_out_and_is_stopped(tmp_path):
    command, log = _python(tmp_path, "silent", "import time; print('warming up', flush=True); "
                                               "time.sleep(600)")
    service = start_service("worker pool", command, free_port(), log, os.environ.copy())
    with pytest.raises(ServiceStartError) as error:
        wait_until_ready(service, timeout=1)
    assert "did not listen" in str(error.value) and "worker pool" in str(error.value)
    stop_service(service, grace=5)
    assert service.process.returncode is not None and not _alive(service.process.pid)


def test_stop_kills_the_whole_process_group_even_children_that_ignore_sigterm(tmp_path):
    # the service starts a child (like the worker pool's SDK workers) that ignores SIGTERM
    child_code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); " \
                 "print('child up', flush=True); time.sleep(600)"
    pid_file = tmp_path / "child.pid"
    code = (f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', "
            f"{child_code!r}]); open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(600)")
    command, log = _python(tmp_path, "parent", code)
    service = start_service("worker pool", command, free_port(), log, os.environ.copy())
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    child = int(pid_file.read_text())
    while "child up" not in open(log).read() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _alive(child)
    stop_service(service, grace=1)
    deadline = time.monotonic() + 10  # the orphaned child is reaped by init
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child) and not _alive(service.process.pid)


def test_pipeline_args_point_beam_at_the_services():
    job = Service("job service", None, 4000, "job.log")
    pool = Service("worker pool", None, 4001, "pool.log")
    args = PortableServices(job, pool).pipeline_args()
    assert "--runner=PortableRunner" in args
    assert "--job_endpoint=127.0.0.1:4000" in args
    assert "--environment_type=EXTERNAL" in args
    assert "--environment_config=127.0.0.1:4001" in args


def test_real_services_start_answer_and_are_gone_after_an_error_and_after_sigterm(tmp_path):
    """Beam's job service and worker pool: both listen; an exception in the block, and a SIGTERM
    to this process (as Ctrl-C), stop both and leave no process behind."""
    seen, sigterm_handler = [], signal.getsignal(signal.SIGTERM)
    with pytest.raises(RuntimeError, match="pipeline failed"):
        with portable_beam_services(str(tmp_path / "logs")) as services:
            seen.append(services)
            assert all(accepts_connections(s.port) for s in services.services)
            raise RuntimeError("pipeline failed")
    with pytest.raises(KeyboardInterrupt):
        with portable_beam_services(str(tmp_path / "logs")) as services:
            seen.append(services)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)  # the signal interrupts this
    assert signal.getsignal(signal.SIGTERM) == sigterm_handler  # the handler is put back
    for services in seen:
        for service in services.services:
            assert not _alive(service.process.pid), service.name
            assert not accepts_connections(service.port), service.name
    assert "Listening for beam jobs" in open(tmp_path / "logs" / "job_service.log").read()
