"""Which clone's code a run executes, in this process and in every process it starts.

Clones share the pinned stack (a cache folder keyed by constraints.txt), but the project is
never installed into it: each clone's `.venv` is a small venv of its own whose site hook puts
the clone's folder on sys.path before the stack (pipeline/venv_layer.py, Makefile `venv`), so
its `.venv/bin/python`, from any folder and with -P, imports that clone. A `.venv` made before
that (a link to the shared venv, whose editable install points at the clone that ran
`pip install -e .` last) is replaced by the next `make`; until then these gaps are closed here:

- processes the run starts (Beam's multi_processing and portable workers, `train-local`
  workers, TFX's executors when an orchestrator runs them out of process) start elsewhere and
  would fall through to the hook, i.e. to another clone: `pin_this_clone` puts this clone first
  on PYTHONPATH, which they inherit;
- a run started outside any clone with one clone's interpreter (`/c/B/.venv/bin/python -m
  pipeline` from `/`) gets its code from the hook, possibly clone A: refused, naming both.
The Trainer and Transform code is named by import path (`components.trainer.run_fn`), resolved
in the executor's process, so it follows the same rule; its cache key hashes this clone's files.
"""
import os
import sys

CLONE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _same(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def interpreter_clone(executable=None):
    """The clone whose `.venv/bin/python` this is (the path as invoked, before the `.venv` link
    is resolved), or None when the interpreter is not inside a clone of this project."""
    path = os.path.abspath(executable or sys.executable)
    bin_dir = os.path.dirname(path)
    venv = os.path.dirname(bin_dir)
    clone = os.path.dirname(venv)
    if (os.path.basename(bin_dir) == "bin" and os.path.basename(venv) == ".venv"
            and os.path.isfile(os.path.join(clone, "pipeline", "clone.py"))):
        return clone
    return None


def on_sys_path(clone_root=CLONE_ROOT, path=None):
    """Whether `clone_root` is on `path` (default sys.path; '' is the current folder)."""
    entries = sys.path if path is None else path
    return any(_same(entry or os.getcwd(), clone_root) for entry in entries)


def pin_this_clone(clone_root=CLONE_ROOT, executable=None, path=None, environ=None):
    """Makes the processes this one starts import the code of `clone_root` (the clone this
    module was imported from): prepends it to PYTHONPATH. Raises SystemExit when the code came
    from the venv's editable-install hook (the clone is not on sys.path) while the interpreter
    belongs to another clone."""
    environ = os.environ if environ is None else environ
    started = interpreter_clone(executable)
    if started and not _same(started, clone_root) and not on_sys_path(clone_root, path):
        raise SystemExit(
            f"this is the interpreter of the clone {started}, but the project's code was "
            f"imported from {clone_root} (the shared venv's editable install points at the "
            f"clone that ran `pip install -e .` last). Run it from inside {started} "
            f"(cd {started}) or set PYTHONPATH={started}")
    entries = [e for e in environ.get("PYTHONPATH", "").split(os.pathsep) if e]
    if not entries or not _same(entries[0], clone_root):
        environ["PYTHONPATH"] = os.pathsep.join(
            [clone_root] + [e for e in entries if not _same(e, clone_root)])
    return clone_root
