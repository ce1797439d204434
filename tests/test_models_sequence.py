"""DIN, BST, DSIN: DeepCTR 0.9.4 signatures, learning a planted "candidate seen in the history"
signal, SavedModel + weights round trips, length inputs vs padding masks, and build errors."""
import inspect

import numpy as np
import pytest
import tf_keras as keras

from ctr_models.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat, get_feature_names
from ctr_models.layers import custom_objects
from ctr_models.models import BST, DIN, DSIN, MODEL_NAMES, get_model_fn
from ctr_models.models import sequence
from model_harness import infer, reset, save_as_the_trainer_does

ITEMS, CATES, MAXLEN = 40, 8, 5
SESSIONS, SESSION_LEN = 3, 3
SMALL = dict(dnn_hidden_units=(16,), seed=7)


def cate_of(item):
    return np.where(item > 0, 1 + item % (CATES - 1), 0)


def base_columns(dim=4, init_std=None):
    """`init_std` gives item/cate tables RandomNormal(init_std) instead of the default 1e-4:
    the Transformer adds a sqrt(d)-scaled position table to the embeddings, which then need
    many epochs to grow out of it (as in DeepCTR's BST)."""
    init = (lambda seed: None) if init_std is None else (
        lambda seed: keras.initializers.RandomNormal(stddev=init_std, seed=seed))
    return [SparseFeat("user", 10, dim),
            SparseFeat("item", ITEMS, dim, embeddings_initializer=init(1)),
            SparseFeat("cate", CATES, dim, embeddings_initializer=init(2)), DenseFeat("price", 1),
            VarLenSparseFeat(SparseFeat("tags", 6, 2), 3, combiner="mean")]


def history_columns(length_name=None, dim=4, init_std=None):
    return base_columns(dim, init_std) + [
        VarLenSparseFeat(SparseFeat("hist_item", ITEMS, dim, embedding_name="item"), MAXLEN,
                         length_name=length_name),
        VarLenSparseFeat(SparseFeat("hist_cate", CATES, dim, embedding_name="cate"), MAXLEN,
                         length_name=length_name)]


def session_columns(with_count=False, length_names=False, dim=4, init_std=None):
    columns = base_columns(dim, init_std)
    for i in range(SESSIONS):
        for name in ("item", "cate"):
            columns.append(VarLenSparseFeat(
                SparseFeat(f"sess_{i}_{name}", 1, 1), SESSION_LEN,  # vocab/dim come from `name`
                length_name=f"sess_{i}_length" if length_names else None))
    if with_count:
        columns.append(DenseFeat("sess_length", 1, dtype="int32"))
    return columns


def _fill(rng, n, slots, lengths, positive):
    """Item ids in the first `lengths` slots; positives get the candidate planted in them."""
    items = rng.integers(1, ITEMS, size=(n, slots))
    items[np.arange(slots)[None, :] >= lengths[:, None]] = 0
    candidate = rng.integers(1, ITEMS, size=n)
    for b in range(n):
        valid = items[b, :lengths[b]]
        if positive[b]:
            valid[rng.integers(0, lengths[b])] = candidate[b]
        else:
            while candidate[b] in valid:
                candidate[b] = rng.integers(1, ITEMS)
    return items, candidate


def common_inputs(rng, n, candidate):
    tags = rng.integers(1, 6, size=(n, 3))
    tags[:, 2] = 0
    return {"user": rng.integers(0, 10, (n, 1)), "item": candidate[:, None],
            "cate": cate_of(candidate)[:, None], "price": rng.random((n, 1)).astype("float32"),
            "tags": tags}


def history_data(n=2048, seed=0):
    """Label 1 iff the candidate item is among the (1..MAXLEN) valid history items."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, MAXLEN + 1, size=n)
    y = rng.random(n) < 0.5
    items, candidate = _fill(rng, n, MAXLEN, lengths, y)
    x = common_inputs(rng, n, candidate)
    x.update(hist_item=items, hist_cate=cate_of(items), seq_length=lengths[:, None])
    return x, y.astype("float32")[:, None]


def session_data(n=2048, seed=0):
    """Label 1 iff the candidate item is in one of the 1..SESSIONS sessions (filled from 0)."""
    rng = np.random.default_rng(seed)
    count = rng.integers(1, SESSIONS + 1, size=n)
    per_session = np.where(np.arange(SESSIONS)[None] < count[:, None],
                           rng.integers(1, SESSION_LEN + 1, size=(n, SESSIONS)), 0)
    y = rng.random(n) < 0.5
    flat_lengths = per_session.reshape(-1)
    flat_items, _ = _fill(rng, n * SESSIONS, SESSION_LEN, flat_lengths,
                          np.zeros(n * SESSIONS, bool))
    items = flat_items.reshape(n, SESSIONS, SESSION_LEN)
    candidate = rng.integers(1, ITEMS, size=n)
    for b in range(n):
        seen = items[b][items[b] > 0]
        if y[b]:
            s = rng.integers(0, count[b])
            items[b, s, rng.integers(0, per_session[b, s])] = candidate[b]
        else:
            while candidate[b] in seen:
                candidate[b] = rng.integers(1, ITEMS)
    x = common_inputs(rng, n, candidate)
    for i in range(SESSIONS):
        x[f"sess_{i}_item"] = items[:, i]
        x[f"sess_{i}_cate"] = cate_of(items[:, i])
        x[f"sess_{i}_length"] = per_session[:, i:i + 1]
    x["sess_length"] = count[:, None]
    return x, y.astype("float32")[:, None]


def select(x, columns):
    return {k: np.asarray(x[k]) for k in get_feature_names(columns)}


def train(model, x, y, epochs=6):
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    return model.fit(x, y, batch_size=64, epochs=epochs, verbose=0).history["loss"]


def assert_learned(model, x, y, losses):
    """The planted signal is learned: loss falls well below chance and positives score higher."""
    pred = model.predict(x, batch_size=1024, verbose=0)[:, 0]
    assert np.all(np.isfinite(pred)) and np.all((pred >= 0) & (pred <= 1))
    assert losses[-1] < 0.8 * losses[0], losses
    positive = y[:, 0] == 1
    assert pred[positive].mean() - pred[~positive].mean() > 0.3, (
        pred[positive].mean(), pred[~positive].mean())
    return pred


def assert_round_trips(model, x, pred, tmp_path):
    saved = str(tmp_path / "saved_model")
    save_as_the_trainer_does(model, saved)
    reloaded = keras.models.load_model(saved, custom_objects)
    np.testing.assert_allclose(infer(reloaded, x)[:, 0], pred, rtol=1e-5, atol=1e-6)
    weights = str(tmp_path / "weights.h5")
    model.save_weights(weights)
    clone = keras.models.model_from_json(model.to_json(), custom_objects)
    clone.load_weights(weights)
    np.testing.assert_allclose(infer(clone, x)[:, 0], pred, rtol=1e-5, atol=1e-6)


# --- registry and DeepCTR 0.9.4 signatures ---------------------------------------------------

SIGNATURES = {
    "DIN": "dnn_feature_columns, history_feature_list, dnn_use_bn=False, "
           "dnn_hidden_units=(256, 128, 64), dnn_activation='relu', att_hidden_size=(80, 40), "
           "att_activation='dice', att_weight_normalization=False, l2_reg_dnn=0, "
           "l2_reg_embedding=1e-06, dnn_dropout=0, seed=1024, task='binary'",
    "BST": "dnn_feature_columns, history_feature_list, transformer_num=1, att_head_num=8, "
           "use_bn=False, dnn_hidden_units=(256, 128, 64), dnn_activation='relu', l2_reg_dnn=0, "
           "l2_reg_embedding=1e-06, dnn_dropout=0.0, seed=1024, task='binary'",
    "DSIN": "dnn_feature_columns, sess_feature_list, sess_max_count=5, bias_encoding=False, "
            "att_embedding_size=1, att_head_num=8, dnn_hidden_units=(256, 128, 64), "
            "dnn_activation='relu', dnn_dropout=0, dnn_use_bn=False, l2_reg_dnn=0, "
            "l2_reg_embedding=1e-06, seed=1024, task='binary'",
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_signature_and_registry(name):
    fn = get_model_fn(name.lower())
    assert str(inspect.signature(fn)) == f"({SIGNATURES[name]})"
    assert name in MODEL_NAMES
    assert fn is getattr(sequence, name) is {"DIN": DIN, "BST": BST, "DSIN": DSIN}[name]


# --- learning and round trips ------------------------------------------------------------------

@pytest.mark.parametrize("length_name", [None, "seq_length"])
def test_din_learns_history_match(length_name, tmp_path):
    reset()
    columns = history_columns(length_name)
    x, y = history_data()
    x = select(x, columns)
    assert ("seq_length" in x) == (length_name is not None)
    model = DIN(columns, ["item", "cate"], att_hidden_size=(8,), att_weight_normalization=True,
                **SMALL)
    pred = assert_learned(model, x, y, train(model, x, y))
    if length_name is None:
        assert_round_trips(model, x, pred, tmp_path)


@pytest.mark.parametrize("length_name", [None, "seq_length"])
def test_bst_learns_history_match(length_name, tmp_path):
    reset()
    columns = history_columns(length_name, init_std=0.5)
    x, y = history_data()
    x = select(x, columns)
    model = BST(columns, ["item", "cate"], att_head_num=2, **SMALL)
    pred = assert_learned(model, x, y, train(model, x, y, epochs=8))
    if length_name is not None:
        assert_round_trips(model, x, pred, tmp_path)


@pytest.mark.parametrize("bias_encoding,with_count", [(False, False), (True, True)])
def test_dsin_learns_session_match(bias_encoding, with_count, tmp_path):
    reset()
    columns = session_columns(with_count, init_std=0.5)
    x, y = session_data()
    x = select(x, columns)
    assert ("sess_length" in x) == with_count
    model = DSIN(columns, ["item", "cate"], sess_max_count=SESSIONS,
                 bias_encoding=bias_encoding, att_embedding_size=2, att_head_num=4, **SMALL)
    names = [layer.name for layer in model.layers]
    assert ("bias_encoding" in names) == bias_encoding
    pred = assert_learned(model, x, y, train(model, x, y, epochs=8))
    if bias_encoding:
        assert_round_trips(model, x, pred, tmp_path)


# --- lengths, masks and inputs -----------------------------------------------------------------

def _predict(model, x):
    return model.predict(x, batch_size=1024, verbose=0)[:, 0]


def test_padding_and_lengths_agree_and_padding_is_ignored():
    """With trailing padding, the length input and the padding mask give the same model; ids
    beyond the declared length are not read."""
    x, _ = history_data(n=256, seed=3)
    for build in (lambda c: DIN(c, ["item", "cate"], att_hidden_size=(8,), **SMALL),
                  lambda c: BST(c, ["item", "cate"], att_head_num=2, **SMALL)):
        reset()
        by_mask = build(history_columns(None))
        reset()
        by_length = build(history_columns("seq_length"))
        by_length.set_weights(by_mask.get_weights())
        expected = _predict(by_mask, select(x, history_columns(None)))
        with_length = select(x, history_columns("seq_length"))
        np.testing.assert_allclose(_predict(by_length, with_length), expected, rtol=1e-5,
                                   atol=1e-6)
        beyond = np.arange(MAXLEN)[None] >= with_length["seq_length"]
        noisy = dict(with_length, hist_item=np.where(beyond, 7, with_length["hist_item"]),
                     hist_cate=np.where(beyond, 3, with_length["hist_cate"]))
        np.testing.assert_allclose(_predict(by_length, noisy), expected, rtol=1e-5, atol=1e-6)


def test_dsin_session_count_and_lengths_agree_with_masks():
    """Session count from the masks == declared sess_length; session steps from the padding
    mask == declared per-session length inputs (ids beyond them are not read)."""
    x, _ = session_data(n=256, seed=4)

    def build(columns):
        reset()
        return DSIN(columns, ["item", "cate"], SESSIONS, att_embedding_size=2, att_head_num=4,
                    **SMALL)

    by_mask = build(session_columns(False))
    expected = _predict(by_mask, select(x, session_columns(False)))
    by_lengths = build(session_columns(False, length_names=True))
    by_lengths.set_weights(by_mask.get_weights())
    with_lengths = select(x, session_columns(False, length_names=True))
    for i in range(SESSIONS):
        beyond = np.arange(SESSION_LEN)[None] >= with_lengths[f"sess_{i}_length"]
        with_lengths[f"sess_{i}_item"] = np.where(beyond, 5, with_lengths[f"sess_{i}_item"])
    np.testing.assert_allclose(_predict(by_lengths, with_lengths), expected, rtol=1e-5,
                               atol=1e-6)
    by_count = build(session_columns(True))
    by_count.set_weights(by_mask.get_weights())
    with_count = select(x, session_columns(True))
    np.testing.assert_allclose(_predict(by_count, with_count), expected, rtol=1e-5, atol=1e-6)
    # sess_length is read: a smaller count changes the prediction of rows with several sessions
    fewer = dict(with_count, sess_length=np.ones_like(with_count["sess_length"]))
    changed = ~np.isclose(_predict(by_count, fewer), expected, rtol=1e-4, atol=1e-5)
    several = with_count["sess_length"][:, 0] > 1
    assert changed[several].mean() > 0.9 and not changed[~several].any()
    # sess_length is a length, not a DNN value: the DNN input has the same width
    dnn = lambda m: next(layer for layer in m.layers if type(layer).__name__ == "DNN")
    assert dnn(by_count).input_shape == dnn(by_mask).input_shape


def test_every_input_is_a_declared_feature_and_other_varlen_is_used():
    for model, columns in (
            (DIN(history_columns("seq_length"), ["item"], **SMALL), history_columns("seq_length")),
            (BST(history_columns(), ["item", "cate"], att_head_num=4, **SMALL), history_columns()),
            (DSIN(session_columns(True), ["item", "cate"], SESSIONS, **SMALL),
             session_columns(True))):
        assert [t.name.split(":")[0] for t in model.inputs] == get_feature_names(columns)
        # the "tags" sequence (not a behaviour sequence) reaches the output
        x, _ = (session_data if "sess_length" in get_feature_names(columns) else history_data)(
            n=64, seed=1)
        x = select(x, columns)
        other = dict(x, tags=np.roll(x["tags"], 1, axis=0))
        assert not np.allclose(_predict(model, x), _predict(model, other), atol=1e-7)


def test_din_with_a_single_history_feature_and_regression():
    reset()
    columns = history_columns()
    model = DIN(columns, ["item"], dnn_hidden_units=(), task="regression")
    x, y = history_data(n=256)
    pred = model.predict(select(x, columns), verbose=0)
    assert pred.shape == (256, 1) and np.all(np.isfinite(pred))


# --- build errors --------------------------------------------------------------------------------

def test_errors_name_the_feature():
    cols = history_columns()
    without_hist = [fc for fc in cols if fc.name != "hist_cate"]
    for model in (DIN, BST):
        with pytest.raises(ValueError, match="VarLenSparseFeat 'hist_cate'"):
            model(without_hist, ["item", "cate"])
        with pytest.raises(ValueError, match="SparseFeat 'shop'"):
            model(cols, ["item", "shop"])
    with pytest.raises(ValueError, match="non-empty list"):
        DIN(cols, "item")
    wrong_dim = [fc for fc in cols if fc.name != "hist_cate"] + [
        VarLenSparseFeat(SparseFeat("hist_cate", CATES, 3), MAXLEN)]
    with pytest.raises(ValueError, match="'hist_cate' has embedding_dim 3"):
        DIN(wrong_dim, ["item", "cate"])
    wrong_len = [fc for fc in cols if fc.name != "hist_cate"] + [
        VarLenSparseFeat(SparseFeat("hist_cate", CATES, 4, embedding_name="cate"), MAXLEN + 1)]
    with pytest.raises(ValueError, match="one maxlen"):
        DIN(wrong_len, ["item", "cate"])
    mixed_length = [fc for fc in cols if fc.name != "hist_cate"] + [
        VarLenSparseFeat(SparseFeat("hist_cate", CATES, 4, embedding_name="cate"), MAXLEN,
                         length_name="seq_length")]
    with pytest.raises(ValueError, match="same length_name"):
        BST(mixed_length, ["item", "cate"], att_head_num=2)
    with pytest.raises(ValueError, match=r"sum to 8, which must be divisible by att_head_num=3"):
        BST(cols, ["item", "cate"], att_head_num=3)
    with pytest.raises(ValueError, match="task"):
        DIN(cols, ["item"], task="multiclass")


def test_dsin_errors_name_the_feature():
    cols = session_columns()
    with pytest.raises(ValueError,
                       match=r"sum to 8, but att_embedding_size \* att_head_num = 2 \* 2"):
        DSIN(cols, ["item", "cate"], SESSIONS, att_embedding_size=2, att_head_num=2)
    with pytest.raises(ValueError, match="VarLenSparseFeat 'sess_3_item'"):
        DSIN(cols, ["item", "cate"], sess_max_count=SESSIONS + 1, att_embedding_size=2,
             att_head_num=4)
    with pytest.raises(ValueError, match="dtype='int32'"):
        DSIN(cols + [DenseFeat("sess_length", 1)], ["item", "cate"], SESSIONS,
             att_embedding_size=2, att_head_num=4)
    other_len = [fc for fc in cols if fc.name != "sess_2_item"] + [
        VarLenSparseFeat(SparseFeat("sess_2_item", 1, 1), SESSION_LEN + 1)]
    with pytest.raises(ValueError, match="one maxlen"):
        DSIN(other_len, ["item", "cate"], SESSIONS, att_embedding_size=2, att_head_num=4)
