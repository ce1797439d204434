"""One run at a time per run root: an exclusive `fcntl.flock` on `<root>/.lock`.

The kernel drops the lock when its holder exits (even when killed), so a crashed run never
leaves a stale lock behind; the file itself stays and only says who held it last."""
import contextlib
import datetime
import fcntl
import os
import sys

LOCK_FILE = ".lock"


class RootLocked(SystemExit):
    """Another process holds the run root's lock: nothing was done. A SystemExit with the
    message as its code, so the CLI prints it and exits without a traceback."""

    def __init__(self, root, holder):
        self.root, self.holder = root, holder
        super().__init__(f"{root} is in use by another run ({holder or 'holder unknown'}); "
                         f"nothing done. Try again when it has finished "
                         f"(lock file {os.path.join(root, LOCK_FILE)})")


def _holder_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


@contextlib.contextmanager
def root_lock(root, command=None):
    """Holds `<root>/.lock` for the block, or raises RootLocked at once (never waits) naming the
    holder: its pid, start time (UTC) and command."""
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
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
