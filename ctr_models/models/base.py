"""Pieces every model composes: inputs, the DNN logit head, argument checks, the output."""
import tf_keras as keras

from ..feature_column import DEFAULT_GROUP_NAME, SparseFeat, VarLenSparseFeat, build_input_features
from ..layers.core import DNN, TASKS, PredictionLayer

__all__ = ["build_features", "add_func", "dnn_logit", "output_model", "check_task",
           "check_equal_dims", "as_group_tuple", "sparse_columns", "logit_dense"]


def build_features(*column_lists):
    """OrderedDict name -> keras.Input for the union of the column lists."""
    columns = [fc for cols in column_lists if cols for fc in cols]
    if not columns:
        raise ValueError("The model needs at least one feature column")
    return build_input_features(columns)


def add_func(tensors):
    """Sums a list of same-shape tensors (a single tensor is returned as is)."""
    tensors = [t for t in tensors if t is not None]
    if not tensors:
        raise ValueError("add_func needs at least one tensor")
    if len(tensors) == 1:
        return tensors[0]
    return keras.layers.Add()(tensors)


def logit_dense(x, seed=1024, name=None):
    """[B, n] -> [B, 1] projection without bias (the bias lives in PredictionLayer)."""
    return keras.layers.Dense(1, use_bias=False,
                              kernel_initializer=keras.initializers.GlorotNormal(seed=seed),
                              name=name)(x)


def dnn_logit(dnn_input, hidden_units, activation="relu", l2_reg=0, dropout_rate=0,
              use_bn=False, seed=1024):
    """DNN tower followed by a bias-free 1-unit projection: [B, n] -> [B, 1]."""
    hidden = DNN(hidden_units, activation, l2_reg, dropout_rate, use_bn, seed=seed)(dnn_input)
    return logit_dense(hidden, seed)


def output_model(features, logit, task, name):
    """Wraps the final logit [B, 1] in PredictionLayer(task) and a keras.Model over all inputs."""
    output = PredictionLayer(task)(logit)
    return keras.Model(inputs=list(features.values()), outputs=output, name=name)


def check_task(task, model_name):
    if task not in TASKS:
        raise ValueError(f"{model_name}: task must be one of {TASKS}, got {task!r}")


def sparse_columns(feature_columns):
    return [fc for fc in feature_columns or [] if isinstance(fc, (SparseFeat, VarLenSparseFeat))]


def check_equal_dims(feature_columns, model_name, reason="its interaction layer"):
    """Raises naming the features when embedding dims differ (pairwise interactions need one dim)."""
    dims = {}
    for fc in sparse_columns(feature_columns):
        dims.setdefault(fc.embedding_dim, []).append(fc.name)
    if len(dims) > 1:
        detail = "; ".join(f"dim {d}: {names}" for d, names in sorted(dims.items()))
        raise ValueError(f"{model_name} needs one embedding_dim for all sparse features ({reason}), "
                         f"got {detail}")


def as_group_tuple(group):
    """fm_group may be given as one group name or a sequence of names (DeepCTR accepted a string
    and then tested membership by substring; here a string means exactly that one group)."""
    if isinstance(group, str):
        return (group,)
    return tuple(group) if group is not None else (DEFAULT_GROUP_NAME,)
