"""What a person sees while a pipeline runs: one line per component as it starts and as it ends
(with rows per split and training progress for the long ones), nothing else. Everything else —
TensorFlow, Beam (its worker processes too), absl, warnings — goes to one log file per run.

The log capture works on file descriptors, not on Python streams: descriptors 1 and 2 of this
process are pointed at the log file, so C++ logging and every child process (Beam's
multi_processing workers inherit them) write there too; the console gets a duplicate of the
original stdout."""
import datetime
import errno
import glob
import logging
import os
import re
import stat
import sys
import threading
import time
from typing import Optional, TextIO

# Progress records from inside components (the Trainer's Keras callback) use this logger.
PROGRESS_LOGGER = "ctr_pipeline.progress"
# LocalDagRunner logs "Component X is running.", BeamDagRunner "node X is running.".
_RUNNING = re.compile(r"(?:Component|node) (\S+) is running\.")
_FINISHED = re.compile(r"(?:Component|node) (\S+) is finished\.")
_CACHED = re.compile(r"A cached execution \d+ is used\.")
# A start line is printed only for components still running after this long: cached and
# instantaneous components get their end line alone.
START_LINE_DELAY_S = 1.0


def log_path_for(root: str, name: Optional[str] = None) -> str:
    """`<root>/logs/<name>.log`; the name defaults to the current time (renamed to the run id once
    ML-Metadata knows it, see `rename_log`)."""
    name = name or datetime.datetime.now().strftime("%Y-%m-%dT%H:%M:%S.%f")
    return os.path.join(root, "logs", f"{name}.log")


def private_log_dir() -> str:
    """This user's own folder for the logs of the commands without a run root (predict,
    compile-kubeflow): $XDG_STATE_HOME/ctr-pipeline/logs (~/.local/state/... by default),
    created with mode 0700. In a folder shared between users, such as /tmp/ctr-pipeline, another
    user could plant a symbolic link where the log is opened and have the command append to any
    file its user may write. A symbolic link or another user's folder at this path is refused
    (PermissionError); a folder of ours that others may enter is closed to them."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                             "state")
    path = os.path.join(state, "ctr-pipeline", "logs")
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise PermissionError(f"log folder {path} is a symbolic link or not a folder: not using "
                              f"it (remove it, or set XDG_STATE_HOME)")
    if info.st_uid != os.getuid():
        raise PermissionError(f"log folder {path} is owned by user {info.st_uid}, not by this "
                              f"user ({os.getuid()}): not using it")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def command_log_path(command: str, root: Optional[str] = None) -> str:
    """The log of a command: `<root>/logs/<command>.log`, or in `private_log_dir()` without a
    run root."""
    folder = os.path.join(root, "logs") if root else private_log_dir()
    return os.path.join(folder, f"{command}.log")


def _open_log(log_path: str) -> int:
    """A descriptor appending to `log_path`, which must not be a symbolic link (a link planted
    there would send the log, and the appending, to the file it points at)."""
    try:
        return os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise PermissionError(f"log {log_path} is a symbolic link: not following it "
                                  f"(remove it)") from None
        raise


def redirect_output_to(log_path: str) -> TextIO:
    """Points file descriptors 1 and 2 (and so every later child process) at `log_path`; returns a
    line-buffered stream on the original stdout for the console lines."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    console = os.fdopen(os.dup(1), "w", buffering=1)
    log_fd = _open_log(log_path)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    return console


def redirect_stderr_to(log_path: str) -> TextIO:
    """Points file descriptor 2 at `log_path` (TensorFlow's import-time chatter, warnings);
    returns a stream on the original stderr for messages meant for the person."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    sys.stderr.flush()
    person = os.fdopen(os.dup(2), "w", buffering=1)
    log_fd = _open_log(log_path)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    return person


def rename_log(log_path: str, run_id: str) -> str:
    """Renames the log to `<run id>.log` beside it (open descriptors keep writing to it)."""
    target = os.path.join(os.path.dirname(log_path), f"{run_id}.log")
    if os.path.abspath(target) != os.path.abspath(log_path):
        os.replace(log_path, target)
    return target


def _format_elapsed(seconds):
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes:3d}:{seconds:02d}"


def _rows_per_split(pipeline_root):
    """'train 18,012 / eval 1,988 rows' from the newest StatisticsGen output, or ''."""
    from tensorflow_metadata.proto.v0 import statistics_pb2
    runs = glob.glob(os.path.join(pipeline_root, "StatisticsGen", "statistics", "*"))
    runs = [r for r in runs if os.path.basename(r).isdigit()]
    if not runs:
        return ""
    newest = max(runs, key=lambda r: int(os.path.basename(r)))
    parts = []
    for path in sorted(glob.glob(os.path.join(newest, "Split-*", "FeatureStats.pb"))):
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        with open(path, "rb") as f:
            stats.ParseFromString(f.read())
        split = os.path.basename(os.path.dirname(path))[len("Split-"):]
        parts.append(f"{split} {sum(d.num_examples for d in stats.datasets):,}")
    return " / ".join(parts) + " rows" if parts else ""


class ComponentProgress(logging.Handler):
    """Turns TFX's launcher records ("Component X is running/finished") and the Trainer's
    progress records into console lines, and remembers which component is running (the one to
    name if the run fails)."""

    def __init__(self, console: TextIO, pipeline_root: Optional[str] = None):
        super().__init__(level=logging.INFO)
        self.console = console
        self.pipeline_root = pipeline_root
        self.start = time.time()
        self.current: Optional[str] = None
        self.current_start = 0.0
        self.cached = False
        self.finished = []  # (component, seconds, status)
        self._start_line_pending = False
        self._timer: Optional[threading.Timer] = None
        self._lock = threading.Lock()

    def line(self, text):
        self.console.write(f"[{_format_elapsed(time.time() - self.start)}] {text}\n")
        self.console.flush()

    def _print_start_line(self):
        with self._lock:
            if self._start_line_pending:
                self._start_line_pending = False
                self.line(f"{self.current:<30} running")

    def emit(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a malformed third-party record is not ours to report
            return
        if record.name == PROGRESS_LOGGER:
            self._print_start_line()
            self.line(f"{self.current or '':<30}   {message}")
            return
        running = _RUNNING.match(message)
        if running:
            self._begin(running.group(1))
        elif _CACHED.match(message):
            self.cached = True
        else:
            finished = _FINISHED.match(message)
            if finished and finished.group(1) == self.current:
                self._end()

    def _begin(self, component):
        with self._lock:
            self.current, self.current_start, self.cached = component, time.time(), False
            self._start_line_pending = True
        self._timer = threading.Timer(START_LINE_DELAY_S, self._print_start_line)
        self._timer.daemon = True
        self._timer.start()

    def _end(self):
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._start_line_pending = False
            seconds = time.time() - self.current_start
            status = "cached" if self.cached else "done"
            detail = ""
            if self.current == "StatisticsGen" and self.pipeline_root:
                try:
                    detail = _rows_per_split(self.pipeline_root)
                except Exception:  # the counts are a courtesy; never fail a run over them
                    logging.getLogger(__name__).exception("could not read row counts")
            self.finished.append((self.current, seconds, status))
            self.line(f"{self.current:<30} {status} {seconds:7.1f} s" +
                      (f"   {detail}" if detail else ""))
            self.current = None

    def close(self):
        if self._timer is not None:
            self._timer.cancel()
        super().close()


class QuietRun:
    """Context for one CLI run: captures the log (unless verbose), prints progress lines.

    `console` is where the person's lines go; `log_path` the full log (None when verbose)."""

    def __init__(self, root: str, verbose: bool = False, pipeline_root: Optional[str] = None):
        self.root = root
        self.verbose = verbose
        self.log_path = None if verbose else log_path_for(root)
        self.console = sys.stdout
        self.progress: Optional[ComponentProgress] = None
        self.pipeline_root = pipeline_root

    def __enter__(self):
        from absl import logging as absl_logging
        root_logger = logging.getLogger()
        if self.log_path:
            self.console = redirect_output_to(self.log_path)
        # Full detail goes to the log (stderr is the log file now); the console handler filters.
        absl_logging.set_verbosity(absl_logging.INFO)
        root_logger.setLevel(logging.INFO)
        if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, ComponentProgress)
                   and getattr(h, "stream", None) is sys.stderr for h in root_logger.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            root_logger.addHandler(handler)
        logging.captureWarnings(True)
        self.progress = ComponentProgress(self.console, self.pipeline_root)
        root_logger.addHandler(self.progress)
        return self

    def __exit__(self, *exc):
        logging.getLogger().removeHandler(self.progress)
        self.progress.close()
        return False

    def print(self, text=""):
        self.console.write(f"{text}\n")
        self.console.flush()
