"""AFM (Xiao et al., 2017, "Attentional Factorization Machines"): a linear part plus an
attention-weighted sum of the pairwise field interactions, per fm_group.

    sparse/dense inputs ─┬─ linear logit ───────────────────────┐
                         └─ embeddings ─ AFMLayer per fm_group ─┴─ + ─ PredictionLayer
                            (use_attention=False: FM instead of AFMLayer)
"""
from ..columns import DEFAULT_GROUP_NAME, DenseFeat
from ..layers.interaction import FM, AFMLayer
from ..layers.utils import concat_func
from .base import (add_func, as_group_tuple, check_equal_dims, check_task, linear_and_embeddings,
                   output_model, sparse_columns)


def AFM(linear_feature_columns, dnn_feature_columns, fm_group=DEFAULT_GROUP_NAME,
        use_attention=True, attention_factor=8, l2_reg_linear=1e-5, l2_reg_embedding=1e-5,
        l2_reg_att=1e-5, afm_dropout=0, seed=1024, task="binary"):
    """AFM. `fm_group` is one group name (exact match) or a list of names; each named group
    needs at least 2 fields of one embedding_dim. DenseFeats are not allowed in
    `dnn_feature_columns` (put them in `linear_feature_columns`). There is no DNN."""
    check_task(task, "AFM")
    fm_group = as_group_tuple(fm_group)
    dense = [fc.name for fc in dnn_feature_columns if isinstance(fc, DenseFeat)]
    if dense:
        raise ValueError(f"AFM does not take DenseFeat in dnn_feature_columns, got {dense}")
    fields = {}
    for fc in sparse_columns(dnn_feature_columns):
        if fc.group_name in fm_group:
            fields.setdefault(fc.group_name, []).append(fc)
    for group in fm_group:
        if len(fields.get(group, [])) < 2:
            raise ValueError(f"AFM needs at least 2 sparse fields in fm_group {group!r}, got "
                             f"{[fc.name for fc in fields.get(group, [])]}")
        check_equal_dims(fields[group], "AFM", f"pairwise interactions within group {group!r}")
    features, linear_logit, group_embeddings, _ = linear_and_embeddings(
        linear_feature_columns, dnn_feature_columns, l2_reg_linear, l2_reg_embedding, seed,
        support_dense=False, support_group=True)
    if use_attention:
        interaction = lambda embeddings: AFMLayer(attention_factor, l2_reg_att, afm_dropout,
                                                  seed)(embeddings)
    else:
        interaction = lambda embeddings: FM()(concat_func(embeddings, axis=1))
    fm_logits = [interaction(embeddings) for group, embeddings in group_embeddings.items()
                 if group in fm_group]
    return output_model(features, add_func([linear_logit] + fm_logits), task, "AFM")
