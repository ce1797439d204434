"""Multi-task models (DeepCTR's ``deepctr.models.multitask``): SharedBottom, ESMM, MMOE, PLE.

Each returns a keras.Model with one output per task, in task order, named after its task
(``model.output_names == list(task_names)``), so Keras losses/metrics may be dicts keyed by
task name. Imported lazily, like ``ctr_models.models``.
"""
import importlib

_MODULES = {"SharedBottom": "sharedbottom", "ESMM": "esmm", "MMOE": "mmoe", "PLE": "ple"}


def __getattr__(name):
    if name in _MODULES:
        return getattr(importlib.import_module(f".{_MODULES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_MODULES)
