"""The model zoo. Models are imported lazily: ``from ctr_models.models import DeepFM`` imports
only deepfm.py. ``MODEL_NAMES`` lists every registered model; ``get_model_fn(name)`` resolves a
name case-insensitively (used by the pipeline's ``--model``)."""
import importlib

# model name -> module in this package
_REGISTRY = {
    "AFM": "afm", "AutoInt": "autoint", "CCPM": "ccpm", "DCN": "dcn", "DCNMix": "dcnmix",
    "DeepFEFM": "deepfefm", "DeepFM": "deepfm", "DIFM": "difm", "EDCN": "edcn", "FGCNN": "fgcnn",
    "FiBiNET": "fibinet", "FLEN": "flen", "FNN": "fnn", "FwFM": "fwfm", "IFM": "ifm",
    "MLR": "mlr", "NFM": "nfm", "ONN": "onn", "PNN": "pnn", "WDL": "wdl", "xDeepFM": "xdeepfm",
    # multi-task models: one output per task, named after it
    "ESMM": "multitask.esmm", "MMOE": "multitask.mmoe", "PLE": "multitask.ple",
    "SharedBottom": "multitask.sharedbottom",
    # behaviour-sequence models: candidate SparseFeat X + VarLenSparseFeat hist_X (DSIN: sess_<i>_X)
    "BST": "sequence.bst", "DIEN": "sequence.dien", "DIN": "sequence.din", "DSIN": "sequence.dsin",
}


# Models whose DNN/interaction part takes embeddings only; their dense features may only feed
# the linear part (DeepCTR raises for a DenseFeat in their dnn_feature_columns too).
SPARSE_ONLY_DNN = frozenset({"AFM", "CCPM", "EDCN"})


def _module_present(module):
    """Whether `module` ("deepfm", or dotted "multitask.mmoe") exists, without importing it."""
    import os
    import pkgutil
    *package, leaf = module.split(".")
    return any(m.name == leaf for m in pkgutil.iter_modules(
        [os.path.join(path, *package) for path in __path__]))


def _available():
    return {name: module for name, module in _REGISTRY.items() if _module_present(module)}


MODEL_NAMES = tuple(sorted(_available(), key=str.lower))


def get_model_fn(name):
    """The model constructor registered as `name` (case-insensitive)."""
    by_lower = {n.lower(): n for n in _available()}
    key = by_lower.get(str(name).lower())
    if key is None:
        raise ValueError(f"Unknown model {name!r}; registered models: {', '.join(MODEL_NAMES)}")
    return getattr(importlib.import_module(f".{_REGISTRY[key]}", __name__), key)


def __getattr__(name):
    if name in _REGISTRY:
        return get_model_fn(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["MODEL_NAMES", "SPARSE_ONLY_DNN", "get_model_fn"] + list(_REGISTRY)
