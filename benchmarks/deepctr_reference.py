"""DeepCTR 0.9.4, the reference that the parity tests and the benchmarks compare against.

`import deepctr` starts a thread that asks pypi.org for DeepCTR's latest release (and prints to
stdout when it cannot). Nothing in this project may phone home, so `import_deepctr` loads
`deepctr.utils` itself with that check replaced by a no-op before the package is first imported.
"""
import importlib
import importlib.util
import os
import sys


def _no_version_check(version):
    """Stands in for deepctr.utils.check_version: no network call."""


def import_deepctr():
    """The `deepctr` package, imported without its network version check. Raises ImportError when
    deepctr is not installed."""
    if "deepctr" in sys.modules:
        return sys.modules["deepctr"]
    package = importlib.util.find_spec("deepctr")
    if package is None or package.origin is None:
        raise ImportError("deepctr is not installed (the DeepCTR 0.9.4 reference: pinned in "
                          "constraints.txt, installed with --no-deps by `make venv`)")
    spec = importlib.util.spec_from_file_location(
        "deepctr.utils", os.path.join(os.path.dirname(package.origin), "utils.py"))
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    utils.check_version = _no_version_check
    sys.modules["deepctr.utils"] = utils
    deepctr = importlib.import_module("deepctr")
    deepctr.utils = utils
    return deepctr
