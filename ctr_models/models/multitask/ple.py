"""PLE (Tang et al., 2020, "Progressive Layered Extraction"): stacked Customized Gate Control
(CGC) levels. Each level has task-specific experts per task and shared experts; task t's gate
mixes its own experts with the shared ones, and (below the last level) a shared gate mixes all
experts to feed the next level's shared experts.

    level input: [x_1, ..., x_T, x_shared]   (level 0: the embeddings x for all)
      x_t      ─ specific experts of t ─┐
      x_shared ─ shared experts ────────┴─ ExpertGate(t)(x_t, own + shared) ─ next x_t
                                         ─ ExpertGate(shared)(x_shared, all experts) ─ next x_shared
    after the last level: x_t ─ tower_t ─ Dense(1) ─ PredictionLayer ─ task_t
"""
import itertools

from ...layers.core import DNN
from ...layers.multitask import ExpertGate
from ..base import (build_features, check_multitask, embedded_dnn_input, multitask_output_model,
                    tower_logits)


def PLE(dnn_feature_columns, shared_expert_num=1, specific_expert_num=1, num_levels=2,
        expert_dnn_hidden_units=(256,), tower_dnn_hidden_units=(64,), gate_dnn_hidden_units=(),
        l2_reg_embedding=1e-5, l2_reg_dnn=0, seed=1024, dnn_dropout=0, dnn_activation="relu",
        dnn_use_bn=False, task_types=("binary", "binary"), task_names=("ctr", "ctcvr")):
    """PLE with `num_levels` (>= 1) CGC levels of `specific_expert_num` (>= 1) experts per task
    and `shared_expert_num` (>= 1) shared experts (`expert_dnn_hidden_units`, non-empty).
    Gates: softmax(DNN_gate(x) @ W) (no gate DNN when `gate_dnn_hidden_units` is empty).
    `task_types`/`task_names`: one entry per task (at least 2); the outputs are a list in task
    order, each named after its task. `num_levels=1` is a single CGC.

    Differences from DeepCTR 0.9.4: every expert, gate and tower gets its own seed (seed,
    seed + 1, ... in build order; DeepCTR seeds them all alike, so experts start identical);
    each gate is one ExpertGate layer (DeepCTR: Lambda layers); `num_levels < 1` and
    `shared_expert_num < 1` raise (DeepCTR builds a model without outputs for 0 levels, and for
    0 shared experts its slice `experts[-0:]` hands every expert to every task gate); an empty
    `expert_dnn_hidden_units` raises (identity experts); bad task arguments raise ValueErrors
    naming the argument.
    """
    task_types, task_names = check_multitask("PLE", task_types, task_names)
    for arg, value in (("num_levels", num_levels), ("shared_expert_num", shared_expert_num),
                       ("specific_expert_num", specific_expert_num)):
        if value < 1:
            raise ValueError(f"PLE needs {arg} >= 1, got {arg}={value!r}")
    if not expert_dnn_hidden_units:
        raise ValueError(f"PLE needs a non-empty expert_dnn_hidden_units, got "
                         f"{expert_dnn_hidden_units!r}")
    seeds = itertools.count(seed)

    def expert(x, name):
        return DNN(expert_dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn,
                   seed=next(seeds), name=name)(x)

    def gate(gate_input, experts, name):
        return ExpertGate(gate_dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout,
                          dnn_use_bn, seed=next(seeds), name=name)([gate_input] + experts)

    def extraction_level(inputs, level, is_last):
        """inputs: [x_1, ..., x_T, x_shared] -> [x_1', ..., x_T'] (+ x_shared' unless last)."""
        prefix = f"level_{level}_"
        specific = [[expert(inputs[t], f"{prefix}{task_name}_expert_{j}")
                     for j in range(specific_expert_num)]
                    for t, task_name in enumerate(task_names)]
        shared = [expert(inputs[-1], f"{prefix}shared_expert_{k}")
                  for k in range(shared_expert_num)]
        outputs = [gate(inputs[t], specific[t] + shared, f"{prefix}gate_{task_name}")
                   for t, task_name in enumerate(task_names)]
        if not is_last:
            every_expert = [e for task_experts in specific for e in task_experts] + shared
            outputs.append(gate(inputs[-1], every_expert, f"{prefix}gate_shared"))
        return outputs

    features = build_features(dnn_feature_columns)
    dnn_input = embedded_dnn_input(features, dnn_feature_columns, l2_reg_embedding, seed)
    level_inputs = [dnn_input] * (len(task_names) + 1)
    for level in range(num_levels):
        level_inputs = extraction_level(level_inputs, level, level == num_levels - 1)
    logits = tower_logits(level_inputs, task_names, tower_dnn_hidden_units, dnn_activation,
                          l2_reg_dnn, dnn_dropout, dnn_use_bn, next(seeds))
    return multitask_output_model(features, logits, task_types, task_names, "PLE")
