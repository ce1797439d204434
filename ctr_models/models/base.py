"""Pieces every model composes: inputs, the DNN logit head, argument checks, the output."""
from typing import NamedTuple

import tf_keras as keras

from ..columns import DEFAULT_GROUP_NAME, SparseFeat, VarLenSparseFeat, build_input_features
from ..inputs import get_linear_logit, input_from_feature_columns
from ..layers.core import DNN, TASKS, PredictionLayer
from ..layers.utils import combined_dnn_input, concat_func

__all__ = ["build_features", "add_func", "dnn_logit", "output_model", "check_task",
           "grouped_interaction_model", "cross_deep_model", "linear_deep_model",
           "check_equal_dims", "as_group_tuple", "sparse_columns", "logit_dense",
           "require_sparse_fields", "LinearAndEmbeddings", "linear_and_embeddings",
           "features_and_linear_logit",
           "check_multitask", "embedded_dnn_input", "tower_logits", "multitask_output_model"]


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
    """DNN tower followed by a bias-free 1-unit projection: [B, n] -> [B, 1]. Empty
    `hidden_units` means no hidden layer, not no deep part: the projection then reads the DNN
    input directly (as DeepCTR's identity DNN + Dense(1) does)."""
    if hidden_units:
        dnn_input = DNN(hidden_units, activation, l2_reg, dropout_rate, use_bn,
                        seed=seed)(dnn_input)
    return logit_dense(dnn_input, seed)


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


def require_sparse_fields(feature_columns, model_name, purpose, min_fields=1):
    """Raises unless `feature_columns` hold at least `min_fields` SparseFeat/VarLenSparseFeat
    columns of one embedding_dim: what a layer over the stacked field embeddings needs
    (`purpose` names it in the message)."""
    fields = sparse_columns(feature_columns)
    if len(fields) < min_fields:
        if min_fields == 1:
            raise ValueError(f"{model_name} needs at least one SparseFeat/VarLenSparseFeat in "
                             f"dnn_feature_columns ({purpose})")
        raise ValueError(f"{model_name} needs at least {min_fields} sparse fields in "
                         f"dnn_feature_columns ({purpose}), got {[fc.name for fc in fields]}")
    check_equal_dims(feature_columns, model_name, purpose)


class LinearAndEmbeddings(NamedTuple):
    """The common start of the models with a linear part (see linear_and_embeddings)."""
    features: dict        # name -> keras.Input, for every column of both lists
    linear_logit: object  # [B, 1]: the wide part over linear_feature_columns
    embeddings: object    # input_from_feature_columns' sparse embeddings (list, or by group)
    dense_values: list    # [B, dimension] per DenseFeat of dnn_feature_columns


def features_and_linear_logit(linear_feature_columns, dnn_feature_columns, l2_reg_linear, seed):
    """(name -> keras.Input for the union of both column lists, the linear logit [B, 1] over
    `linear_feature_columns`)."""
    features = build_features(linear_feature_columns, dnn_feature_columns)
    return features, get_linear_logit(features, linear_feature_columns, seed=seed,
                                      prefix="linear", l2_reg=l2_reg_linear)


def linear_and_embeddings(linear_feature_columns, dnn_feature_columns, l2_reg_linear,
                          l2_reg_embedding, seed, support_dense=True, support_group=False):
    """Inputs for the union of both column lists, the linear logit over the linear columns and
    the embeddings of the dnn columns (input_from_feature_columns with `support_dense` /
    `support_group`): the first three boxes of most diagrams. Built in this order, which fixes
    the layers' names and the order of the saved weights.

        inputs ─┬─ linear logit
                └─ embeddings [B, 1, k] per field, dense values
    """
    features, linear_logit = features_and_linear_logit(
        linear_feature_columns, dnn_feature_columns, l2_reg_linear, seed)
    embeddings, dense_values = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed, support_dense=support_dense,
        support_group=support_group)
    return LinearAndEmbeddings(features, linear_logit, embeddings, dense_values)


def as_group_tuple(group):
    """fm_group may be given as one group name or a sequence of names (DeepCTR accepted a string
    and then tested membership by substring; here a string means exactly that one group)."""
    if isinstance(group, str):
        return (group,)
    return tuple(group) if group is not None else (DEFAULT_GROUP_NAME,)


def grouped_interaction_model(name, linear_feature_columns, dnn_feature_columns, fm_group,
                              interaction, dnn_hidden_units, l2_reg_linear, l2_reg_embedding,
                              l2_reg_dnn, seed, dnn_dropout, dnn_activation, dnn_use_bn, task,
                              deep_without_hidden=True):
    """The DeepFM family: linear logit + `interaction(embeddings)` ([B, F, k] -> [B, 1]) within
    each group named in `fm_group` + a DNN logit over every group. With an empty
    `dnn_hidden_units` the deep logit is Dense(1) over the DNN input when `deep_without_hidden`
    (DeepCTR's DeepFM), else it is left out (DeepCTR's FwFM).

        inputs ─┬─ linear logit ──────────────────────────┐
                ├─ embeddings ─┬─ interaction per group ──┤─ + ─ PredictionLayer
                │              └─ DNN ─ Dense(1) ─────────┘
    """
    check_task(task, name)
    fm_group = as_group_tuple(fm_group)
    check_equal_dims([fc for fc in dnn_feature_columns if getattr(fc, "group_name", None)
                      in fm_group], name, "pairwise interactions within an fm_group")
    features, linear_logit, group_embeddings, dense_values = linear_and_embeddings(
        linear_feature_columns, dnn_feature_columns, l2_reg_linear, l2_reg_embedding, seed,
        support_group=True)
    logits = [linear_logit]
    logits += [interaction(concat_func(embeddings, axis=1))
               for group, embeddings in group_embeddings.items() if group in fm_group]
    if dnn_hidden_units or deep_without_hidden:
        all_embeddings = [e for group in group_embeddings.values() for e in group]
        logits.append(dnn_logit(combined_dnn_input(all_embeddings, dense_values),
                                dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout,
                                dnn_use_bn, seed))
    return output_model(features, add_func(logits), task, name)


def linear_deep_model(name, linear_feature_columns, dnn_feature_columns, dnn_hidden_units,
                      l2_reg_linear, l2_reg_embedding, l2_reg_dnn, seed, dnn_dropout,
                      dnn_activation, task):
    """Wide & Deep (and the FNN of DeepCTR 0.9.4, which had WDL's layout): linear logit + DNN
    logit over the embeddings.

        inputs ─┬─ linear logit ─────────────────────────┐
                └─ embeddings + dense ─ DNN ─ Dense(1) ──┴─ + ─ PredictionLayer
    """
    check_task(task, name)
    features, linear_logit, sparse_embeddings, dense_values = linear_and_embeddings(
        linear_feature_columns, dnn_feature_columns, l2_reg_linear, l2_reg_embedding, seed)
    deep_logit = dnn_logit(combined_dnn_input(sparse_embeddings, dense_values), dnn_hidden_units,
                           dnn_activation, l2_reg_dnn, dnn_dropout, False, seed)
    return output_model(features, add_func([linear_logit, deep_logit]), task, name)


def cross_deep_model(name, linear_feature_columns, dnn_feature_columns, cross_layer,
                     dnn_hidden_units, l2_reg_linear, l2_reg_embedding, l2_reg_dnn, seed,
                     dnn_dropout, dnn_use_bn, dnn_activation, task):
    """The DCN family: x0 = [flat embeddings, dense]; Dense(1) over [cross_layer(x0), DNN(x0)]
    (either may be absent, not both) + linear logit.

        inputs ─┬─ linear logit ─────────────────────────────────────────────┐
                └─ x0 ─┬─ cross_layer ─┐                                     │
                       └─ DNN ─────────┴─ concat ─ Dense(1) ─────────────────┴─ + ─ Prediction
    """
    check_task(task, name)
    if cross_layer is None and not dnn_hidden_units:
        raise ValueError(f"{name} needs cross_num > 0 or a non-empty dnn_hidden_units")
    features, linear_logit, sparse_embeddings, dense_values = linear_and_embeddings(
        linear_feature_columns, dnn_feature_columns, l2_reg_linear, l2_reg_embedding, seed)
    x0 = combined_dnn_input(sparse_embeddings, dense_values)
    towers = [cross_layer(x0)] if cross_layer is not None else []
    if dnn_hidden_units:
        towers.append(DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn,
                          seed=seed)(x0))
    logit = logit_dense(concat_func(towers), seed)
    return output_model(features, add_func([linear_logit, logit]), task, name)


def check_multitask(name, task_types, task_names):
    """Validates a multi-task model's `task_types`/`task_names` (one entry per task, at least 2
    tasks, known types, unique non-empty names); returns them as tuples."""
    for arg, value in (("task_types", task_types), ("task_names", task_names)):
        if isinstance(value, str) or value is None:
            raise ValueError(f"{name}: {arg} must be a list with one entry per task, got {value!r}")
    task_types, task_names = tuple(task_types), tuple(task_names)
    if len(task_names) != len(task_types):
        raise ValueError(f"{name}: task_types and task_names need one entry per task, got "
                         f"{len(task_types)} task_types {task_types!r} and {len(task_names)} "
                         f"task_names {task_names!r}")
    if len(task_names) < 2:
        raise ValueError(f"{name} is a multi-task model and needs at least 2 tasks, got "
                         f"task_names={task_names!r}")
    for task_type in task_types:
        if task_type not in TASKS:
            raise ValueError(f"{name}: task_types entries must be one of {TASKS}, got "
                             f"{task_type!r} in task_types={task_types!r}")
    for task_name in task_names:
        if not isinstance(task_name, str) or not task_name:
            raise ValueError(f"{name}: task_names entries must be non-empty strings (they name "
                             f"the outputs), got {task_name!r} in task_names={task_names!r}")
    repeated = sorted({n for n in task_names if task_names.count(n) > 1})
    if repeated:
        raise ValueError(f"{name}: task_names must be unique (they name the outputs), got "
                         f"{task_names!r} with {repeated} repeated")
    return task_types, task_names


def embedded_dnn_input(features, dnn_feature_columns, l2_reg_embedding, seed):
    """[B, sum of embedding dims + dense dims]: every column's embedding, flattened, and dense
    values, concatenated (the common input of the multi-task models' experts and towers)."""
    sparse_embeddings, dense_values = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed)
    return combined_dnn_input(sparse_embeddings, dense_values)


def tower_logits(task_inputs, tower_names, hidden_units, activation="relu", l2_reg=0,
                 dropout_rate=0, use_bn=False, seed=1024):
    """One tower per task: DNN(hidden_units) (none when empty) then a bias-free Dense(1);
    [B, n_i] -> [B, 1] each. Layers are named tower_<name> and logit_<name>; tower i is seeded
    seed + i so towers do not start identical."""
    logits = []
    for i, (x, tower_name) in enumerate(zip(task_inputs, tower_names)):
        if hidden_units:
            x = DNN(hidden_units, activation, l2_reg, dropout_rate, use_bn, seed=seed + i,
                    name=f"tower_{tower_name}")(x)
        logits.append(logit_dense(x, seed + i, name=f"logit_{tower_name}"))
    return logits


def multitask_output_model(features, logits, task_types, task_names, name):
    """PredictionLayer(task_type) per task logit [B, 1], each named after its task, so
    `model.output_names == list(task_names)`; a keras.Model over all inputs with the outputs in
    task order."""
    outputs = [PredictionLayer(task_type, name=task_name)(logit)
               for logit, task_type, task_name in zip(logits, task_types, task_names)]
    return keras.Model(inputs=list(features.values()), outputs=outputs, name=name)
