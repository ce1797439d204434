"""Shared checks for every model: build on mixed inputs, learn a planted signal, round-trip.

`feature_columns()` gives small sparse + varlen + dense columns; `planted_data()` makes labels
from a known logistic model over them, so a model that trains must lower its loss.
"""
import numpy as np
import tensorflow as tf
import tf_keras as keras

from ctr_models.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat, get_feature_names
from ctr_models.layers import custom_objects

VOCAB = 20
MAXLEN = 4


def feature_columns(sparse=3, dense=2, varlen=1, dim=4, group_names=None):
    """(linear_columns, dnn_columns): `sparse` SparseFeats, `varlen` VarLenSparseFeats, `dense`
    DenseFeats; group_names[i] sets the group of sparse field i."""
    cols = [SparseFeat(f"s{i}", VOCAB, embedding_dim=dim,
                       group_name=(group_names[i] if group_names else "default_group"))
            for i in range(sparse)]
    cols += [VarLenSparseFeat(SparseFeat(f"v{i}", VOCAB, embedding_dim=dim), MAXLEN, "mean")
             for i in range(varlen)]
    cols += [DenseFeat(f"d{i}", 1) for i in range(dense)]
    return cols, cols


def planted_data(columns, n=2048, seed=0, task="binary"):
    """Inputs for `columns` and labels from a planted model: per-id effects on the first sparse
    field and the first dense field."""
    rng = np.random.default_rng(seed)
    x = {}
    for fc in columns:
        if isinstance(fc, SparseFeat):
            x[fc.name] = rng.integers(0, fc.vocabulary_size, size=(n, 1)).astype("int32")
        elif isinstance(fc, VarLenSparseFeat):
            lengths = rng.integers(0, fc.maxlen + 1, size=n)
            ids = rng.integers(1, fc.vocabulary_size, size=(n, fc.maxlen))
            ids[np.arange(fc.maxlen)[None, :] >= lengths[:, None]] = 0
            x[fc.name] = ids.astype("int32")
        else:
            x[fc.name] = rng.random((n, fc.dimension)).astype("float32")
    names = [fc.name for fc in columns]
    effect = np.linspace(-3, 3, VOCAB)
    logit = np.zeros(n)
    first_sparse = next((fc.name for fc in columns if isinstance(fc, SparseFeat)), None)
    if first_sparse is not None:
        logit += effect[x[first_sparse][:, 0] % VOCAB]
    first_dense = next((fc.name for fc in columns if isinstance(fc, DenseFeat)), None)
    if first_dense is not None:
        logit += 4 * (x[first_dense][:, 0] - 0.5)
    if task == "binary":
        y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("float32")
    else:
        y = (logit + 0.1 * rng.standard_normal(n)).astype("float32")
    assert set(names) <= set(x)
    return x, y.reshape(-1, 1)


def check_model(model, columns, tmp_path, task="binary", epochs=3, check_learning=True):
    """Trains `model` a few epochs; checks the loss drops and that SavedModel and weights round
    trips reproduce predictions."""
    x, y = planted_data(columns, task=task)
    x = {k: x[k] for k in get_feature_names(columns)}
    loss = "binary_crossentropy" if task == "binary" else "mse"
    model.compile(keras.optimizers.Adam(0.01), loss)
    history = model.fit(x, y, batch_size=256, epochs=epochs, verbose=0)
    losses = history.history["loss"]
    if check_learning:
        assert losses[-1] < losses[0], f"loss did not drop: {losses}"
    pred = model.predict(x, batch_size=512, verbose=0)
    assert pred.shape == (len(y), 1)
    assert np.all(np.isfinite(pred))
    if task == "binary":
        assert np.all((pred >= 0) & (pred <= 1))

    saved = str(tmp_path / "saved_model")
    save_as_the_trainer_does(model, saved)
    reloaded = keras.models.load_model(saved, custom_objects)
    np.testing.assert_allclose(infer(reloaded, x), pred, rtol=1e-5, atol=1e-6)

    weights = str(tmp_path / "weights.h5")
    model.save_weights(weights)
    clone = keras.models.model_from_json(model.to_json(), custom_objects)
    clone.load_weights(weights)
    np.testing.assert_allclose(infer(clone, x), pred, rtol=1e-5, atol=1e-6)
    return pred


def save_as_the_trainer_does(model, path):
    """A SavedModel as components/trainer.py exports one: `save_traces=False`, so that loading
    rebuilds every layer from its config (custom_objects), the path warm starts and users take.
    Keras' default would also trace each layer's call on its own for revival without the class,
    a path the project never takes, at 3-5 times the cost of the save."""
    model.save(path, save_format="tf", save_traces=False)


def infer(model, x):
    """The model's inference output on `x`, called directly (training=False): the graph-mode
    `predict` of the same model is checked once by the caller; a copy's numbers are compared
    here without tracing another predict function for it."""
    return model(x, training=False).numpy()


def reset():
    keras.backend.clear_session()
    tf.random.set_seed(0)
