"""Runs `python -m pipeline ...` in a subprocess as a person would, for the CLI tests."""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args):
    """(exit status, stdout and stderr together) of `python -m pipeline *args` from the repo."""
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONUNBUFFERED="1")
    result = subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=2400)
    return result.returncode, result.stdout
