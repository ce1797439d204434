"""Pipeline runs that start when the test session starts and run beside the other tests.

Most of the suite is one Python process keeping one core busy; a pipeline run in a subprocess
(the CLI, as a person runs it) can use the other. A module registers such a run under the name
of the fixture that returns its result (`register`); when the session starts, conftest.py starts
the runs that some selected test needs, one at a time in a background thread, in the order the
tests will need them, and conftest orders the modules that need pipeline runs after the others.
The fixture then asks for the result (`BackgroundRuns.result`): it waits for a run under way, or
runs a run not started yet itself, so a test never waits for more than its own run and the one
before it. CTR_TEST_BACKGROUND_RUNS=0 starts nothing: every run then happens when its fixture
asks, as without this module.

A job is a function of one argument, a new empty folder for its files, and must only start
subprocesses and read their files: it runs in a thread, beside the tests' own TensorFlow."""
import concurrent.futures
import os

# fixture name -> job (a function of its folder)
JOBS = {}


def register(fixture_name, job):
    """Makes `job` the background run behind the fixture `fixture_name`."""
    JOBS[fixture_name] = job
    return job


def enabled():
    return os.environ.get("CTR_TEST_BACKGROUND_RUNS", "1") != "0"


class BackgroundRuns:
    """The session's background runs (one thread: the tests keep the other core)."""

    def __init__(self, make_folder):
        self.make_folder = make_folder  # name -> a new folder (str)
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="background-pipeline-run")
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
