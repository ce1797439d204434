"""Multi-task models (DeepCTR's ``deepctr.models.multitask``): SharedBottom, ESMM, MMOE, PLE.

Each returns a keras.Model with one output per task, in task order, named after its task
(``model.output_names == list(task_names)``), so Keras losses/metrics may be dicts keyed by
task name. Imported lazily, like ``ctr_models.models``.
"""
from ..lazy import lazy_getattr

_MODULES = {"SharedBottom": "sharedbottom", "ESMM": "esmm", "MMOE": "mmoe", "PLE": "ple"}

__getattr__ = lazy_getattr(__name__, _MODULES)


__all__ = list(_MODULES)
