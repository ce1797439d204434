"""DIEN: DeepCTR 0.9.4 signature, every gru_type with and without negative sampling learns a label
that only the behaviour history explains, round trips, and build-time errors.

Cost: one shared tiny dataset; every configuration trains a few epochs and gets a weights round
trip (model_from_json + load_weights); the full SavedModel round trip (slow on this 2-core
machine, 1.5-2 minutes each under load) runs for two representative configurations only: AUGRU
with negative sampling and a length input (attentional cell, auxiliary loss), and GRU with the
padding mask (the mask carried from the GRU into attention pooling). Whole file: ~3.5 CPU
minutes, ~7-10 minutes wall on the shared machine.
"""
import inspect

import numpy as np
import pytest
import tf_keras as keras

from ctr_models.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat, get_feature_names
from ctr_models.layers import AuxiliaryLoss, DynamicGRU, custom_objects
from ctr_models.models import DIEN, get_model_fn
from model_harness import infer, reset, save_as_the_trainer_does

ITEMS, CATES, TAGS, USERS, MAXLEN, N = 12, 4, 6, 5, 6, 1024
# no embedding regulariser, so model.losses holds the auxiliary loss only
SMALL = dict(dnn_hidden_units=(16,), att_hidden_units=(16,), l2_reg_embedding=0)


def columns(length_name=None, negatives=True):
    """item/cate candidates with hist_ (and neg_hist_) sequences sharing their tables, plus a
    user id, a dense value and a pooled tag list for the DNN."""
    cols = [SparseFeat("user", USERS, 3), SparseFeat("item", ITEMS, 4),
            SparseFeat("cate", CATES, 4), DenseFeat("score", 1),
            VarLenSparseFeat(SparseFeat("tags", TAGS, 3), 3, "mean")]
    prefixes = ["hist_"] + (["neg_hist_"] if negatives else [])
    for prefix in prefixes:
        for name, vocab in (("item", ITEMS), ("cate", CATES)):
            cols.append(VarLenSparseFeat(SparseFeat(prefix + name, vocab, 4, embedding_name=name),
                                         MAXLEN, length_name=length_name))
    return cols


def make_data(n=N, seed=0):
    """The label follows the share of "liked" items (even ids) among the valid behaviours
    (P(y=1) = sigmoid(6 (share - 1/2))); the candidate, user, tags and score are noise."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, MAXLEN + 1, size=n)
    valid = np.arange(MAXLEN)[None, :] < lengths[:, None]
    hist = np.where(valid, rng.integers(1, ITEMS, size=(n, MAXLEN)), 0)
    neg = np.where(valid, 1 + (hist - 1 + rng.integers(1, ITEMS - 1, size=(n, MAXLEN)))
                   % (ITEMS - 1), 0)  # another item than the clicked one
    share = ((hist % 2 == 0) & valid).sum(1) / lengths
    y = rng.random(n) < 1 / (1 + np.exp(-6 * (share - 0.5)))
    candidate = rng.integers(1, ITEMS, size=n)
    cate = lambda items: np.where(items > 0, 1 + items % (CATES - 1), 0)
    x = {"user": rng.integers(0, USERS, (n, 1)), "item": candidate[:, None],
         "cate": cate(candidate)[:, None], "score": rng.random((n, 1)),
         "tags": np.where(rng.random((n, 3)) < 0.6, rng.integers(1, TAGS, (n, 3)), 0),
         "hist_item": hist, "hist_cate": cate(hist), "neg_hist_item": neg,
         "neg_hist_cate": cate(neg), "seq_length": lengths[:, None]}
    x = {k: v.astype("float32" if k == "score" else "int32") for k, v in x.items()}
    return x, y.astype("float32")[:, None]


@pytest.fixture(scope="module")
def data():
    return make_data()


def inputs_for(cols, x):
    return {name: x[name] for name in get_feature_names(cols)}


def test_signature_matches_deepctr():
    assert str(inspect.signature(DIEN)) == (
        "(dnn_feature_columns, history_feature_list, gru_type='GRU', use_negsampling=False, "
        "alpha=1.0, use_bn=False, dnn_hidden_units=(256, 128, 64), dnn_activation='relu', "
        "att_hidden_units=(64, 16), att_activation='dice', att_weight_normalization=True, "
        "l2_reg_dnn=0, l2_reg_embedding=1e-06, dnn_dropout=0, seed=1024, task='binary')")
    assert get_model_fn("dien") is DIEN
    from ctr_models.models.sequence import DIEN as from_sequence_package
    assert from_sequence_package is DIEN
    from ctr_models.layers.sequence import DynamicGRU as exported
    assert exported is DynamicGRU


CONFIGS = [  # (gru_type, use_negsampling, length_name, full SavedModel round trip)
    ("GRU", False, None, True), ("GRU", True, "seq_length", False),
    ("AIGRU", False, "seq_length", False), ("AIGRU", True, None, False),
    ("AGRU", False, None, False), ("AGRU", True, None, False),
    ("AUGRU", False, None, False), ("AUGRU", True, "seq_length", True),
]


@pytest.mark.parametrize("gru_type,use_negsampling,length_name,saved_model", CONFIGS)
def test_dien_learns_history_and_round_trips(data, tmp_path, gru_type, use_negsampling,
                                             length_name, saved_model):
    reset()
    x, y = data
    cols = columns(length_name, negatives=use_negsampling)
    model = DIEN(cols, ["item", "cate"], gru_type=gru_type, use_negsampling=use_negsampling,
                 alpha=0.5, **SMALL)
    x = inputs_for(cols, x)
    assert sorted(i.name for i in model.inputs) == sorted(x)
    assert len(model.losses) == (1 if use_negsampling else 0)
    model.compile(keras.optimizers.Adam(0.02), "binary_crossentropy")
    losses = model.fit(x, y, batch_size=64, epochs=4, verbose=0).history["loss"]
    assert losses[-1] < losses[0], losses
    pred = model.predict(x, batch_size=N, verbose=0)
    assert pred.shape == (N, 1) and np.all(np.isfinite(pred))
    # the label is only in the history: predictions must separate the classes
    assert pred[y == 1].mean() - pred[y == 0].mean() > 0.15, (pred[y == 1].mean(),
                                                             pred[y == 0].mean())

    weights = str(tmp_path / "weights.h5")
    model.save_weights(weights)
    clone = keras.models.model_from_json(model.to_json(), custom_objects)
    clone.load_weights(weights)
    np.testing.assert_allclose(infer(clone, x), pred, rtol=1e-5, atol=1e-6)
    assert len(clone.losses) == len(model.losses)
    if saved_model:
        path = str(tmp_path / "saved_model")
        save_as_the_trainer_does(model, path)
        reloaded = keras.models.load_model(path, custom_objects)
        np.testing.assert_allclose(infer(reloaded, x), pred, rtol=1e-5, atol=1e-6)


def test_auxiliary_loss_is_alpha_times_the_layer_output(data):
    reset()
    x, y = data
    cols = columns()
    model = DIEN(cols, ["item", "cate"], gru_type="AGRU", use_negsampling=True, alpha=0.25,
                 **SMALL)
    x = inputs_for(cols, x)
    aux_layer = model.get_layer("auxiliary_loss")
    assert isinstance(aux_layer, AuxiliaryLoss)
    aux_value = keras.Model(model.inputs, aux_layer.output)(x).numpy()
    assert aux_value > 0
    model(x)  # an eager call leaves its add_loss values in model.losses
    np.testing.assert_allclose(model.losses[0].numpy(), 0.25 * aux_value, rtol=1e-5)


def test_padding_mask_and_length_input_agree(data):
    """Right-padded data: lengths from seq_length or from the padding mask give one model."""
    x, _ = data
    preds = []
    for length_name in (None, "seq_length"):
        reset()
        cols = columns(length_name)
        model = DIEN(cols, ["item", "cate"], gru_type="AUGRU", use_negsampling=True, **SMALL)
        preds.append(model.predict(inputs_for(cols, x), batch_size=N, verbose=0))
    np.testing.assert_allclose(preds[0], preds[1], rtol=1e-5, atol=1e-6)


def test_build_errors():
    with pytest.raises(ValueError, match=r"neg_hist_item.*neg_hist_cate|use_negsampling"):
        DIEN(columns(negatives=False), ["item", "cate"], use_negsampling=True, **SMALL)
    with pytest.raises(ValueError, match="'neg_hist_cate'"):
        DIEN([fc for fc in columns() if fc.name != "neg_hist_cate"], ["item", "cate"],
             use_negsampling=True, **SMALL)
    with pytest.raises(ValueError, match="hist_cate"):
        DIEN([fc for fc in columns(negatives=False) if fc.name != "hist_cate"], ["item", "cate"],
             **SMALL)
    with pytest.raises(ValueError, match="gru_type"):
        DIEN(columns(), ["item"], gru_type="LSTM")
    short_neg = [fc._replace(maxlen=3) if fc.name == "neg_hist_item" else fc for fc in columns()]
    with pytest.raises(ValueError, match="maxlen"):
        DIEN(short_neg, ["item", "cate"], use_negsampling=True, **SMALL)
    with pytest.raises(ValueError, match="task"):
        DIEN(columns(), ["item"], task="multiclass")
