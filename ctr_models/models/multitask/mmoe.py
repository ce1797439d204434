"""MMoE (Ma et al., 2018, "Modeling Task Relationships in Multi-task Learning with Multi-gate
Mixture-of-Experts"): shared experts, one softmax gate per task mixing them, one tower per task.

    inputs ─ embeddings + dense = x ─┬─ expert_1 ... expert_E ─┐
                                     └─────────────────────────┴─ ExpertGate(task t)(x, experts)
                                                                  ─ tower_t ─ Dense(1)
                                                                  ─ PredictionLayer ─ task_t
"""
from ...layers.core import DNN
from ...layers.multitask import ExpertGate
from ..base import (build_features, check_multitask, embedded_dnn_input, multitask_output_model,
                    tower_logits)


def MMOE(dnn_feature_columns, num_experts=3, expert_dnn_hidden_units=(256, 128),
         tower_dnn_hidden_units=(64,), gate_dnn_hidden_units=(), l2_reg_embedding=1e-5,
         l2_reg_dnn=0, seed=1024, dnn_dropout=0, dnn_activation="relu", dnn_use_bn=False,
         task_types=("binary", "binary"), task_names=("ctr", "ctcvr")):
    """MMoE. `num_experts` > 1 expert DNNs (`expert_dnn_hidden_units`, non-empty) over the shared
    input; task t's gate is softmax(DNN_gate(x) @ W_t) (no gate DNN when
    `gate_dnn_hidden_units` is empty). `task_types`/`task_names`: one entry per task (at least
    2); the outputs are a list in task order, each named after its task.

    Differences from DeepCTR 0.9.4: expert i, gate t and tower t are seeded `seed + i` /
    `seed + t` (DeepCTR seeds every expert alike, so all experts start identical and differ
    only through their gates' gradients); each gate is one ExpertGate layer (DeepCTR: Lambda
    layers, which do not survive JSON round trips across Python versions); an empty
    `expert_dnn_hidden_units` raises (DeepCTR would make every expert the identity, so the
    mixture is the input itself); bad task arguments raise ValueErrors naming the argument.
    """
    task_types, task_names = check_multitask("MMOE", task_types, task_names)
    if num_experts <= 1:
        raise ValueError(f"MMOE needs num_experts > 1 (a mixture of experts), got "
                         f"num_experts={num_experts!r}")
    if not expert_dnn_hidden_units:
        raise ValueError(f"MMOE needs a non-empty expert_dnn_hidden_units, got "
                         f"{expert_dnn_hidden_units!r}")
    features = build_features(dnn_feature_columns)
    dnn_input = embedded_dnn_input(features, dnn_feature_columns, l2_reg_embedding, seed)
    experts = [DNN(expert_dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn,
                   seed=seed + i, name=f"expert_{i}")(dnn_input) for i in range(num_experts)]
    task_inputs = [ExpertGate(gate_dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout,
                              dnn_use_bn, seed=seed + t, name=f"gate_{task_name}")(
                       [dnn_input] + experts)
                   for t, task_name in enumerate(task_names)]
    logits = tower_logits(task_inputs, task_names, tower_dnn_hidden_units, dnn_activation,
                          l2_reg_dnn, dnn_dropout, dnn_use_bn, seed)
    return multitask_output_model(features, logits, task_types, task_names, "MMOE")
