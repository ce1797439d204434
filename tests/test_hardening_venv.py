"""Issue 23 item 2: each clone runs its own code. The pinned stack is shared (one cache folder per
constraints.txt) but the project is never installed into it: every clone's `.venv` is a small
venv layered on the stack (Makefile `venv`, pipeline/venv_layer.py). Two clone-like folders with
different code, each given its venv by the real Makefile on this session's stack, each run
their own code through `.venv/bin/python -P` (from another folder), the console script and an
activated venv; the stack is left as it was. The shared build runs under an flock: two makes
at once build it once (a stand-in installer records what runs)."""
import os
import shutil
import subprocess
import sys
import textwrap
import threading

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def session_stack():
    """The shared stack venv this interpreter runs on: the one named by this clone's layered
    .venv, or (a .venv made before layering: a link to the shared venv) sys.prefix."""
    layer = sys.modules.get("ctr_pipeline_layer")
    if layer is not None:
        config = layer.read_config(os.path.join(os.path.dirname(layer.__file__),
                                                layer.CONFIG_FILE))
        return os.path.dirname(os.path.dirname(os.path.dirname(config["stack"])))
    return sys.prefix


def make_clone(base, name):
    """A clone-like folder: the Makefile, the pins, the layer hook, and a `pipeline` package
    whose cli.main prints `name`."""
    clone = os.path.join(base, name)
    os.makedirs(os.path.join(clone, "pipeline"))
    for path in ("Makefile", "constraints.txt", os.path.join("pipeline", "venv_layer.py")):
        shutil.copy(os.path.join(REPO, path), os.path.join(clone, path))
    open(os.path.join(clone, "pipeline", "__init__.py"), "w").close()
    with open(os.path.join(clone, "pipeline", "cli.py"), "w") as f:
        f.write(f"def main():\n    print('code of {name}')\n    return 0\n")
    return clone


def test_two_clones_each_run_their_own_code(tmp_path):
    stack = session_stack()
    if not os.path.exists(os.path.join(stack, ".stack-installed")):
        # only a stack the Makefile built can be layered on; CI always runs under one
        message = f"{stack} is not a stack venv made by the Makefile"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: `make test` builds one)")
        pytest.skip(message)
    stack_files = sorted(os.listdir(os.path.join(stack, "lib")))
    stack_site = subprocess.run(
        [os.path.join(stack, "bin", "python"), "-c",
         "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True).stdout.strip()
    site_before = sorted(os.listdir(stack_site))
    clones = [make_clone(str(tmp_path), name) for name in ("clone-a", "clone-b")]
    # clone a as a clone set up before: .venv a link to the shared venv (replaced, link only)
    os.symlink(stack, os.path.join(clones[0], ".venv"))
    open(os.path.join(clones[0], ".venv.stamp"), "w").close()
    # as a person's shell runs make: not with the PYTHONPATH this suite's own runs set
    # (pipeline/clone.py puts the suite's clone first on it for their subprocesses)
    make_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for clone in clones:  # b is made last: its make must not change what a runs
        subprocess.run(["make", "--no-print-directory", "venv", f"VENV_CACHE={stack}"],
                       cwd=clone, env=make_env, check=True, capture_output=True)
    elsewhere = str(tmp_path)
    for clone in clones:
        name = os.path.basename(clone)
        python = os.path.join(clone, ".venv", "bin", "python")
        runs = {
            "python -P": [python, "-P", "-c", "from pipeline.cli import main; main()"],
            "console script": [os.path.join(clone, ".venv", "bin", "ctr-pipeline")],
            "activated venv": ["python", "-c", "from pipeline.cli import main; main()"],
            "stack import": [python, "-P", "-c", "import yaml, pipeline.cli; "
                             "print('code of', pipeline.cli.__file__.split('/')[-3])"],
        }
        env = dict(os.environ, PATH=os.pathsep.join([os.path.join(clone, ".venv", "bin"),
                                                     os.environ["PATH"]]))
        env.pop("PYTHONPATH", None)
        for how, command in runs.items():
            out = subprocess.run(command, cwd=elsewhere, env=env, capture_output=True,
                                 text=True)
            assert out.stdout.strip() == f"code of {name}", (how, out.stdout, out.stderr)
    assert not os.path.islink(os.path.join(clones[0], ".venv"))
    assert sorted(os.listdir(stack_site)) == site_before  # nothing installed into the stack
    assert sorted(os.listdir(os.path.join(stack, "lib"))) == stack_files


def test_two_makes_at_once_build_the_shared_stack_once(tmp_path):
    """The stack rule with stand-ins for Python and the installer (PYTHON=..., UV=...) that log
    their calls: two clones run make at the same time on one empty stack folder; the calls never
    overlap and come from one build (4 calls: the venv, pip, the pinned set, the no-deps set)."""
    log = tmp_path / "calls.log"
    stand_in = textwrap.dedent(f"""\
        #!/bin/sh
        echo "start $$" >> {log}
        [ "$1" = -m ] && [ "$2" = venv ] && mkdir -p "$3"
        sleep 0.3
        echo "end $$" >> {log}
        """)
    for name in ("python", "uv"):
        (tmp_path / name).write_text(stand_in)
        (tmp_path / name).chmod(0o755)
    stack = tmp_path / "cache" / "venv-test"
    clones = [make_clone(str(tmp_path), name) for name in ("clone-a", "clone-b")]
    outputs = {}

    def build(clone):
        outputs[clone] = subprocess.run(
            ["make", "--no-print-directory", f"{stack}/.stack-installed", f"VENV_CACHE={stack}",
             f"UV={tmp_path / 'uv'}", f"PYTHON={tmp_path / 'python'}"], cwd=clone,
            capture_output=True, text=True)

    threads = [threading.Thread(target=build, args=(clone,)) for clone in clones]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for out in outputs.values():
        assert out.returncode == 0, out.stderr
    lines = log.read_text().split()
    events = list(zip(lines[0::2], lines[1::2]))
    assert len(events) == 8  # 4 calls, each a start and an end
    assert all(events[i][0] == "start" and events[i + 1] == ("end", events[i][1])
               for i in range(0, 8, 2)), events  # never two calls at once
    assert sum("built meanwhile by another clone" in o.stdout for o in outputs.values()) == 1
    assert (stack / ".stack-installed").exists()
