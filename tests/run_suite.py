"""The whole suite as two pytest sessions side by side: `make test` runs this.

One pytest process runs one test at a time, and the suite's tests (the model zoo's fits, saves
and loads) keep one core busy for most of the run; the pipeline runs beside them
(tests/background_runs.py) used the other core. The tests that read pipeline runs (marker
`pipeline`) then still waited for all the others, one core idle at the end. Here the tests without
pipeline runs ("units") and those with them ("pipeline") are two sessions started together, so
each core has work from the start. A session's folders are its own (`--basetemp`), and nothing
the units read is written by the pipeline session.

    python tests/run_suite.py [pytest arguments for both sessions, e.g. --durations=25]

Each session's output is printed whole when it ends (so the two never interleave), with a line
every few minutes while both run; the exit status is 0 only when both sessions pass."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SESSIONS = {"units": ["-m", "not pipeline"], "pipeline": ["-m", "pipeline"]}
HEARTBEAT_SECONDS = 300


def progress(log_path):
    """The last progress figure pytest -q wrote to a log ('[ 42%]'), or ''."""
    with open(log_path, "rb") as f:
        f.seek(max(0, os.path.getsize(log_path) - 400))
        tail = f.read().decode(errors="replace")
    start = tail.rfind("[")
    end = tail.find("%]", start)
    return tail[start + 1:end].strip() + "%" if start >= 0 and end > start else ""


def main(pytest_args):
    scratch = tempfile.mkdtemp(prefix="ctr-suite-")
    started, running = time.time(), {}
    # a stopped suite (CI's time limit, Ctrl-C) stops both sessions and their pipeline runs
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return wait_for_sessions(pytest_args, scratch, started, running)
    finally:
        for process, log, _ in running.values():
            try:
                os.killpg(process.pid, signal.SIGTERM)  # the session and every process it started
            except ProcessLookupError:
                pass
            log.close()


def wait_for_sessions(pytest_args, scratch, started, running):
    for name, selection in SESSIONS.items():
        log_path = os.path.join(scratch, f"{name}.log")
        command = [sys.executable, "-m", "pytest", "-q", "tests", *selection,
                   "--basetemp", os.path.join(scratch, name), *pytest_args]
        log = open(log_path, "w")
        running[name] = (subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True), log, log_path)
    print(f"run_suite: sessions {', '.join(SESSIONS)} started side by side (logs in {scratch})",
          flush=True)
    results, last_beat = {}, time.time()
    while running:
        time.sleep(1)
        for name in list(running):
            process, log, log_path = running[name]
            if process.poll() is None:
                continue
            log.close()
            del running[name]
            results[name] = (process.returncode, time.time() - started)
            print(f"\n===== session '{name}' ({' '.join(SESSIONS[name])}): exit status "
                  f"{process.returncode} after {results[name][1]:.0f} s =====", flush=True)
            with open(log_path) as f:
                sys.stdout.write(f.read())
            sys.stdout.flush()
        if running and time.time() - last_beat >= HEARTBEAT_SECONDS:
            last_beat = time.time()
            print(f"run_suite: {time.time() - started:.0f} s; still running: " + ", ".join(
                f"{name} {progress(log_path)}" for name, (_, _, log_path) in running.items()),
                flush=True)
    print("\nrun_suite: " + "; ".join(f"{name}: exit status {code}, {seconds:.0f} s"
                                      for name, (code, seconds) in results.items()), flush=True)
    if all(code == 0 for code, _ in results.values()):
        shutil.rmtree(scratch, ignore_errors=True)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
