"""Lazy exports for the model packages: a model module is imported on first use of its name,
so importing one model does not import (and build the layers of) the whole zoo."""
import importlib


def lazy_getattr(package, modules):
    """A module-level ``__getattr__`` for `package`: `name` in `modules` (name -> submodule)
    imports that submodule and returns its attribute `name`."""
    def __getattr__(name):
        if name in modules:
            return getattr(importlib.import_module(f".{modules[name]}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return __getattr__
