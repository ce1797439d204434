"""Behaviour-sequence models (DeepCTR's ``deepctr.models.sequence``): DIN, DIEN, BST, DSIN.

Each model is imported lazily from its own module, so ``from ctr_models.models.sequence import
DIN`` imports only din.py. Shared pieces (column split, query/keys lookup, lengths, the DNN
tail) live in ``_common``.
"""
from ..lazy import lazy_getattr

_MODULES = {"DIN": "din", "DIEN": "dien", "BST": "bst", "DSIN": "dsin"}

__getattr__ = lazy_getattr(__name__, _MODULES)


__all__ = list(_MODULES)
