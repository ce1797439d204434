"""Feature columns and models from a dataset spec plus the Transform output.

Vocabulary sizes are read from Transform's vocabulary files, never typed by hand. Every feature of
a vocab_group reads one embedding table (shared `embedding_name`), so the model does one gather
over one id space, as laid out in components/dataset_spec.py.
"""
import ast
import inspect

from ctr_models.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat
from ctr_models.models import SPARSE_ONLY_DNN, get_model_fn

from components.dataset_spec import MultiValueSpec
from components.transform import vocabulary_name


def vocabulary_sizes(spec, tft_output):
    """vocab_group -> id-space size: padding + one OOV id per member + vocabulary tokens."""
    return {group: 1 + len(members) + tft_output.vocabulary_size_by_name(vocabulary_name(group))
            for group, members in spec.vocab_groups().items()}


def _table(spec, feature, sizes):
    """(embedding_name, vocabulary_size) of the table a categorical feature reads."""
    owner_name = getattr(feature, "vocab_of", None)
    owner = next((f for f in spec.categorical() if f.name == owner_name), feature)
    if owner.encoding == "hash":
        return feature.name, owner.hash_buckets
    dims = {f.embedding_dim for f in spec.vocab_groups()[owner.vocab_group]}
    name = owner.vocab_group if len(dims) == 1 else f"{owner.vocab_group}_d{feature.embedding_dim}"
    return name, sizes[owner.vocab_group]


def feature_columns(spec, sizes):
    """(linear_feature_columns, dnn_feature_columns) for the transformed features."""
    columns = []
    for f in spec.categorical():
        embedding_name, size = _table(spec, f, sizes)
        sparse = SparseFeat(f.name, size, embedding_dim=f.embedding_dim,
                            embedding_name=embedding_name, group_name=f.group, dtype="int64")
        columns.append(VarLenSparseFeat(sparse, f.max_length, f.combiner)
                       if isinstance(f, MultiValueSpec) else sparse)
    columns += [DenseFeat(f.name, 1) for f in spec.dense]
    return list(columns), list(columns)


def parse_model_args(pairs):
    """['k=v', ...] -> dict; values are Python literals when they parse ('(64, 32)', '0.1',
    'True'), else strings ('matrix')."""
    args = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"--model-arg expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            args[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            args[key.strip()] = value.strip()
    return args


# Arguments the pipeline fills from the spec; a model_args entry of the same name wins.
_COLUMN_ARGS = ("linear_feature_columns", "dnn_feature_columns", "region_feature_columns")


def build_model(model_name, spec, linear_columns, dnn_columns, model_args=None):
    """Builds registered model `model_name` with the spec's columns and task."""
    model_fn = get_model_fn(model_name)
    params = inspect.signature(model_fn).parameters
    model_args = dict(model_args or {})
    unknown = sorted(set(model_args) - set(params) - set(_COLUMN_ARGS))
    if unknown:
        allowed = [p for p in params if p not in _COLUMN_ARGS]
        raise ValueError(f"{model_fn.__name__} has no argument(s) {unknown}; it takes {allowed}")
    kwargs = {}
    if model_fn.__name__ in SPARSE_ONLY_DNN:  # dense features still reach the linear part
        dnn_columns = [fc for fc in dnn_columns if not isinstance(fc, DenseFeat)]
    if "fm_group" in params:  # FM-style interactions within every group the spec declares
        kwargs["fm_group"] = tuple(dict.fromkeys(f.group for f in spec.categorical()))
    if "linear_feature_columns" in params:
        kwargs["linear_feature_columns"] = linear_columns
    if "dnn_feature_columns" in params:
        kwargs["dnn_feature_columns"] = dnn_columns
    if "region_feature_columns" in params:
        kwargs["region_feature_columns"] = dnn_columns
    if "task" in params:
        if len(spec.labels) != 1:
            raise ValueError(f"{model_fn.__name__} is single-task but the spec has labels "
                             f"{spec.label_names}")
        kwargs["task"] = spec.task
    if "task_types" in params:
        kwargs["task_types"] = tuple(label.task for label in spec.labels)
        kwargs["task_names"] = tuple(spec.label_names)
    kwargs.update(model_args)
    return model_fn(**kwargs)
