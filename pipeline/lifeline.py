"""Processes that die with the process that started them, and listen on loopback only.

Every service and worker the CLI starts (Beam's job service, worker pool and SDK workers,
`train-local`'s workers and its cluster supervisor) calls `exit_with_parent` first: a `kill -9`
of the CLI runs no cleanup code, so each child watches its own parent and takes its process group
down when the parent is gone. A watchdog thread is used rather than Linux's PR_SET_PDEATHSIG,
which fires when the *thread* that started the child ends: Beam's worker pool starts SDK workers
from gRPC handler threads that come and go.

Python gRPC servers that Beam starts bind `[::]` (every interface); `bind_grpc_servers_to_loopback`
rewrites such addresses to 127.0.0.1 in the process where it is called."""
import logging
import os
import re
import signal
import threading
import time

LOOPBACK_IP = "127.0.0.1"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
# how often a child checks that its parent is alive (seconds): the most a child outlives it
PARENT_POLL_S = 0.5
# environment variable through which a child learns the pid of the process that must outlive it
PARENT_PID_ENV = "CTR_PIPELINE_PARENT_PID"
WILDCARD_ADDRESS = re.compile(r"^(?:\[::\]|0\.0\.0\.0|\*|)(:\d+)$")


def exit_with_parent(parent_pid=None, poll_s=PARENT_POLL_S):
    """Starts a daemon thread that ends this process (and, when it leads a process group, the
    whole group: its own workers) once `parent_pid` (default: $CTR_PIPELINE_PARENT_PID, else the
    current parent) is no longer this process's parent. Returns the pid watched."""
    if parent_pid is None:
        parent_pid = int(os.environ.get(PARENT_PID_ENV) or os.getppid())
        if parent_pid != os.getppid() and pid_alive(parent_pid):
            # started through another process (a shell, or the variable was inherited from
            # further up): watch the actual parent. A dead one means it is already gone.
            parent_pid = os.getppid()

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        logging.warning("parent process %d is gone: exiting", parent_pid)
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)  # this process and its workers
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
    return parent_pid


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def loopback_address(address):
    """`address` as given to a gRPC server's add_*_port, with a wildcard host ([::], 0.0.0.0,
    none) replaced by 127.0.0.1; other addresses unchanged."""
    match = WILDCARD_ADDRESS.match(address)
    return f"{LOOPBACK_IP}{match.group(1)}" if match else address


def bind_grpc_servers_to_loopback():
    """Makes every Python gRPC server created from now on in this process (`grpc.server(...)`,
    as Beam calls it) listen on 127.0.0.1 where it asks for every interface. Idempotent."""
    import grpc
    if getattr(grpc.server, "binds_loopback_only", False):
        return
    make_server = grpc.server

    def loopback_server(*args, **kwargs):
        server = make_server(*args, **kwargs)
        add_insecure, add_secure = server.add_insecure_port, server.add_secure_port
        server.add_insecure_port = lambda address: add_insecure(loopback_address(address))
        server.add_secure_port = lambda address, credentials: add_secure(
            loopback_address(address), credentials)
        return server

    loopback_server.binds_loopback_only = True
    grpc.server = loopback_server


def is_loopback_endpoint(url):
    """Whether `url` is host:port with a loopback host (what a local SDK worker may connect to)."""
    host, _, port = url.rpartition(":")
    return host in LOOPBACK_HOSTS and port.isdigit()


CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def enter_private_network():
    """Moves this process (and the processes it starts from now on) into a new network namespace
    whose only interface is loopback, so that whatever listens here, even on every interface, is
    reachable from this namespace only. Unprivileged users get a user namespace too (their uid
    and gid mapped to themselves). Must run before this process starts a thread. Raises OSError
    where the system allows neither (e.g. a container whose seccomp profile forbids unshare)."""
    import ctypes
    import fcntl
    import socket
    import struct
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWNET) != 0:  # needs CAP_SYS_ADMIN; else with a user namespace
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"unshare(CLONE_NEWUSER|CLONE_NEWNET): {os.strerror(error)}")
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                           ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # `lo` starts down
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))
