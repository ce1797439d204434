"""Issue 23 item 1: the services and workers a run starts listen on loopback only and die with
the CLI. A process standing in for the CLI starts the portable runner's services
(pipeline/beam_services.py) and sends them a one-element Beam job that holds its SDK worker
busy; while the job runs, every listening socket of that process tree (the job service with its
artifact, control, data, state and logging servers, the worker pool, the SDK worker) must be on
loopback; after a `kill -9` of the stand-in, no process of the tree may be left."""
import os
import signal
import subprocess
import sys
import textwrap
import time

from process_watch import descendants, listening_sockets, reachable_from_outside, wait_until_gone

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STAND_IN_CLI = textwrap.dedent("""
    import sys
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from pipeline.beam_services import portable_beam_services

    log_dir, marker = sys.argv[1:3]

    def hold(element, marker=marker):
        import time
        open(marker, "w").close()
        time.sleep(300)
        return element

    with portable_beam_services(log_dir) as services:
        with beam.Pipeline(options=PipelineOptions(services.pipeline_args())) as p:
            p | beam.Create([1]) | beam.Map(hold)
""")


def test_services_listen_on_loopback_only_and_die_with_a_killed_cli(tmp_path):
    marker = tmp_path / "job-is-running"
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    cli = subprocess.Popen([sys.executable, "-c", STAND_IN_CLI, str(tmp_path / "logs"),
                            str(marker)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert cli.poll() is None, cli.stdout.read().decode(errors="replace")
            assert time.monotonic() < deadline, "the job did not reach its SDK worker"
            time.sleep(0.2)
        processes = descendants(cli.pid)
        sockets = listening_sockets(processes)
        commands = " ".join(" ".join(p.cmdline()) for p in processes)
        assert "job-service" in commands and "worker-pool" in commands
        assert "sdk-worker" in commands
        # the job service's port and its per-job servers, and the worker pool's port
        assert len(sockets) >= 4, sockets
        assert reachable_from_outside(sockets) == [], sockets
        pids = [p.pid for p in processes]
        cli.send_signal(signal.SIGKILL)
        cli.wait()
        assert wait_until_gone(pids, timeout=5) == []
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()


def test_grpc_servers_asking_for_every_interface_get_loopback():
    """What Beam's multi_processing mode opens in the CLI process: `[::]:0` becomes 127.0.0.1."""
    from concurrent.futures import ThreadPoolExecutor

    import grpc
    import psutil

    from pipeline.lifeline import bind_grpc_servers_to_loopback, loopback_address
    assert loopback_address("[::]:0") == "127.0.0.1:0"
    assert loopback_address("0.0.0.0:50051") == "127.0.0.1:50051"
    assert loopback_address("localhost:7") == "localhost:7"
    original = grpc.server
    try:
        bind_grpc_servers_to_loopback()
        bind_grpc_servers_to_loopback()  # a second call changes nothing
        server = grpc.server(ThreadPoolExecutor(max_workers=1))
        port = server.add_insecure_port("[::]:0")
        server.start()
        try:
            listening = {(c.laddr.ip, c.laddr.port)
                         for c in psutil.Process().net_connections(kind="inet")
                         if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
        finally:
            server.stop(0)
    finally:
        grpc.server = original
    # gRPC listens on an IPv6 socket where it can: 127.0.0.1 then reads as ::ffff:127.0.0.1
    assert len(listening) == 1 and listening <= {("127.0.0.1", port), ("::ffff:127.0.0.1", port)}
