"""SharedBottom, ESMM, MMOE, PLE: DeepCTR 0.9.4 signatures, one named output per task, every
task learns planted two-task data, SavedModel and weights round trips, ESMM's
ctcvr = ctr × cvr, PLE depth, gate DNNs, mixed task types and bad arguments."""
import inspect

import numpy as np
import pytest
import tf_keras as keras

from ctr_models.feature_column import get_feature_names
from ctr_models.layers import ExpertGate, custom_objects
from ctr_models.models import ESMM, MMOE, MODEL_NAMES, PLE, SharedBottom, get_model_fn
from model_harness import VOCAB, feature_columns, planted_data, reset, save_as_the_trainer_does

_, COLUMNS = feature_columns(sparse=3, dense=2, varlen=1, dim=4)
SMALL = {
    "SharedBottom": dict(bottom_dnn_hidden_units=(16,), tower_dnn_hidden_units=(8,)),
    "ESMM": dict(tower_dnn_hidden_units=(16, 8)),
    "MMOE": dict(num_experts=3, expert_dnn_hidden_units=(8,), tower_dnn_hidden_units=(8,),
                 gate_dnn_hidden_units=(4,)),
    "PLE": dict(shared_expert_num=2, specific_expert_num=1, num_levels=2,
                expert_dnn_hidden_units=(8,), tower_dnn_hidden_units=(8,)),
}
MODELS = {"SharedBottom": SharedBottom, "ESMM": ESMM, "MMOE": MMOE, "PLE": PLE}


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def multitask_data(task_types=("binary", "binary"), n=2048, seed=0):
    """Inputs and one label per task. Task 0 is model_harness's planted click label; a binary
    task t > 0 is "clicked and converted", converting with a probability set by sparse field
    s1 (so it is correlated with task 0, and a valid ESMM CTCVR label over all impressions); a
    regression task is a linear function of s1, d1 and the click, plus noise."""
    x, click = planted_data(COLUMNS, n=n, seed=seed)
    x = {k: x[k] for k in get_feature_names(COLUMNS)}
    rng = np.random.default_rng(seed + 1)
    effect = np.linspace(-2, 2, VOCAB)[x["s1"][:, 0]].reshape(-1, 1)
    labels = [click]
    for task_type in task_types[1:]:
        if task_type == "binary":
            converted = rng.random((n, 1)) < sigmoid(effect + 1)
            labels.append((click * converted).astype("float32"))
        else:
            labels.append((effect + 2 * x["d1"] + click
                           + 0.1 * rng.standard_normal((n, 1))).astype("float32"))
    return x, labels


def predict(model, x):
    """Eager forward pass (no predict-function tracing: that is the slow part here)."""
    return [out.numpy() for out in model(x, training=False)]


def fit_and_check(model, task_types, task_names, n=2048, epochs=3, run_eagerly=False):
    """Compiles with dict losses and metrics keyed by task name (as the pipeline does), trains,
    and checks every task's loss drops; returns (x, predictions list). `run_eagerly` skips
    tracing the train step, for the cheaper option checks."""
    x, labels = multitask_data(task_types, n=n)
    assert model.output_names == list(task_names)
    model.compile(keras.optimizers.Adam(0.01),
                  loss={name: "binary_crossentropy" if t == "binary" else "mse"
                        for name, t in zip(task_names, task_types)},
                  metrics={name: ["AUC"] if t == "binary" else ["mse"]
                           for name, t in zip(task_names, task_types)},
                  run_eagerly=run_eagerly)
    history = model.fit(x, dict(zip(task_names, labels)), batch_size=256, epochs=epochs,
                        verbose=0).history
    for name in task_names:
        losses = history[f"{name}_loss"]
        assert losses[-1] < losses[0], f"{name} loss did not drop: {losses}"
    preds = predict(model, x)
    assert len(preds) == len(task_names)
    for pred, task_type in zip(preds, task_types):
        assert pred.shape == (n, 1) and np.all(np.isfinite(pred))
        if task_type == "binary":
            assert np.all((pred >= 0) & (pred <= 1))
    return x, preds


def assert_same_predictions(model, x, preds):
    got = predict(model, x)
    assert len(got) == len(preds)
    for g, p in zip(got, preds):
        np.testing.assert_allclose(g, p, rtol=1e-5, atol=1e-6)


def gates(model):
    return [layer for layer in model.layers if isinstance(layer, ExpertGate)]


# --- DeepCTR 0.9.4 signatures and the registry ------------------------------------------------

TASK_DEFAULTS = ("l2_reg_embedding=1e-05, l2_reg_dnn=0, seed=1024, dnn_dropout=0, "
                 "dnn_activation='relu', dnn_use_bn=False, task_types=('binary', 'binary'), "
                 "task_names=('ctr', 'ctcvr')")
SIGNATURES = {
    "SharedBottom": "dnn_feature_columns, bottom_dnn_hidden_units=(256, 128), "
                    "tower_dnn_hidden_units=(64,), " + TASK_DEFAULTS,
    "ESMM": "dnn_feature_columns, tower_dnn_hidden_units=(256, 128, 64), " + TASK_DEFAULTS,
    "MMOE": "dnn_feature_columns, num_experts=3, expert_dnn_hidden_units=(256, 128), "
            "tower_dnn_hidden_units=(64,), gate_dnn_hidden_units=(), " + TASK_DEFAULTS,
    "PLE": "dnn_feature_columns, shared_expert_num=1, specific_expert_num=1, num_levels=2, "
           "expert_dnn_hidden_units=(256,), tower_dnn_hidden_units=(64,), "
           "gate_dnn_hidden_units=(), " + TASK_DEFAULTS,
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_deepctr_signature_and_registry(name):
    import ctr_models.models.multitask as multitask
    assert str(inspect.signature(MODELS[name])) == f"({SIGNATURES[name]})"
    assert name in MODEL_NAMES
    assert get_model_fn(name.lower()) is MODELS[name] is getattr(multitask, name)


# --- training and round trips (once per model) ------------------------------------------------

@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_task_learns_and_round_trips(name, tmp_path):
    reset()
    task_types, task_names = ("binary", "binary"), ("ctr", "ctcvr")
    model = MODELS[name](COLUMNS, **SMALL[name])
    x, preds = fit_and_check(model, task_types, task_names)

    saved = str(tmp_path / "saved_model")
    save_as_the_trainer_does(model, saved)
    reloaded = keras.models.load_model(saved, custom_objects)
    assert reloaded.output_names == list(task_names)
    assert_same_predictions(reloaded, x, preds)

    weights = str(tmp_path / "weights.h5")
    model.save_weights(weights)
    clone = keras.models.model_from_json(model.to_json(), custom_objects)
    clone.load_weights(weights)
    assert_same_predictions(clone, x, preds)


def test_esmm_ctcvr_is_ctr_times_cvr():
    reset()
    model = ESMM(COLUMNS, tower_dnn_hidden_units=(8,), task_names=("click", "purchase"))
    assert model.output_names == ["click", "purchase"]
    x, _ = multitask_data(n=256)
    probe = keras.Model(model.inputs, [model.get_layer("click").output,
                                       model.get_layer("cvr").output,
                                       model.get_layer("purchase").output])
    ctr, cvr, ctcvr = predict(probe, x)
    np.testing.assert_array_equal(ctcvr, ctr * cvr)
    assert np.all(ctcvr <= ctr) and np.ptp(cvr) > 0
    # the CTR and CVR towers are separate networks over the shared embeddings
    assert model.get_layer("tower_click") is not model.get_layer("tower_cvr")
    assert not np.allclose(ctr, cvr)


# --- options ---------------------------------------------------------------------------------

def quick_check(model, task_types, task_names):
    """Cheaper than the round-trip test for option variants: trains (every task's loss must
    drop) and checks that a JSON-config clone with the same weights predicts the same."""
    x, preds = fit_and_check(model, task_types, task_names, n=1024, epochs=2, run_eagerly=True)
    clone = keras.models.model_from_json(model.to_json(), custom_objects)
    clone.set_weights(model.get_weights())
    assert_same_predictions(clone, x, preds)


@pytest.mark.parametrize("num_levels", [1, 3])
def test_ple_depth(num_levels):
    reset()
    names = ("ctr", "ctcvr")
    model = PLE(COLUMNS, shared_expert_num=1, specific_expert_num=2, num_levels=num_levels,
                expert_dnn_hidden_units=(8,), tower_dnn_hidden_units=(), task_names=names)
    # each level: one gate per task; below the last level also a shared gate over all experts
    assert len(gates(model)) == num_levels * len(names) + (num_levels - 1)
    experts_per_gate = {g.name: g.num_experts for g in gates(model)}
    assert experts_per_gate[f"level_{num_levels - 1}_gate_ctr"] == 2 + 1
    if num_levels > 1:
        assert experts_per_gate["level_0_gate_shared"] == 2 * 2 + 1
        assert "level_0_gate_shared" in [n.inbound_layers.name for layer in model.layers
                                         if layer.name.startswith("level_1_shared_expert")
                                         for n in layer.inbound_nodes]
    assert f"level_{num_levels - 1}_gate_shared" not in experts_per_gate
    quick_check(model, ("binary", "binary"), names)


def test_mmoe_three_tasks_mixed_types_without_gate_dnn():
    reset()
    task_types = ("binary", "regression", "binary")
    task_names = ("click", "dwell", "buy")
    model = MMOE(COLUMNS, num_experts=2, expert_dnn_hidden_units=(8,),
                 tower_dnn_hidden_units=(4,), task_types=task_types, task_names=task_names)
    assert [g.name for g in gates(model)] == ["gate_click", "gate_dwell", "gate_buy"]
    assert all(g.gate_dnn is None and g.num_experts == 2 for g in gates(model))
    quick_check(model, task_types, task_names)


def test_mmoe_gate_dnn_is_used():
    reset()
    model = MMOE(COLUMNS, num_experts=2, expert_dnn_hidden_units=(8,),
                 gate_dnn_hidden_units=(6, 4))
    for gate in gates(model):
        assert gate.gate_dnn.hidden_units == (6, 4)
        assert gate.gate_kernel.kernel.shape == (4, 2)


def test_shared_bottom_regression_binary_and_empty_towers():
    reset()
    task_types, task_names = ("regression", "binary"), ("watch_time", "like")
    model = SharedBottom(COLUMNS, bottom_dnn_hidden_units=(16,), tower_dnn_hidden_units=(),
                         task_types=task_types, task_names=task_names)
    assert "tower_like" not in [layer.name for layer in model.layers]
    assert model.get_layer("logit_like").input_shape == (None, 16)
    x, labels = multitask_data(("binary", "regression"), n=1024)
    model.compile(keras.optimizers.Adam(0.01), loss={"watch_time": "mse",
                                                     "like": "binary_crossentropy"},
                  run_eagerly=True)
    history = model.fit(x, {"watch_time": labels[1], "like": labels[0]}, batch_size=256,
                        epochs=3, verbose=0).history
    assert history["watch_time_loss"][-1] < history["watch_time_loss"][0]
    assert history["like_loss"][-1] < history["like_loss"][0]
    watch_time, _ = predict(model, x)
    assert watch_time.max() > 1   # a regression output is not squashed into [0, 1]


# --- bad arguments ----------------------------------------------------------------------------

BAD = [
    ("SharedBottom", dict(task_types=("binary",), task_names=("a", "b")),
     r"task_types and task_names.*1 task_types \('binary',\).*2 task_names"),
    ("MMOE", dict(task_types=("binary",), task_names=("ctr",)), r"at least 2 tasks.*\('ctr',\)"),
    ("PLE", dict(task_types=("binary", "multiclass")), r"task_types.*'multiclass'"),
    ("SharedBottom", dict(task_types="binary"), r"task_types must be a list.*'binary'"),
    ("MMOE", dict(task_names=("ctr", "ctr")), r"task_names must be unique.*\['ctr'\]"),
    ("MMOE", dict(num_experts=1), r"num_experts > 1.*num_experts=1"),
    ("MMOE", dict(expert_dnn_hidden_units=()), r"expert_dnn_hidden_units"),
    ("PLE", dict(num_levels=0), r"num_levels >= 1.*num_levels=0"),
    ("PLE", dict(shared_expert_num=0), r"shared_expert_num >= 1.*shared_expert_num=0"),
    ("PLE", dict(specific_expert_num=0), r"specific_expert_num >= 1.*specific_expert_num=0"),
    ("ESMM", dict(task_types=("binary",) * 3, task_names=("a", "b", "c")),
     r"exactly two tasks.*\('a', 'b', 'c'\)"),
    ("ESMM", dict(task_types=("binary", "regression")), r"both binary.*'regression'"),
    ("ESMM", dict(task_names=("ctr", "cvr")), r"'cvr' names the internal pCVR layer"),
]


@pytest.mark.parametrize("name,kwargs,message", BAD)
def test_bad_arguments_raise(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        MODELS[name](COLUMNS, **kwargs)


def test_every_feature_reaches_every_task():
    reset()
    model = SharedBottom(COLUMNS, bottom_dnn_hidden_units=(8,), tower_dnn_hidden_units=())
    assert sorted(model.input_names) == sorted(get_feature_names(COLUMNS))
    x, _ = multitask_data(n=64)
    base = predict(model, x)
    for name in get_feature_names(COLUMNS):
        changed = dict(x, **{name: (x[name] + 1) % VOCAB if x[name].dtype.kind == "i"
                             else x[name] + 1})
        for before, after in zip(base, predict(model, changed)):
            assert not np.allclose(before, after), f"{name} does not change the outputs"


@pytest.mark.parametrize("name", ["ESMM", "MMOE"])
def test_string_sparse_feat_needs_use_hash_as_deepctr_since_551(name):
    from ctr_models.feature_column import SparseFeat
    with pytest.raises(ValueError, match="'user_id'.*use_hash=True"):
        get_model_fn(name)([SparseFeat("user_id", 10, dtype="string")], **SMALL[name])
    model = get_model_fn(name)([SparseFeat("user_id", 10, use_hash=True, dtype="string")],
                               **SMALL[name])
    assert len(model.outputs) == 2
