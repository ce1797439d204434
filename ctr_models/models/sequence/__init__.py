"""Behaviour-sequence models (DeepCTR's ``deepctr.models.sequence``): DIN, DIEN, BST, DSIN.

Each model is imported lazily from its own module, so ``from ctr_models.models.sequence import
DIN`` imports only din.py. Shared pieces (column split, query/keys lookup, lengths, the DNN
tail) live in ``_common``.
"""
import importlib

_MODULES = {"DIN": "din", "DIEN": "dien", "BST": "bst", "DSIN": "dsin"}


def __getattr__(name):
    if name in _MODULES:
        return getattr(importlib.import_module(f".{_MODULES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_MODULES)
