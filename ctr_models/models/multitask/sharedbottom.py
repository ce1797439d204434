"""Shared-Bottom multi-task model (Caruana, 1997, "Multitask Learning"): one bottom network
shared by every task, one tower per task.

    inputs ─ embeddings + dense ─ bottom DNN ─┬─ tower_1 ─ Dense(1) ─ PredictionLayer ─ task_1
                                              ├─ ...
                                              └─ tower_T ─ Dense(1) ─ PredictionLayer ─ task_T
"""
from ...layers.core import DNN
from ..base import (build_features, check_multitask, embedded_dnn_input, multitask_output_model,
                    tower_logits)


def SharedBottom(dnn_feature_columns, bottom_dnn_hidden_units=(256, 128),
                 tower_dnn_hidden_units=(64,), l2_reg_embedding=1e-5, l2_reg_dnn=0, seed=1024,
                 dnn_dropout=0, dnn_activation="relu", dnn_use_bn=False,
                 task_types=("binary", "binary"), task_names=("ctr", "ctcvr")):
    """Shared-Bottom. `task_types` ('binary' or 'regression') and `task_names` give one entry
    per task (at least 2; names unique); the outputs are a list in task order, each named after
    its task. An empty `bottom_dnn_hidden_units` feeds the embeddings to the towers directly; an
    empty `tower_dnn_hidden_units` puts each task's Dense(1) right on the bottom.

    Differences from DeepCTR 0.9.4: tower i is seeded `seed + i` (DeepCTR seeds every tower
    alike, so they start identical) and its logit Dense is seeded too; bad task arguments
    (including repeated task names) raise a ValueError naming the argument.
    """
    task_types, task_names = check_multitask("SharedBottom", task_types, task_names)
    features = build_features(dnn_feature_columns)
    dnn_input = embedded_dnn_input(features, dnn_feature_columns, l2_reg_embedding, seed)
    bottom = (DNN(bottom_dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn,
                  seed=seed, name="shared_bottom")(dnn_input)
              if bottom_dnn_hidden_units else dnn_input)
    logits = tower_logits([bottom] * len(task_names), task_names, tower_dnn_hidden_units,
                          dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn, seed)
    return multitask_output_model(features, logits, task_types, task_names, "SharedBottom")
