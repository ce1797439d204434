"""What the processes a test started are doing: their listening sockets and whether they live.

Used by the hardening tests (issue 23 item 1): every service and worker the CLI starts listens on
loopback only, and none outlives a `kill -9` of the CLI."""
import os
import socket
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


def socket_inodes(pid):
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def decode_address(hex_address):
    """An address of /proc/net/tcp{,6} ("0100007F:1F90") as (ip text, port)."""
    ip_hex, port_hex = hex_address.split(":")
    raw = bytes.fromhex(ip_hex)
    # the kernel prints each 32-bit word in host (little-endian) order
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw), int(port_hex, 16)


def listening_sockets(processes):
    """[(pid, command line, ip, port, network namespace, its interfaces)] of every listening TCP
    socket. Read from /proc/<pid>/net/tcp{,6}, the tables of the process's own network namespace
    (psutil reads this process's, so it does not see sockets in another namespace). A process
    that exits while it is read is left out."""
    found = []
    for process in processes:
        pid = process.pid
        try:
            command = " ".join(process.cmdline()[:6])
            namespace, names = os.readlink(f"/proc/{pid}/ns/net"), tuple(interfaces(pid))
            inodes = socket_inodes(pid)
            entries = []
            for table in ("tcp", "tcp6"):
                with open(f"/proc/{pid}/net/{table}") as f:
                    for line in f.readlines()[1:]:
                        fields = line.split()
                        if fields[3] == "0A" and int(fields[9]) in inodes:  # 0A: LISTEN
                            ip, port = decode_address(fields[1])
                            entries.append((pid, command, ip, port, namespace, names))
            if process.is_running():
                found += entries
        except (OSError, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def reachable_from_outside(sockets):
    """The sockets that another machine could reach: not on a loopback address, and in this
    process's network namespace or in one that has an interface other than `lo`."""
    own = network_namespace(os.getpid())
    return [(pid, command, ip, port)
            for pid, command, ip, port, namespace, names in sockets
            if ip not in LOOPBACK_IPS and (namespace == own or names != ("lo",))]


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


class ListeningSampler:
    """While the block runs, samples (every `interval` s) the listening sockets of this
    process's descendants whose command line satisfies `is_worker`; `sockets` holds each
    (pid, command, ip, port, namespace) seen."""

    def __init__(self, is_worker, interval=0.5):
        import threading
        self.is_worker, self.interval = is_worker, interval
        self.sockets = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.sample, name="listening-sampler", daemon=True)

    def sample(self):
        while not self.done.is_set():
            processes = [p for p in descendants(os.getpid())[1:]
                         if self.command_matches(p)]
            for entry in listening_sockets(processes):
                if entry not in self.sockets:
                    self.sockets.append(entry)
            self.done.wait(self.interval)

    def command_matches(self, process):
        try:
            return self.is_worker(" ".join(process.cmdline()))
        except psutil.Error:
            return False

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
