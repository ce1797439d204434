"""One run at a time per run root: an exclusive `fcntl.flock` on `<root>/.lock`.

The kernel drops the lock when its holder exits (even when killed), so a crashed run never
leaves a stale lock behind; the file itself stays and only says who held it last.

A holder that hangs keeps the lock for ever. A caller that gives `blocked_after` (retrain's
--lock-timeout) learns it: when the holder has held the lock for longer than that (the lock
file's modification time, written when the lock was taken), RootBlocked is raised instead of
RootLocked, and the CLI exits with status 4 (a failure for the systemd unit) instead of 3."""
import contextlib
import datetime
import fcntl
import os
import shutil
import sys
import time

LOCK_FILE = ".lock"
# A run on the bundled 2k-row sample leaves ~40 MB; refuse to start below this much free space
# (the error says how much there is). Large inputs need more: the Examples are copied twice.
MIN_FREE_BYTES = 256 * 2**20


class RootUnusable(SystemExit):
    """The run root cannot be written (or its disk is nearly full): nothing was done."""

    def __init__(self, root, problem):
        self.root = root
        super().__init__(f"run root {root} {problem}; nothing done. Choose another --root or "
                         f"fix it")


def check_root(root, min_free_bytes=None):
    """Creates `root` if needed and checks that a file can be written there and that its disk
    has `min_free_bytes` free; raises RootUnusable naming the problem otherwise."""
    min_free_bytes = MIN_FREE_BYTES if min_free_bytes is None else min_free_bytes
    try:
        os.makedirs(root, exist_ok=True)
        probe = os.path.join(root, f".write-test-{os.getpid()}")
        with open(probe, "wb") as f:
            f.write(b"ok")
            f.flush()
            os.fsync(f.fileno())
        os.remove(probe)
    except OSError as error:
        raise RootUnusable(root, f"is not writable ({error.strerror or error}"
                                 f"{': ' + error.filename if error.filename else ''})") from None
    free = shutil.disk_usage(root).free
    if free < min_free_bytes:
        raise RootUnusable(root, f"has only {free / 2**20:.0f} MB free on its disk (a run needs "
                                 f"at least {min_free_bytes / 2**20:.0f} MB)")


class RootLocked(SystemExit):
    """Another process holds the run root's lock: nothing was done. A SystemExit with the
    message as its code, so the CLI prints it and exits without a traceback."""

    def __init__(self, root, holder):
        self.root, self.holder = root, holder
        super().__init__(f"{root} is in use by another run ({holder or 'holder unknown'}); "
                         f"nothing done. Try again when it has finished "
                         f"(lock file {os.path.join(root, LOCK_FILE)})")


class RootBlocked(RootLocked):
    """The run root's lock has been held for longer than the caller accepts (`blocked_after`):
    its holder may hang. Nothing was done."""

    def __init__(self, root, holder, held_s, blocked_after):
        SystemExit.__init__(
            self, f"{root} has been locked for {held_s / 3600:.1f} h by "
                  f"{holder or 'an unknown holder'}, longer than the {blocked_after / 3600:.1f} h "
                  f"allowed (--lock-timeout); nothing done. If that process hangs, stop it "
                  f"(lock file {os.path.join(root, LOCK_FILE)})")
        self.root, self.holder, self.held_s = root, holder, held_s


def _holder_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


@contextlib.contextmanager
def root_lock(root, command=None, blocked_after=None):
    """Holds `<root>/.lock` for the block, or raises RootLocked at once (never waits) naming the
    holder: its pid, start time (UTC) and command; RootBlocked when the holder has held it for
    more than `blocked_after` seconds. An unwritable or nearly full root raises RootUnusable
    first (check_root)."""
    check_root(root)
    path = os.path.join(root, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held_s = time.time() - os.fstat(fd).st_mtime
            if blocked_after is not None and held_s > blocked_after:
                raise RootBlocked(root, _holder_text(path), held_s, blocked_after) from None
            raise RootLocked(root, _holder_text(path)) from None
        started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        command = command or " ".join(os.path.basename(a) if i == 0 else a
                                      for i, a in enumerate(sys.argv))
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, started {started}, command: {command}\n".encode())
        os.fsync(fd)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the flock
