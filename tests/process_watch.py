"""What the processes a test started are doing: their listening sockets and whether they live.

Used by the hardening tests (issue 23 item 1): every service and worker the CLI starts listens on
loopback only, and none outlives a `kill -9` of the CLI."""
import os
import time

import psutil

LOOPBACK_IPS = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


def descendants(pid):
    """The live processes started (directly or not) by `pid`, and `pid` itself."""
    try:
        root = psutil.Process(pid)
        return [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def network_namespace(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def interfaces(pid):
    """The network interfaces that process `pid` sees (its namespace's /proc/net/dev)."""
    with open(f"/proc/{pid}/net/dev") as f:
        return sorted(line.split(":")[0].strip() for line in f.readlines()[2:])


def listening_sockets(processes):
    """[(pid, command line, ip, port, network namespace)] of every listening TCP socket."""
    found = []
    for process in processes:
        try:
            connections = process.net_connections(kind="inet")
            command = " ".join(process.cmdline()[:6])
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        for c in connections:
            if c.status == psutil.CONN_LISTEN:
                found.append((process.pid, command, c.laddr.ip, c.laddr.port,
                              network_namespace(process.pid)))
    return found


def reachable_from_outside(sockets):
    """The sockets that another machine could reach: not on a loopback address, and in this
    process's network namespace or in one that has an interface other than `lo`."""
    own = network_namespace(os.getpid())
    exposed = []
    for pid, command, ip, port, namespace in sockets:
        if ip in LOOPBACK_IPS:
            continue
        if namespace != own:
            try:
                if interfaces(pid) == ["lo"]:
                    continue
            except OSError:
                pass
        exposed.append((pid, command, ip, port))
    return exposed


def wait_until_gone(pids, timeout):
    """The pids among `pids` still alive (not zombies) after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)
