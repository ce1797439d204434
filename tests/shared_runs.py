"""Pipeline runs that several test modules share, so that the suite pays for each run once.

A pipeline run on the bundled sample costs tens of seconds, most of it ingesting and transforming
the same 2k rows. `SharedRoot` is one run root whose CLI commands several modules read: each
command runs once, and always in the same order whichever test asks first, so every module sees
the same history in the root (ML-Metadata's cache, the list of runs)."""
import functools
import os
import subprocess
import sys
import threading

from cli_testing import REPO, run_cli

SAMPLE_CRITEO = os.path.join(REPO, "data", "samples", "criteo_2k.csv")


class SharedRoot:
    """A run root and its ordered CLI commands (name -> arguments of `python -m pipeline`). A
    background run (background_runs.py) may be running them while a test asks for one: the
    commands run one at a time, in order, whichever thread runs them."""

    def __init__(self, root, commands):
        self.root = root
        self.commands = dict(commands)
        self.results = []  # (exit status, output) of the first len(results) commands
        self.running = threading.Lock()  # held while a command runs

    def find(self, argv):
        """The name of the command with exactly these arguments, or None."""
        return next((name for name, args in self.commands.items() if args == list(argv)), None)

    def result(self, name):
        """(exit status, output) of the named command; the commands before it run first."""
        names = list(self.commands)
        index = names.index(name)
        while len(self.results) <= index:
            with self.running:
                if len(self.results) <= index:
                    self.results.append(run_cli(*self.commands[names[len(self.results)]]))
        return self.results[index]


@functools.lru_cache(maxsize=None)
def criteo_cli_root(base):
    """The criteo root of the README's first two runs (tests/test_readme_commands.py: the default
    run exactly as a newcomer types it, then the same input given as --data, cached) and of the
    CLI output checks after them (tests/test_cli_output.py: a run failing in the Trainer, then
    `compare` of DeepFM, whose run is the first one again, and DCN). One object per folder."""
    root = os.path.join(base, "criteo")
    return SharedRoot(root, [
        ("readme_default", ["run", "--dataset", "criteo", "--root", root]),
        ("readme_same_input", ["run", "--dataset", "criteo", "--data", SAMPLE_CRITEO,
                               "--root", root]),
        # a model argument that only fails once the Trainer trains (the model builds, so the
        # pre-flight model check passes; Dropout refuses rate 1 in training mode)
        ("failing", ["run", "--root", root, "--dataset", "criteo", "--train-steps", "6",
                     "--batch-size", "64", "--eval-steps", "1",
                     "--model-arg", "dnn_dropout=1.0"]),
        # the default settings of the first run: DeepFM's Trainer is a cache hit
        ("compare", ["compare", "--root", root, "--dataset", "criteo",
                     "--models", "DeepFM,DCN"]),
    ])


def run_criteo_cli_root(base):
    """Runs every command of criteo_cli_root(base) (a background run: conftest.py; a test asking
    for a command waits for that command only)."""
    shared = criteo_cli_root(base)
    for name in shared.commands:
        shared.result(name)


# tests/test_pipeline_e2e.py's first run (conftest's e2e_run): 20k generated Criteo-format rows.
E2E_ROWS = 20_000
# Its training as CLI arguments: what test_pipeline_e2e._run sets, and the CLI's defaults for the
# rest (seed 0, early stopping on; with the steps given, one epoch). Its other components get
# what _run's pipeline gives them (the same spec, data, file pattern and Beam options), so the
# second run there (in-process) finds them in ML-Metadata's cache.
E2E_FIRST_RUN_ARGS = ["--dataset", "criteo", "--model", "DeepFM",
                      "--model-arg", "dnn_hidden_units=(64,32)",
                      "--model-arg", "l2_reg_embedding=1e-3", "--train-steps", "50",
                      "--eval-steps", "4", "--batch-size", "256", "--learning-rate", "3e-3",
                      "--beam-mode", "in_memory"]


def run_e2e_first(folder):
    """The shared first run, through the CLI in a subprocess (a background run:
    tests/background_runs.py) -> (data folder, run root, exit status, output)."""
    data_dir, root = os.path.join(folder, "data"), os.path.join(folder, "run")
    generated = subprocess.run([sys.executable, "-m", "data", "criteo", "--rows", str(E2E_ROWS),
                                "--seed", "3", "--out", data_dir], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=900)
    assert generated.returncode == 0, generated.stdout
    os.remove(os.path.join(data_dir, "oracle.json"))
    return (data_dir, root, *run_cli("run", "--data", data_dir, "--root", root,
                                     *E2E_FIRST_RUN_ARGS))
