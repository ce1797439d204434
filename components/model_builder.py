"""Feature columns and models from a dataset spec plus the Transform output.

Vocabulary sizes are read from Transform's vocabulary files, never typed by hand. Every feature of
a vocab_group reads one embedding table (shared `embedding_name`), so the model does one gather
over one id space, as laid out in components/dataset_spec.py.
"""
import inspect
import zlib

from tf_keras.initializers import RandomNormal

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


def _initializer(feature, embedding_name):
    """The spec's `embedding_init_std` as a random-normal initializer seeded by the table name
    (reproducible; features reading one table agree); None = the library default."""
    if feature.embedding_init_std is None:
        return None
    seed = zlib.crc32(embedding_name.encode()) % 2**31
    return RandomNormal(mean=0.0, stddev=float(feature.embedding_init_std), seed=seed)


def feature_columns(spec, sizes):
    """(linear_feature_columns, dnn_feature_columns) for the transformed features."""
    columns = []
    for f in spec.categorical():
        embedding_name, size = _table(spec, f, sizes)
        sparse = SparseFeat(f.name, size, embedding_dim=f.embedding_dim,
                            embedding_name=embedding_name, group_name=f.group, dtype="int64",
                            embeddings_initializer=_initializer(f, embedding_name))
        columns.append(VarLenSparseFeat(sparse, f.max_length, f.combiner)
                       if isinstance(f, MultiValueSpec) else sparse)
    columns += [DenseFeat(f.name, 1) for f in spec.dense]
    return list(columns), list(columns)


# Arguments the pipeline fills from the spec; a model_args entry of the same name wins.
COLUMN_ARGS = ("linear_feature_columns", "dnn_feature_columns", "region_feature_columns")


def _arg(params, model_args, name):
    """The value `name` will have: model_args, else the constructor's default."""
    if name in model_args:
        return model_args[name]
    return params[name].default if name in params else None


def _behaviour_args(model_name, spec, params, model_args):
    """history_feature_list / sess_feature_list / sess_max_count from the spec's behaviour
    section (columns hist_X, neg_hist_X, sess_<i>_X); DSIN's att_embedding_size so that its
    heads split the concatenated session embedding (unless given)."""
    reads = [p for p in ("history_feature_list", "sess_feature_list") if p in params]
    if not reads:
        return {}
    b = spec.behaviour
    if b is None:
        raise ValueError(f"{model_name} reads behaviour sequences ({reads[0]}) but dataset spec "
                         f"{spec.source} has no behaviour section")
    kwargs = {name: list(b.history_feature_list) for name in reads}
    if _arg(params, model_args, "use_negsampling") and not b.negatives:
        raise ValueError(f"{model_name}: use_negsampling=True needs neg_hist_* columns: set "
                         f"behaviour.negatives: 1 in {spec.source}")
    if "sess_feature_list" in params:
        if not b.sessions:
            raise ValueError(f"{model_name} reads sessions: set behaviour.session_gap_seconds "
                             f"in {spec.source}")
        kwargs["sess_max_count"] = b.sess_max_count
        if "att_embedding_size" in params and "att_embedding_size" not in model_args:
            by_name = {f.name: f for f in spec.categorical()}
            width = sum(by_name[x].embedding_dim for x in b.history_feature_list)
            heads = _arg(params, model_args, "att_head_num")
            if heads and width % heads == 0:
                kwargs["att_embedding_size"] = width // heads
    return kwargs


def _behaviour_columns(spec, params, model_args, columns):
    """Leaves out the generated sequence columns a model does not read: neg_hist_* unless
    use_negsampling, sess_* unless it takes sess_feature_list, and hist_* for models without
    history_feature_list when behaviour.history_in_other_models is false."""
    b = spec.behaviour
    if b is None:
        return columns
    drop = set()
    names = b.history_feature_list
    if not _arg(params, model_args, "use_negsampling"):
        drop |= {f"neg_hist_{x}" for x in names}
    if "sess_feature_list" not in params:
        drop |= {f"sess_{i}_{x}" for i in range(b.sess_max_count) for x in names}
    if "history_feature_list" not in params and not b.history_in_other_models:
        drop |= {f"hist_{x}" for x in names}
    return [fc for fc in columns if fc.name not in drop]


def build_model(model_name, spec, linear_columns, dnn_columns, model_args=None):
    """Builds registered model `model_name` with the spec's columns and task."""
    model_fn = get_model_fn(model_name)
    params = inspect.signature(model_fn).parameters
    model_args = dict(model_args or {})
    unknown = sorted(set(model_args) - set(params) - set(COLUMN_ARGS))
    if unknown:
        allowed = [p for p in params if p not in COLUMN_ARGS]
        raise ValueError(f"{model_fn.__name__} has no argument(s) {unknown}; it takes {allowed}")
    kwargs = _behaviour_args(model_fn.__name__, spec, params, model_args)
    linear_columns = _behaviour_columns(spec, params, model_args, linear_columns)
    dnn_columns = _behaviour_columns(spec, params, model_args, dnn_columns)
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
