"""The site hook of a clone's own virtual environment: the shared stack, then this clone's code.

The pinned stack (~3.4 GB) is installed once per constraints.txt into a shared cache folder and
never holds the project. Each clone gets a small `.venv` of its own (`make venv`: `python -m venv
--without-pip`), into whose site-packages the Makefile copies this file as
`ctr_pipeline_layer.py`, writes `ctr_pipeline_layer.cfg` (`clone=<clone folder>`,
`stack=<the shared site-packages>`) and a `ctr_pipeline_layer.pth` that calls `layer()` when
Python starts. The clone's folder goes on sys.path before the stack's site-packages, so its
`.venv/bin/python` (with -P, from any folder, in every process a run starts) and its
`.venv/bin/ctr-pipeline` import this clone's code. A stack installed before the project stopped
being installed into it still holds setuptools' editable install of whichever clone ran `make`
last: its import hook comes after sys.path (a meta-path finder appended at the end; a path line
is appended after this clone), so it is never reached for the project's packages.

Standard library only: this runs inside `site`, before anything else is importable."""
import os
import site
import sys

CONFIG_FILE = "ctr_pipeline_layer.cfg"


def read_config(path):
    """{"clone": folder, "stack": site-packages folder} from `key=value` lines."""
    config = {}
    with open(path) as f:
        for line in f:
            key, sep, value = line.rstrip("\n").partition("=")
            if sep:
                config[key.strip()] = value
    missing = {"clone", "stack"} - set(config)
    if missing:
        raise ValueError(f"{path}: no {', '.join(sorted(missing))}=")
    return config


def layer(config_dir=None):
    """Adds the clone, then the shared stack (with its .pth files), to sys.path."""
    config = read_config(os.path.join(config_dir or os.path.dirname(os.path.abspath(__file__)),
                                      CONFIG_FILE))
    if config["clone"] not in sys.path:
        sys.path.append(config["clone"])
    site.addsitedir(config["stack"])
