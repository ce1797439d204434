"""Pipeline runs that start when the test session starts and run beside the other tests.

Most of the suite is one Python process keeping one core busy; a pipeline run in a subprocess
(the CLI, as a person runs it) can use the other. A module registers such a run under the name
of the fixture that returns its result (`register`); when the session starts, conftest.py starts
the runs that some selected test needs, at most two at a time (background threads), in the order
the tests will need them, and conftest orders the modules that need pipeline runs after the others.
The fixture then asks for the result (`BackgroundRuns.result`): it waits for a run under way, or
runs a run not started yet itself. Two at a time, because the runs beside the tests take longer
in all than the tests in the foreground: with one, a core sat idle at the end of the suite while
the last runs went one after the other (CTR_TEST_BACKGROUND_WORKERS sets another number).
CTR_TEST_BACKGROUND_RUNS=0 starts nothing: every run then happens when its fixture
asks, as without this module.

A job is a function of one argument, a new empty folder for its files, and must only start
subprocesses and read their files: it runs in a thread, beside the tests' own TensorFlow.
`in_a_subprocess` turns a module-level function of a folder that does its work in-process (a
pipeline run through `run_pipeline`, say) into such a job: a Python process of its own runs it and
passes its result back pickled."""
import concurrent.futures
import importlib
import os
import pickle
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# fixture name -> job (a function of its folder)
JOBS = {}


def register(fixture_name, job):
    """Makes `job` the background run behind the fixture `fixture_name`."""
    JOBS[fixture_name] = job
    return job


def in_a_subprocess(function):
    """A job that runs `function(folder)` (a module-level function of a module under tests/) in a
    new Python process started from the repository, with the suite's own settings, and returns
    its result (which must pickle)."""
    module, name = function.__module__, function.__name__

    def job(folder):
        out = os.path.join(folder, f"{name}.result.pickle")
        code = ("import sys; sys.path[:0] = ['', 'tests']; import background_runs; "
                "background_runs.run_and_pickle(*sys.argv[1:])")
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
        done = subprocess.run([sys.executable, "-c", code, module, name, folder, out], cwd=REPO,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=2400)
        assert done.returncode == 0, f"{module}.{name} failed:\n{done.stdout[-8000:]}"
        with open(out, "rb") as f:
            return pickle.load(f)
    return job


def run_and_pickle(module, name, folder, out):
    """The subprocess of an `in_a_subprocess` job: module.name(folder), pickled to `out` (written
    whole, then renamed, so a crash leaves no result to read)."""
    from ctr_models.tracing import skip_autograph_of_graph_safe_code
    skip_autograph_of_graph_safe_code()  # as conftest.py does in the suite's own process
    result = getattr(importlib.import_module(module), name)(folder)
    with open(out + ".partial", "wb") as f:
        pickle.dump(result, f)
    os.replace(out + ".partial", out)


def enabled():
    return os.environ.get("CTR_TEST_BACKGROUND_RUNS", "1") != "0"


class BackgroundRuns:
    """The session's background runs (threads that each wait on one run's processes)."""

    def __init__(self, make_folder, workers=None):
        self.make_folder = make_folder  # name -> a new folder (str)
        workers = workers or int(os.environ.get("CTR_TEST_BACKGROUND_WORKERS", "2"))
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="background-pipeline-run")
        self.futures = {}
        self.folders = {}

    def folder(self, fixture_name):
        """The folder of the fixture's job (made on first use)."""
        if fixture_name not in self.folders:
            self.folders[fixture_name] = self.make_folder(fixture_name)
        return self.folders[fixture_name]

    def start(self, fixture_names):
        """Queues the jobs of these fixtures, in this order (names without a job are skipped)."""
        for name in fixture_names:
            if name in JOBS and name not in self.futures:
                self.futures[name] = self.executor.submit(JOBS[name], self.folder(name))

    def result(self, fixture_name):
        """The job's result: waited for when it is under way or done, else run here and now."""
        future = self.futures.get(fixture_name)
        if future is not None and not future.cancel():
            return future.result()
        return JOBS[fixture_name](self.folder(fixture_name))

    def close(self):
        """Drops the jobs not started; waits for the one under way (its subprocess ends)."""
        self.executor.shutdown(wait=True, cancel_futures=True)
