"""Warm start: initialise a new model from the previously pushed model's weights.

Transform recomputes its vocabularies on every new span, so a token's id can change between
runs (ids follow token frequency) and a new token can take an id an old one had. Copying an
embedding table as a whole would then give rows to the wrong tokens. Rows are therefore remapped
by token: for every vocab_group, the old and the new Transform vocabulary files are read, and the
new table's row of each token present in both is the old table's row of that token (wherever it
was). Tokens new in this span keep their fresh initial values; tokens that left the vocabulary
are dropped. Padding (id 0) and the per-feature OOV ids (1..M) keep their meaning and are copied.
Hash-encoded tables (ids do not depend on data) and every other weight (dense layers, biases,
cross layers) are copied when their shapes are equal.

The previous model is rebuilt from its own configuration (model, model_args, dataset spec, old
vocabulary sizes) and its weights are read from the pushed SavedModel's checkpoint; layers are
paired in construction order. When the layouts differ (another model or arguments, another
feature set, a weight whose shape changed) nothing is copied and a fresh model is trained; the
reason is logged.

custom_config["warm_start"] keys: model_dir (a pushed SavedModel), transform_graph (the
Transform output it was trained with), model, model_args, spec (dict), and optionally
source (a label for the log, e.g. the pushed version).
"""
import logging
import os
from typing import Dict, List, Optional

import numpy as np

log = logging.getLogger(__name__)
progress_log = logging.getLogger("ctr_pipeline.progress")


class LayoutMismatch(ValueError):
    """The previous model's layout does not allow copying its weights."""


def _tokens(values) -> List[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def vocabularies(spec, tft_output) -> Dict[str, List[str]]:
    """vocab_group -> tokens in id order, from a TFTransformOutput's vocabulary files."""
    from components.transform import vocabulary_name
    return {group: _tokens(tft_output.vocabulary_by_name(vocabulary_name(group)))
            for group in spec.vocab_groups()}


def row_map(old_tokens: List[str], new_tokens: List[str], reserved: int) -> np.ndarray:
    """For each row of the new table, the old table's row holding the same meaning, or -1 (a new
    token: keep its fresh initial value). Rows 0..reserved-1 (padding and OOV ids) map to
    themselves; token i sits at row reserved + i (components/transform.py)."""
    old_row = {token: reserved + i for i, token in enumerate(old_tokens)}
    return np.array(list(range(reserved)) +
                    [old_row.get(token, -1) for token in new_tokens], dtype=np.int64)


def _feature_layout(spec):
    """What must agree for weights to carry over: labels, features, tables and dims."""
    return ([(f.name, f.task) for f in spec.labels],
            [(f.name, getattr(f, "encoding", None), getattr(f, "embedding_dim", None),
              getattr(f, "vocab_group", None), getattr(f, "hash_buckets", None),
              getattr(f, "max_length", None)) for f in spec.categorical()],
            [f.name for f in spec.dense])


def check_compatible(previous: dict, spec, model_name: str, model_args: dict):
    """Raises LayoutMismatch naming what differs between the previous model and this one."""
    from components.dataset_spec import spec_from_config
    if previous.get("model") != model_name:
        raise LayoutMismatch(f"the previous model is {previous.get('model')}, this run trains "
                             f"{model_name}")
    if (previous.get("model_args") or {}) != (model_args or {}):
        raise LayoutMismatch(f"model arguments differ: previous {previous.get('model_args')}, "
                             f"now {model_args}")
    old_spec = spec_from_config(previous["spec"])
    old, new = _feature_layout(old_spec), _feature_layout(spec)
    for what, a, b in zip(("labels", "categorical features", "dense features"), old, new):
        if a != b:
            raise LayoutMismatch(f"the {what} differ from the previous model's "
                                 f"({sorted(set(map(str, a)) ^ set(map(str, b)))[:4]} ...)")
    return old_spec


def _embedding_tables(layer):
    """[(table name, first row, rows)] of an embedding layer's variable, else None."""
    from ctr_models.layers.embedding import FusedEmbedding
    import tf_keras as keras
    if isinstance(layer, FusedEmbedding):
        names = layer.table_names or [str(i) for i in range(len(layer.table_sizes))]
        return list(zip(names, layer._offsets, layer.table_sizes))
    if isinstance(layer, keras.layers.Embedding):
        name = layer.name.rsplit("_emb_", 1)[-1]
        return [(name, 0, int(layer.input_dim))]
    return None


def _group_of(table_name, groups):
    """The vocab_group a table reads ('ids', 'ids_d8', 'linear_ids' -> 'ids'), else None."""
    for group in sorted(groups, key=len, reverse=True):
        for name in (table_name, table_name.rsplit("_d", 1)[0]):
            if name == group or name.endswith("_" + group):
                return group
    return None


def plan_copy(old_model, new_model, row_maps: Dict[str, np.ndarray]):
    """[(new variable, new value)] for every weight of `new_model`, from `old_model`'s weights:
    embedding rows remapped per vocab_group (`row_maps`), everything else copied as is. Raises
    LayoutMismatch when the two models are not built alike."""
    old_layers = [l for l in old_model.layers if l.weights]
    new_layers = [l for l in new_model.layers if l.weights]
    if [type(l).__name__ for l in old_layers] != [type(l).__name__ for l in new_layers]:
        raise LayoutMismatch("the models' layers differ")
    plan = []
    for old_layer, new_layer in zip(old_layers, new_layers):
        if len(old_layer.weights) != len(new_layer.weights):
            raise LayoutMismatch(f"layer {new_layer.name}: {len(new_layer.weights)} weights, the "
                                 f"previous model's has {len(old_layer.weights)}")
        old_tables, new_tables = _embedding_tables(old_layer), _embedding_tables(new_layer)
        for old_var, new_var in zip(old_layer.weights, new_layer.weights):
            old_value = old_var.numpy()
            if new_tables is not None and len(new_var.shape) == 2:
                plan.append((new_var, _remap_tables(old_value, new_var.numpy(), old_tables,
                                                    new_tables, row_maps, new_layer.name)))
            elif tuple(old_var.shape) == tuple(new_var.shape):
                plan.append((new_var, old_value))
            else:
                raise LayoutMismatch(f"weight {new_var.name}: shape {tuple(new_var.shape)}, the "
                                     f"previous model's is {tuple(old_var.shape)}")
    return plan


def _remap_tables(old_value, new_value, old_tables, new_tables, row_maps, layer_name):
    if [t[0] for t in old_tables] != [t[0] for t in new_tables]:
        raise LayoutMismatch(f"layer {layer_name}: tables {[t[0] for t in new_tables]}, the "
                             f"previous model's are {[t[0] for t in old_tables]}")
    out = new_value.copy()
    for (name, old_start, old_rows), (_, new_start, new_rows) in zip(old_tables, new_tables):
        group = _group_of(name, row_maps)
        if group is None:  # hashed ids: same id, same meaning
            if old_rows != new_rows:
                raise LayoutMismatch(f"table {name}: {new_rows} rows, previously {old_rows}")
            out[new_start:new_start + new_rows] = old_value[old_start:old_start + old_rows]
            continue
        rows = row_maps[group]
        if len(rows) != new_rows or rows.max(initial=-1) >= old_rows:
            raise LayoutMismatch(f"table {name}: {new_rows} rows for vocabulary {group} of "
                                 f"{len(rows)} ids, previously {old_rows} rows")
        kept = rows >= 0
        out[new_start:new_start + new_rows][kept] = old_value[old_start + rows[kept]]
    return out


def load_previous_model(previous: dict, old_spec, old_vocabularies: Dict[str, List[str]]):
    """The previous model rebuilt from its configuration, with its pushed weights."""
    from components.model_builder import build_model, feature_columns
    sizes = {group: 1 + len(members) + len(old_vocabularies[group])
             for group, members in old_spec.vocab_groups().items()}
    linear, dnn = feature_columns(old_spec, sizes)
    model = build_model(previous["model"], old_spec, linear, dnn, previous.get("model_args"))
    checkpoint = os.path.join(previous["model_dir"], "variables", "variables")
    status = model.load_weights(checkpoint)
    status.expect_partial()  # no warnings at exit for what the model lacks (optimizer slots)
    try:
        # Every weight of the rebuilt model must come from the checkpoint: one saved by another
        # layout under the same model name (FNN before ctr_models followed DeepCTR #555, say)
        # would otherwise restore only the weights whose paths still match, the rest staying
        # freshly initialised.
        status.assert_existing_objects_matched()
    except AssertionError as error:
        raise LayoutMismatch(f"the pushed weights do not match the layout this code builds for "
                             f"{previous['model']} (saved by an older version?): "
                             f"{str(error).splitlines()[0][:300]}") from None
    return model


def warm_start_from(model, spec, new_vocabularies: Dict[str, List[str]], previous: dict,
                    model_name: str, model_args: Optional[dict],
                    old_vocabularies: Dict[str, List[str]]) -> dict:
    """Copies `previous`'s weights into `model` (rows remapped by token). Returns a summary:
    {"warm_started": bool, "reason" or the per-group token counts}. Nothing is changed when the
    layouts differ."""
    try:
        old_spec = check_compatible(previous, spec, model_name, model_args)
        missing = sorted(set(new_vocabularies) - set(old_vocabularies))
        if missing:
            raise LayoutMismatch(f"the previous Transform output has no vocabulary {missing}")
        reserved = {group: 1 + len(members) for group, members in spec.vocab_groups().items()}
        maps = {group: row_map(old_vocabularies[group], tokens, reserved[group])
                for group, tokens in new_vocabularies.items()}
        old_model = load_previous_model(previous, old_spec, old_vocabularies)
        plan = plan_copy(old_model, model, maps)
    except (LayoutMismatch, FileNotFoundError) as error:
        message = (f"warm start from {previous.get('source') or previous.get('model_dir')} not "
                   f"possible: {error}; training a fresh model")
        log.warning(message)
        progress_log.info(message)
        return {"warm_started": False, "reason": str(error)}
    for variable, value in plan:
        variable.assign(value)
    tokens = {group: {"kept": int((m[reserved[group]:] >= 0).sum()),
                      "new": int((m[reserved[group]:] < 0).sum()),
                      "dropped": len(old_vocabularies[group]) -
                      int((m[reserved[group]:] >= 0).sum())}
              for group, m in maps.items()}
    progress_log.info("warm start from %s: %d weights copied, embedding rows remapped by token %s",
                      previous.get("source") or previous.get("model_dir"), len(plan), tokens)
    return {"warm_started": True, "source": previous.get("source") or previous["model_dir"],
            "tokens": tokens}


def apply(model, spec, tft_output, config: dict) -> Optional[dict]:
    """run_fn's hook: warm-starts `model` when custom_config has a `warm_start` entry; returns
    the summary (None when no warm start was asked for)."""
    previous = config.get("warm_start")
    if not previous:
        return None
    import tensorflow_transform as tft
    new_vocabularies = vocabularies(spec, tft_output)
    try:
        from components.dataset_spec import spec_from_config
        old_vocabularies = vocabularies(spec_from_config(previous["spec"]),
                                        tft.TFTransformOutput(previous["transform_graph"]))
    except Exception as error:  # a missing or unreadable transform graph: start fresh
        old_vocabularies = {}
        log.warning("warm start: previous vocabularies unreadable (%s)", error)
    return warm_start_from(model, spec, new_vocabularies, previous, config["model"],
                           config.get("model_args"), old_vocabularies)
