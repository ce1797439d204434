"""ESMM (Ma et al., 2018, "Entire Space Multi-Task Model"): CVR is learned through
pCTCVR = pCTR × pCVR over every impression, so the CVR tower never sees only the clicked
(biased) sample.

    inputs ─ embeddings + dense ─┬─ CTR tower ─ Dense(1) ─ PredictionLayer ─ pCTR ──┬──── ctr
                                 └─ CVR tower ─ Dense(1) ─ PredictionLayer ─ pCVR ─ × ─ ctcvr
"""
import tf_keras as keras

from ...layers.core import PredictionLayer
from ..base import build_features, check_multitask, embedded_dnn_input, tower_logits

# name of the internal pCVR layer (not a model output)
CVR_LAYER_NAME = "cvr"


def ESMM(dnn_feature_columns, tower_dnn_hidden_units=(256, 128, 64), l2_reg_embedding=1e-5,
         l2_reg_dnn=0, seed=1024, dnn_dropout=0, dnn_activation="relu", dnn_use_bn=False,
         task_types=("binary", "binary"), task_names=("ctr", "ctcvr")):
    """ESMM. Exactly two binary tasks: outputs [pCTR, pCTCVR = pCTR × pCVR], named
    task_names[0] and task_names[1]. Train on the full impression space as in the paper: the
    first label is "clicked", the second "clicked and converted" (0 for every unclicked
    impression); pCVR is the internal layer named "cvr" (read it with a sub-model:
    ``keras.Model(model.inputs, model.get_layer("cvr").output)``). An empty
    `tower_dnn_hidden_units` makes both towers a single Dense(1) on the embeddings.

    Differences from DeepCTR 0.9.4: the pCVR layer is named "cvr" (DeepCTR leaves it unnamed),
    so "cvr" cannot be a task name; the CVR tower is seeded `seed + 1` (DeepCTR seeds both towers
    alike, so they start identical) and the logit Dense layers are seeded; a task count other
    than two and any non-binary task type raise ValueErrors naming the argument.
    """
    if not isinstance(task_names, str) and task_names is not None and len(task_names) != 2:
        raise ValueError(f"ESMM has exactly two tasks (CTR and CTCVR), got "
                         f"task_names={tuple(task_names)!r}")
    task_types, task_names = check_multitask("ESMM", task_types, task_names)
    for task_type in task_types:
        if task_type != "binary":
            raise ValueError(f"ESMM's tasks are both binary (CTR and CTCVR are probabilities), "
                             f"got {task_type!r} in task_types={task_types!r}")
    if CVR_LAYER_NAME in task_names:
        raise ValueError(f"ESMM: {CVR_LAYER_NAME!r} names the internal pCVR layer and cannot be "
                         f"a task name (the outputs are CTR and CTCVR), got "
                         f"task_names={task_names!r}")
    ctr_name, ctcvr_name = task_names
    features = build_features(dnn_feature_columns)
    dnn_input = embedded_dnn_input(features, dnn_feature_columns, l2_reg_embedding, seed)
    ctr_logit, cvr_logit = tower_logits(
        [dnn_input, dnn_input], (ctr_name, CVR_LAYER_NAME), tower_dnn_hidden_units,
        dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn, seed)
    ctr = PredictionLayer("binary", name=ctr_name)(ctr_logit)
    cvr = PredictionLayer("binary", name=CVR_LAYER_NAME)(cvr_logit)
    ctcvr = keras.layers.Multiply(name=ctcvr_name)([ctr, cvr])
    return keras.Model(inputs=list(features.values()), outputs=[ctr, ctcvr], name="ESMM")
